// The `airlock` sandbox commands (status, seal, audit, verify, ls) against a fake shim: a ttrpc
// server in this process serving airlock.v1.Control with canned answers, found through a temp run
// dir (AIRLOCK_RUN_DIR) holding tasks/<namespace>/<id> records. The real CLI binary runs as a child.
#include <catch2/catch.hpp>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "airlock/v1/control.pb.h"
#include "shim/rpc/registry.h"
#include "test/unit/ttrpc_test_util.h"

namespace {

using airlock::rpc::CallContext;
using airlock::rpc::Registry;
using airlock::rpc::Unary;
using airlock::ttrpc::testing::ServedRegistry;
using airlock::ttrpc::testing::TempDir;
namespace v1 = airlock::v1;

const std::string kAirlock = std::string(AIRLOCK_BINARY_DIR) + "/bin/airlock";
constexpr char kService[] = "airlock.v1.Control";

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

v1::SandboxStatus SealedStatus(const std::string& id, const std::string& ns) {
  v1::SandboxStatus s;
  s.set_id(id);
  s.set_namespace_(ns);
  s.set_phase("sealed");
  s.set_policy_source("/etc/airlock/policies/npm.yaml");
  s.set_policy_digest("sha256:0123abcd");
  s.set_seal_trigger("setup-exit");
  s.mutable_sealed_at()->set_seconds(1700000000);
  s.mutable_sealed_at()->set_nanos(500000000);
  s.set_verified(true);
  s.set_seal_latency_ns(3214000);
  s.add_seal_findings("links: lo");
  s.add_seal_findings("routes: none");
  s.set_workspace_source("/srv/airlock/repos/app");
  s.set_workspace_target("/workspace");
  s.set_uplink("nat");
  s.set_setup_ran(true);
  s.set_setup_exit_code(0);
  s.set_init_pid(4242);
  return s;
}

v1::SandboxStatus SetupStatus(const std::string& id, const std::string& ns) {
  v1::SandboxStatus s;
  s.set_id(id);
  s.set_namespace_(ns);
  s.set_phase("setup");
  s.set_policy_source("builtin");
  s.set_uplink("none");
  return s;
}

// A fake shim serving sandboxes "sb1" (sealed), "sb2" (in setup), "fails" (seal fails) and
// "leaky" (verify finds a broken promise).
struct FakeShim {
  Registry registry{nullptr};

  FakeShim() {
    registry.Add(kService, "Status",
                 Unary<v1::StatusRequest, v1::SandboxStatus>(
                     [](const CallContext&, const v1::StatusRequest& r) -> absl::StatusOr<v1::SandboxStatus> {
                       if (r.id() == "sb1" || r.id() == "leaky") return SealedStatus(r.id(), "default");
                       if (r.id() == "sb2" || r.id() == "fails") return SetupStatus(r.id(), "other");
                       return absl::NotFoundError("sandbox " + r.id() + " not found");
                     }));
    registry.Add(kService, "Seal",
                 Unary<v1::SealRequest, v1::SandboxStatus>(
                     [](const CallContext&, const v1::SealRequest& r) -> absl::StatusOr<v1::SandboxStatus> {
                       if (r.id() == "fails") {
                         v1::SandboxStatus s = SetupStatus(r.id(), "default");
                         s.set_phase("failed");
                         s.set_failure("seal verification failed: route 0.0.0.0/0 dev eth0 remains");
                         return s;
                       }
                       v1::SandboxStatus s = SealedStatus(r.id(), "default");
                       s.set_seal_trigger("api");
                       return s;
                     }));
    registry.Add(kService, "Audit",
                 Unary<v1::AuditRequest, v1::AuditResponse>(
                     [](const CallContext&, const v1::AuditRequest&) -> absl::StatusOr<v1::AuditResponse> {
                       v1::AuditResponse a;
                       a.add_lines(R"({"time":"2023-11-14T22:13:19Z","event":"created","policy":"npm.yaml"})");
                       a.add_lines(R"({"time":"2023-11-14T22:13:20.5Z","event":"seal","trigger":"setup-exit","latency_ns":3214000,"note":"two words"})");
                       a.add_lines("not json at all");
                       return a;
                     }));
    registry.Add(kService, "Verify",
                 Unary<v1::VerifyRequest, v1::VerifyResponse>(
                     [](const CallContext&, const v1::VerifyRequest& r) -> absl::StatusOr<v1::VerifyResponse> {
                       v1::VerifyResponse v;
                       v.set_id(r.id());
                       v.set_phase(r.id() == "early" ? "setup" : "sealed");
                       auto add = [&](const char* name, const char* result, const char* detail) {
                         v1::Probe* p = v.add_probes();
                         p->set_name(name);
                         p->set_result(result);
                         p->set_detail(detail);
                       };
                       add("network.peer-unreachable", "held", "198.18.0.1:80: ENETUNREACH (no route)");
                       add("seccomp.active", "held", "Seccomp: 2");
                       if (r.id() == "leaky") add("rootfs.readonly", "broken", "created /airlock-probe.7");
                       v.set_held(r.id() != "leaky" && r.id() != "early");
                       return v;
                     }));
  }
};

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class CliFixture {
 public:
  CliFixture() : served_(shim_.registry, dir_.File("shim.sock")) {
    REQUIRE(served_.Start());
    AddRecord("default", "sb1", "unix://" + served_.path());
    AddRecord("default", "leaky", "unix://" + served_.path());
    AddRecord("default", "early", "unix://" + served_.path());
    AddRecord("default", "fails", "unix://" + served_.path());
    AddRecord("other", "sb2", "unix://" + served_.path());
  }

  void AddRecord(const std::string& ns, const std::string& id, const std::string& address) {
    std::filesystem::create_directories(dir_.File("run/tasks/" + ns));
    std::ofstream(dir_.File("run/tasks/" + ns + "/" + id)) << address << "\n";
  }

  Result Run(const std::string& args) {
    Result result;
    const std::string err_file = dir_.File("stderr");
    FILE* pipe = popen(("AIRLOCK_RUN_DIR=" + dir_.File("run") + " " + kAirlock + " " + args + " 2>" + err_file +
                        " </dev/null")
                           .c_str(),
                       "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0 && result.out.size() < (1 << 20)) {
      result.out.append(buffer, n);
    }
    int status = pclose(pipe);
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    std::ifstream err(err_file);
    result.err.assign(std::istreambuf_iterator<char>(err), std::istreambuf_iterator<char>());
    return result;
  }

  TempDir& dir() { return dir_; }
  ServedRegistry& served() { return served_; }

 private:
  TempDir dir_;
  FakeShim shim_;
  ServedRegistry served_;
};

bool CliBuilt() {
  if (access(kAirlock.c_str(), X_OK) == 0) return true;
  FAIL("not built: " << kAirlock);
  return false;
}

}  // namespace

TEST_CASE("airlock status shows phase, seal, verification, workspace, uplink and policy", "[cli]") {
  if (!CliBuilt()) return;
  CliFixture cli;
  Result r = cli.Run("status sb1");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK(Has(r.out, "Sandbox     sb1 (namespace default)\n"));
  CHECK(Has(r.out, "Phase       sealed\n"));
  CHECK(Has(r.out, "Seal        sealed by setup-exit at 2023-11-14T22:13:20.5Z, verified in 3.214 ms\n"));
  CHECK(Has(r.out, "Verified    yes\n"));
  CHECK(Has(r.out, "Latency     3.214 ms from trigger to verified\n"));
  CHECK(Has(r.out, "Findings    links: lo\n            routes: none\n"));
  CHECK(Has(r.out, "Workspace   /srv/airlock/repos/app -> /workspace\n"));
  CHECK(Has(r.out, "Uplink      nat\n"));
  CHECK(Has(r.out, "Setup       ran, exit code 0\n"));
  CHECK(Has(r.out, "Policy      /etc/airlock/policies/npm.yaml (sha256:0123abcd)\n"));

  Result setup = cli.Run("status --namespace other sb2");
  INFO(setup.out << setup.err);
  CHECK(setup.exit_code == 0);
  CHECK(Has(setup.out, "Phase       setup\n"));
  CHECK(Has(setup.out, "Seal        not sealed yet\n"));
  CHECK(!Has(setup.out, "Verified"));
  CHECK(cli.Run("status -n other sb2").exit_code == 0);
  CHECK(cli.Run("status --namespace=other sb2").exit_code == 0);

  Result json = cli.Run("status --json sb1");
  CHECK(json.exit_code == 0);
  nlohmann::json status = nlohmann::json::parse(json.out, nullptr, false);
  REQUIRE(status.is_object());
  CHECK(status["phase"] == "sealed");
  CHECK(status["seal_trigger"] == "setup-exit");
  CHECK(status["sealed_at"] == "2023-11-14T22:13:20.5Z");
  CHECK(status["verified"] == true);
  CHECK(status["seal_latency_ns"] == 3214000);
  CHECK(status["seal_findings"] == nlohmann::json({"links: lo", "routes: none"}));
  CHECK(status["policy_digest"] == "sha256:0123abcd");
  CHECK(status["init_pid"] == 4242);
  CHECK(nlohmann::json::parse(cli.Run("status --json -n other sb2").out)["sealed_at"].is_null());
}

TEST_CASE("airlock commands: unknown sandbox, unknown namespace", "[cli]") {
  if (!CliBuilt()) return;
  CliFixture cli;
  for (const char* command : {"status", "seal", "audit", "verify"}) {
    Result r = cli.Run(std::string(command) + " nope");
    INFO(command << ": " << r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err == "airlock: no airlock sandbox nope in namespace default\n");
    CHECK(r.out.empty());
  }
  // sb2 lives in namespace "other" only.
  CHECK(cli.Run("status sb2").err == "airlock: no airlock sandbox sb2 in namespace default\n");
  CHECK(cli.Run("status -n elsewhere sb1").err == "airlock: no airlock sandbox sb1 in namespace elsewhere\n");
  // A record whose shim does not know the sandbox: the shim's own answer.
  cli.AddRecord("default", "orphan", "unix://" + cli.served().path());
  Result orphan = cli.Run("status orphan");
  CHECK(orphan.exit_code == 1);
  CHECK(orphan.err == "airlock: Status: sandbox orphan not found\n");
  // A record that is not an address.
  cli.AddRecord("default", "garbage", "tcp://1.2.3.4:5");
  Result garbage = cli.Run("status garbage");
  CHECK(garbage.exit_code == 1);
  CHECK(Has(garbage.err, "not a shim address"));
}

TEST_CASE("airlock commands: a dead shim is reported, not waited for", "[cli]") {
  if (!CliBuilt()) return;
  CliFixture cli;
  SECTION("socket gone") {
    cli.served().Shutdown();  // stops serving and removes the socket, as a dead shim leaves it
    Result r = cli.Run("status sb1");
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(Has(r.err, "airlock: the shim of sandbox sb1 in namespace default is not running (unix://"));
    CHECK(Has(r.err, "stale record " + cli.dir().File("run/tasks/default/sb1")));
  }
  SECTION("socket left behind, nobody listening") {
    const std::string stale = cli.dir().File("stale.sock");
    {
      airlock::UniqueFd bound = airlock::ttrpc::testing::Listen(stale);
      REQUIRE(bound);
    }  // closed: connecting now is refused
    cli.AddRecord("default", "stale", "unix://" + stale);
    Result r = cli.Run("verify stale");
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(Has(r.err, "is not running"));
    CHECK(Has(r.err, "Connection refused"));
  }
  SECTION("a server that is not an airlock shim") {
    Registry empty{nullptr};
    ServedRegistry other(empty, cli.dir().File("other.sock"));
    REQUIRE(other.Start());
    cli.AddRecord("default", "foreign", "unix://" + other.path());
    Result r = cli.Run("status foreign");
    CHECK(r.exit_code == 1);
    CHECK(Has(r.err, "does not offer airlock.v1.Control/Status"));
  }
}

TEST_CASE("airlock seal", "[cli]") {
  if (!CliBuilt()) return;
  CliFixture cli;
  Result ok = cli.Run("seal sb1");
  INFO(ok.out << ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out == "sb1: sealed by api at 2023-11-14T22:13:20.5Z, verified in 3.214 ms\n");
  Result json = cli.Run("seal --json sb1");
  CHECK(json.exit_code == 0);
  CHECK(nlohmann::json::parse(json.out)["seal_trigger"] == "api");

  Result failed = cli.Run("seal fails");
  INFO(failed.out << failed.err);
  CHECK(failed.exit_code == 1);
  CHECK(failed.err ==
        "airlock: fails is not sealed: phase failed: seal verification failed: route 0.0.0.0/0 dev eth0 remains\n");
  CHECK(cli.Run("seal --json fails").exit_code == 1);
}

TEST_CASE("airlock audit", "[cli]") {
  if (!CliBuilt()) return;
  CliFixture cli;
  Result r = cli.Run("audit sb1");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out ==
        "2023-11-14T22:13:19Z  created  policy=npm.yaml\n"
        "2023-11-14T22:13:20.5Z  seal  latency_ns=3214000  note=\"two words\"  trigger=setup-exit\n"
        "not json at all\n");
  Result json = cli.Run("audit --json sb1");
  CHECK(json.exit_code == 0);
  CHECK(Has(json.out, R"({"time":"2023-11-14T22:13:19Z","event":"created","policy":"npm.yaml"})"
                      "\n"));
}

TEST_CASE("airlock verify prints each probe and fails on a broken one", "[cli]") {
  if (!CliBuilt()) return;
  CliFixture cli;
  Result ok = cli.Run("verify sb1");
  INFO(ok.out << ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out ==
        "Sandbox sb1 (namespace default), phase sealed\n"
        "  held    network.peer-unreachable  198.18.0.1:80: ENETUNREACH (no route)\n"
        "  held    seccomp.active            Seccomp: 2\n"
        "airlock verified: 2 probes held\n");

  Result leaky = cli.Run("verify leaky");
  INFO(leaky.out << leaky.err);
  CHECK(leaky.exit_code == 1);
  CHECK(Has(leaky.out, "  BROKEN  rootfs.readonly           created /airlock-probe.7\n"));
  CHECK(Has(leaky.out, "airlock NOT verified: 1 broken, 0 error\n"));

  Result json = cli.Run("verify --json leaky");
  CHECK(json.exit_code == 1);
  nlohmann::json v = nlohmann::json::parse(json.out, nullptr, false);
  REQUIRE(v.is_object());
  CHECK(v["held"] == false);
  CHECK(v["probes"].size() == 3);
  CHECK(v["probes"][2]["result"] == "broken");
  CHECK(cli.Run("verify --json sb1").exit_code == 0);

  // Before the seal every probe may hold (it runs through the helper) and still nothing is verified.
  Result early = cli.Run("verify early");
  INFO(early.out << early.err);
  CHECK(early.exit_code == 1);
  CHECK(Has(early.out, "Sandbox early (namespace default), phase setup\n"));
  CHECK(Has(early.out, "airlock NOT verified: the sandbox is not sealed (phase setup)"));
}

TEST_CASE("airlock ls lists the records of a namespace, or all", "[cli]") {
  if (!CliBuilt()) return;
  CliFixture cli;
  cli.AddRecord("default", "dead", "unix://" + cli.dir().File("no-such.sock"));
  Result r = cli.Run("ls");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(Has(r.out, "ID     PHASE        SEAL                    POLICY\n"));
  CHECK(Has(r.out, "dead   unreachable  -                       -\n"));
  CHECK(Has(r.out, "sb1    sealed       setup-exit,verified     /etc/airlock/policies/npm.yaml\n"));
  CHECK(!Has(r.out, "sb2"));

  Result all = cli.Run("ls --all");
  INFO(all.out);
  CHECK(Has(all.out, "NAMESPACE  ID "));
  CHECK(Has(all.out, "other      sb2    setup        -                       builtin\n"));

  Result json = cli.Run("ls --json -n other");
  nlohmann::json list = nlohmann::json::parse(json.out, nullptr, false);
  REQUIRE(list.is_array());
  REQUIRE(list.size() == 1);
  CHECK(list[0]["id"] == "sb2");
  CHECK(list[0]["phase"] == "setup");
  nlohmann::json with_dead = nlohmann::json::parse(cli.Run("ls --json").out, nullptr, false);
  REQUIRE(with_dead.is_array());
  CHECK(with_dead[0]["id"] == "dead");
  CHECK(with_dead[0]["phase"] == "unreachable");

  Result empty = cli.Run("ls -n nothing-here");
  CHECK(empty.exit_code == 0);
  CHECK(empty.out == "no airlock sandboxes in namespace nothing-here\n");
  CHECK(cli.Run("ls --json -n nothing-here").out == "[]\n");
}

TEST_CASE("airlock sandbox commands: bad command lines exit 2 with usage", "[cli]") {
  if (!CliBuilt()) return;
  CliFixture cli;
  for (const char* args : {"status", "status a b", "status --bogus sb1", "status -n", "seal", "verify --all sb1",
                           "audit ../etc", "status -n ../x sb1", "ls extra", "ls --frob"}) {
    Result r = cli.Run(args);
    INFO(args << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(Has(r.err, "usage: airlock "));
  }
  CHECK(Has(cli.Run("status").err, "airlock status: missing sandbox ID\n"));
  CHECK(Has(cli.Run("audit ../etc").err, "invalid sandbox ID \"../etc\""));
  Result help = cli.Run("verify --help");
  CHECK(help.exit_code == 0);
  CHECK(Has(help.out, "usage: airlock verify"));
  Result top = cli.Run("--help");
  CHECK(Has(top.out, "  status "));
  CHECK(Has(top.out, "  verify "));
}
