// airlock run's pure parts: argument parsing, the exit-code table, the container spec, the policy
// choice, the audit excerpt.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "cmd/airlock/run/audit_excerpt.h"
#include "cmd/airlock/run/exit_codes.h"
#include "cmd/airlock/run/oci_spec.h"
#include "cmd/airlock/run/run_args.h"
#include "cmd/airlock/run/run_policy.h"

namespace {

using namespace airlock;
using namespace airlock::run;

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string Problem(std::vector<std::string> args) {
  RunArgs parsed;
  std::string problem;
  if (ParseRunArgs(args, &parsed, &problem)) return "";
  return problem;
}

}  // namespace

TEST_CASE("run args: every flag, = forms, the agent after --", "[run][args]") {
  RunArgs a;
  std::string problem;
  REQUIRE(ParseRunArgs({"--repo", "/r", "--image=busybox", "--setup", "./setup.sh", "--check", "make test", "--secret", "NPM_TOKEN",
                        "--secret=GH_TOKEN", "--policy", "p.yaml", "--address", "/s.sock", "-n", "ns1", "--snapshotter", "native",
                        "--work-dir", "/w", "--id", "t1", "--allow-dirty", "--json", "--", "agent", "--flag", "--", "x"},
                       &a, &problem));
  CHECK(a.repo == "/r");
  CHECK(a.image == "busybox");
  CHECK(a.setup == "./setup.sh");
  CHECK(a.check == "make test");
  CHECK(a.secrets == std::vector<std::string>{"NPM_TOKEN", "GH_TOKEN"});
  CHECK(a.policy == "p.yaml");
  CHECK(a.address == "/s.sock");
  CHECK(a.name_space == "ns1");
  CHECK(a.snapshotter == "native");
  CHECK(a.work_dir == "/w");
  CHECK(a.id == "t1");
  CHECK(a.allow_dirty);
  CHECK(a.json);
  // Everything after the first -- belongs to the agent, flags and further -- included.
  CHECK(a.agent == std::vector<std::string>{"agent", "--flag", "--", "x"});
}

TEST_CASE("run args: the setup cache's flags", "[run][args]") {
  RunArgs a;
  std::string problem;
  REQUIRE(ParseRunArgs({"--repo", "/r", "--image", "i", "--no-cache", "--maintenance", "npm ci --offline", "--", "a"}, &a, &problem));
  CHECK(a.no_cache);
  CHECK(a.maintenance == "npm ci --offline");
  RunArgs b;
  REQUIRE(ParseRunArgs({"--repo", "/r", "--image", "i", "--", "a"}, &b, &problem));
  CHECK_FALSE(b.no_cache);
  CHECK(b.maintenance.empty());
  CHECK(Has(Problem({"--repo", "r", "--image", "i", "--no-cache=1", "--", "a"}), "--no-cache takes no value"));
  CHECK(Has(Problem({"--repo", "r", "--image", "i", "--maintenance=", "--", "a"}), "non-empty"));
  CHECK(Has(Problem({"--repo", "r", "--image", "i", "--maintenance=x", "--maintenance=y", "--", "a"}), "given twice"));
  CHECK(Has(RunUsage(), "--no-cache"));
}

TEST_CASE("run args: usage errors say what is wrong", "[run][args]") {
  CHECK(Has(Problem({"--image", "i", "--", "a"}), "--repo PATH is required"));
  CHECK(Has(Problem({"--repo", "r", "--", "a"}), "--image REF is required"));
  CHECK(Has(Problem({"--repo", "r", "--image", "i"}), "agent command is missing"));
  CHECK(Has(Problem({"--repo", "r", "--image", "i", "--"}), "agent command is missing"));
  CHECK(Has(Problem({"--repo", "r", "--image", "i", "--bogus", "--", "a"}), "unknown flag --bogus"));
  CHECK(Has(Problem({"--repo", "r", "--image", "i", "agent"}), "unexpected argument \"agent\""));
  CHECK(Has(Problem({"--repo", "r", "--image", "i", "--setup"}), "--setup needs a value"));
  CHECK(Has(Problem({"--repo", "r", "--image", "i", "--secret", "9BAD", "--", "a"}), "not a variable name"));
  CHECK(Has(Problem({"--repo", "r", "--image", "i", "--secret", "A-B", "--", "a"}), "not a variable name"));
  CHECK(Has(Problem({"--repo", "r", "--image", "i", "--secret", "A", "--secret", "A", "--", "a"}), "given twice"));
  CHECK(Has(Problem({"--repo", "r", "--repo", "s", "--image", "i", "--", "a"}), "--repo given twice"));
  CHECK(Has(Problem({"--repo=", "--image", "i", "--", "a"}), "non-empty"));
  CHECK(Has(Problem({"--json=yes", "--repo", "r", "--image", "i", "--", "a"}), "--json takes no value"));
  RunArgs help;
  std::string problem;
  REQUIRE(ParseRunArgs({"--help"}, &help, &problem));
  CHECK(help.help);
  CHECK(Has(RunUsage(), "change-set limits (defaults from the host config's run: section)"));
  CHECK(Has(RunUsage(), "--max-files N          changed paths (built-in default 10000)\n"));
  CHECK(Has(RunUsage(), "--max-file-size SIZE   bytes of one changed file (built-in default 64Mi; SIZE: bytes, 512Ki, 2Gi)\n"));
  CHECK(Has(RunUsage(), "--max-total-size SIZE  bytes of all changed files together (built-in default 256Mi)\n"));
  CHECK(IsEnvName("_A1"));
  CHECK_FALSE(IsEnvName(""));
  CHECK_FALSE(IsEnvName("A=B"));
}

TEST_CASE("run args: change-set limits, counts and sizes, absent means the host config's", "[run][args]") {
  const std::vector<std::string> base = {"--repo", "/r", "--image", "i"};
  auto parse = [&](std::vector<std::string> flags, RunArgs* out) {
    std::vector<std::string> args = base;
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--", "agent"});
    std::string problem;
    bool ok = ParseRunArgs(args, out, &problem);
    if (!ok) FAIL_CHECK(problem);
    return ok;
  };
  RunArgs none;
  REQUIRE(parse({}, &none));
  CHECK_FALSE(none.max_files.has_value());
  CHECK_FALSE(none.max_file_size.has_value());
  CHECK_FALSE(none.max_total_size.has_value());
  RunArgs set;
  REQUIRE(parse({"--max-files", "20000", "--max-file-size", "2Gi", "--max-total-size=1048576"}, &set));
  CHECK(set.max_files == std::optional<uint64_t>(20000));
  CHECK(set.max_file_size == std::optional<uint64_t>(uint64_t{2} << 30));
  CHECK(set.max_total_size == std::optional<uint64_t>(1048576));
  RunArgs units;
  REQUIRE(parse({"--max-files=1", "--max-file-size=64Ki", "--max-total-size", "1Ti"}, &units));
  CHECK(units.max_files == std::optional<uint64_t>(1));
  CHECK(units.max_file_size == std::optional<uint64_t>(64 * 1024));
  CHECK(units.max_total_size == std::optional<uint64_t>(uint64_t{1} << 40));

  auto problem = [&](std::vector<std::string> flags) {
    std::vector<std::string> args = base;
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--", "agent"});
    return Problem(args);
  };
  CHECK(problem({"--max-files", "0"}) == "--max-files 0: must be more than 0");
  CHECK(problem({"--max-files", "-5"}) == "--max-files -5: want a whole number of files, e.g. 20000");
  CHECK(problem({"--max-files", "10Ki"}) == "--max-files 10Ki: want a whole number of files, e.g. 20000");
  CHECK(problem({"--max-files", "99999999999999999999"}) == "--max-files 99999999999999999999: too large");
  CHECK(problem({"--max-file-size", "0Mi"}) == "--max-file-size 0Mi: must be more than 0");
  CHECK(problem({"--max-total-size", "0"}) == "--max-total-size 0: must be more than 0");
  CHECK(Has(problem({"--max-file-size", "2G"}), "--max-file-size: bad size \"2G\": decimal units are ambiguous"));
  CHECK(Has(problem({"--max-total-size", "1GB"}), "--max-total-size: bad size \"1GB\": no B suffix"));
  CHECK(Has(problem({"--max-total-size", "lots"}), "--max-total-size: bad size \"lots\""));
  CHECK(problem({"--max-file-size="}) == "--max-file-size needs a non-empty value");
  CHECK(Problem({"--repo", "r", "--image", "i", "--max-files"}) == "--max-files needs a value");
  CHECK(problem({"--max-files", "1", "--max-files", "2"}) == "--max-files given twice");
}

TEST_CASE("exit codes: one per phase, distinct, documented, first failure wins but cleanup", "[run][exit]") {
  std::set<int> codes;
  std::set<std::string> names;
  for (const RunExitInfo& info : RunExitTable()) {
    CHECK(codes.insert(static_cast<int>(info.code)).second);
    CHECK(names.insert(info.name).second);
    CHECK(std::string(info.meaning).size() > 10);
    CHECK(&InfoOf(info.code) == &info);
  }
  for (const char* phase : {"ok", "usage", "input", "containerd", "sandbox", "setup", "seal", "agent", "check", "changes",
                            "secret-leak", "cleanup", "limit", "refused", "interrupted"}) {
    CHECK(names.count(phase) == 1);
  }
  CHECK(static_cast<int>(RunExit::kUsage) == 2);  // as every airlock subcommand
  CHECK(static_cast<int>(RunExit::kInterrupted) == 130);
  std::string help = RunExitHelp();
  for (const RunExitInfo& info : RunExitTable()) CHECK(Has(help, info.name));
  CHECK(CombineExit(RunExit::kOk, RunExit::kSetup) == RunExit::kSetup);
  CHECK(CombineExit(RunExit::kSetup, RunExit::kAgent) == RunExit::kSetup);
  CHECK(CombineExit(RunExit::kAgent, RunExit::kCleanup) == RunExit::kCleanup);
  CHECK(CombineExit(RunExit::kCleanup, RunExit::kInterrupted) == RunExit::kCleanup);
  CHECK(Has(RunUsage(), "exit codes:"));
  CHECK(Has(RunUsage(), " 11  secret-leak"));
  CHECK(static_cast<int>(RunExit::kLimit) == 13);
  CHECK(static_cast<int>(RunExit::kRefused) == 14);
  CHECK(Has(help, " 13  limit        the change set is over a limit (files, bytes of one file, bytes in all): nothing "
                  "was written; raise with --max-files / --max-file-size / --max-total-size\n"));
  CHECK(Has(help, " 14  refused      the change set holds what airlock never carries out (a .git entry, a changed "
                  "submodule path): nothing was written\n"));
}

TEST_CASE("container spec: ctr's defaults with our process, cgroup, annotations", "[run][spec]") {
  ContainerSpec spec;
  spec.id = "run-1";
  spec.name_space = "ns";
  spec.process = {{"sleep", "2147483647"}, {"PATH=/bin", "TOKEN=x"}, "/workspace", 0, 0};
  spec.annotations = {{"airlock.dev/repo", "/srv/r"}, {"airlock.dev/setup", "./setup.sh"}};
  nlohmann::json doc = nlohmann::json::parse(BuildSpecJson(spec));
  CHECK(doc["root"]["path"] == "rootfs");
  CHECK(doc["process"]["args"] == nlohmann::json({"sleep", "2147483647"}));
  CHECK(doc["process"]["cwd"] == "/workspace");
  CHECK(doc["process"]["noNewPrivileges"] == true);
  CHECK(doc["process"]["env"][1] == "TOKEN=x");
  CHECK(doc["linux"]["cgroupsPath"] == "/ns/run-1");
  CHECK(doc["annotations"]["airlock.dev/repo"] == "/srv/r");
  CHECK(doc["annotations"]["airlock.dev/setup"] == "./setup.sh");
  CHECK(doc["mounts"].size() == 7);
  CHECK(doc["linux"]["namespaces"].size() == 5);
  nlohmann::json process = nlohmann::json::parse(BuildProcessJson({{"sh", "-c", "x"}, {"PATH=/bin"}, "/workspace", 1000, 100}));
  CHECK(process["user"]["uid"] == 1000);
  CHECK(process["user"]["gid"] == 100);
  CHECK(process["args"][2] == "x");
  CHECK(process["capabilities"]["bounding"].size() == 14);
}

TEST_CASE("env and user: merge, strip secrets, numeric users only", "[run][spec]") {
  CHECK(MergeEnv({"PATH=/bin", "A=1"}, {"A=2", "B=3"}) == std::vector<std::string>{"PATH=/bin", "A=2", "B=3"});
  CHECK(EnvWithout({"PATH=/bin", "TOKEN=x", "TOKENX=y"}, {"TOKEN"}) == std::vector<std::string>{"PATH=/bin", "TOKENX=y"});
  CHECK(*ParseImageUser("") == std::pair<uint32_t, uint32_t>{0, 0});
  CHECK(*ParseImageUser("root") == std::pair<uint32_t, uint32_t>{0, 0});
  CHECK(*ParseImageUser("1000") == std::pair<uint32_t, uint32_t>{1000, 1000});
  CHECK(*ParseImageUser("1000:5") == std::pair<uint32_t, uint32_t>{1000, 5});
  absl::StatusOr<std::pair<uint32_t, uint32_t>> named = ParseImageUser("node");
  REQUIRE_FALSE(named.ok());
  CHECK(Has(std::string(named.status().message()), "numeric"));
}

TEST_CASE("run policy: built-in when nothing else, secrets must be listed, no passthrough", "[run][policy]") {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("airlock-run-policy-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  airlock::policy::HostConfig host;
  host.default_policy = (dir / "missing.yaml").string();

  absl::StatusOr<ChosenPolicy> builtin = ChooseRunPolicy("", host, {"NPM_TOKEN"});
  REQUIRE(builtin.ok());
  CHECK(builtin->builtin);
  CHECK(Has(builtin->description, "built-in run policy"));
  CHECK(builtin->policy.secrets == std::vector<std::string>{"NPM_TOKEN"});
  CHECK(builtin->policy.network.setup.uplink.kind == airlock::policy::UplinkKind::kNat);
  CHECK(builtin->policy.filesystem.rootfs.setup == airlock::policy::RootfsMode::kWritable);

  std::string file = (dir / "p.yaml").string();
  std::ofstream(file) << "version: 1\nsecrets: [A]\n";
  absl::StatusOr<ChosenPolicy> given = ChooseRunPolicy(file, host, {"A"});
  REQUIRE(given.ok());
  CHECK(given->path == std::filesystem::canonical(file).string());
  absl::StatusOr<ChosenPolicy> unlisted = ChooseRunPolicy(file, host, {"A", "B"});
  REQUIRE_FALSE(unlisted.ok());
  CHECK(Has(std::string(unlisted.status().message()), "--secret B"));
  CHECK(Has(std::string(unlisted.status().message()), "agent's environment"));

  host.default_policy = (dir / "pass.yaml").string();
  std::ofstream(host.default_policy) << "version: 1\nmode: passthrough\n";
  absl::StatusOr<ChosenPolicy> pass = ChooseRunPolicy("", host, {});
  REQUIRE_FALSE(pass.ok());
  CHECK(Has(std::string(pass.status().message()), "passthrough"));
  CHECK(Has(std::string(pass.status().message()), "host default"));

  std::ofstream(file) << "version: 1\nbogus: 1\n";
  absl::StatusOr<ChosenPolicy> bad = ChooseRunPolicy(file, host, {});
  REQUIRE_FALSE(bad.ok());
  CHECK(Has(std::string(bad.status().message()), "p.yaml:2"));
  CHECK_FALSE(ChooseRunPolicy((dir / "nope.yaml").string(), host, {}).ok());
  std::filesystem::remove_all(dir);
}

TEST_CASE("audit excerpt: relative times, scalar fields, bounded lines", "[run][audit]") {
  std::vector<std::string> lines = {
      R"({"time":"2026-11-29T04:47:39.700000000+00:00","event":"created","mode":"airlock","probes":[{"a":1}]})",
      R"({"time":"2026-11-29T04:47:39.735000000+00:00","event":"seal","trigger":"setup-exit","verified":true,"latency_us":2094})",
      "not json",
  };
  std::vector<std::string> excerpt = AuditExcerpt(lines, 10);
  REQUIRE(excerpt.size() == 2);
  CHECK(excerpt[0] == "+0.000s  created  mode=airlock");
  CHECK(Has(excerpt[1], "+0.035s  seal"));
  CHECK(Has(excerpt[1], "trigger=setup-exit"));
  CHECK(Has(excerpt[1], "verified=true"));
  CHECK(AuditExcerpt(lines, 1).size() == 1);
  CHECK(NetnsFindingsSummary({"link 1:lo up loopback", "address 127.0.0.1/8 dev 1"}) == "only lo left (2 entries read back)");
  CHECK(NetnsFindingsSummary({"link 1:lo up", "link 2:eth0 up"}) == "links: lo, eth0 (2 entries read back)");
}
