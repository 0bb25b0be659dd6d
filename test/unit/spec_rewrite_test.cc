// The OCI spec rewrite (policy/sandbox/spec_rewrite.h): golden files and properties.
//
// Golden files: every case in Cases() below runs RewriteSpec on a spec from
// test/unit/golden/spec_rewrite/inputs/ (real `ctr run` and `runc spec` specs, a CRI-like one), changed
// by the case's mutation, under the case's policy; the result (or the error) must equal
// test/unit/golden/spec_rewrite/<case>.json byte for byte.
//
// After an intended change of the rewrite, regenerate the goldens and review them with git diff:
//     AIRLOCK_UPDATE_GOLDEN=1 build/bin/unit_tests '[spec_rewrite]'
//
// Property tests check, for every golden case and for a few thousand generated specs and policies: no
// writable bind but the workspace, capabilities never grow, every namespace private, parents mounted
// before children, seccomp/hooks/annotations untouched, errors never Internal and never thrown.
#include "policy/sandbox/spec_rewrite.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "policy/capabilities.h"
#include "policy/model.h"
#include "policy/parse.h"
#include "policy/path_rules.h"
#include "policy/sandbox/spec_mounts.h"

using namespace airlock::policy;
using nlohmann::json;

namespace {

const std::string kGoldenDir = std::string(AIRLOCK_SOURCE_DIR) + "/test/unit/golden/spec_rewrite";

constexpr const char* kRepoSource = "/run/airlock/sandboxes/default/demo/workspace";
constexpr const char* kNetns = "/run/airlock/netns/default-demo";
constexpr const char* kInitBinary = "/usr/libexec/airlock/airlock-init";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

json LoadInput(const std::string& name) {
  std::string text = ReadFile(kGoldenDir + "/inputs/" + name);
  INFO(name);
  REQUIRE(!text.empty());
  return json::parse(text);
}

Policy MakePolicy(const std::string& yaml) {
  if (yaml.empty()) return StrictestDefaultPolicy();
  absl::StatusOr<Policy> policy = ParsePolicy(yaml, "case.yaml");
  INFO(policy.status().ToString());
  REQUIRE(policy.ok());
  return *policy;
}

// ---- policies of the cases ----

const char* const kStrictest = "";  // the built-in default: rejects other binds, read-only rootfs

const char* const kNpm = R"(version: 1
workspace: {target: /workspace}
filesystem:
  rootfs: {setup: writable, execution: readonly}
  tmpfs: {/tmp: 512Mi, /var/tmp: 1Gi}
  other_binds: readonly
network: {setup: {uplink: nat}, execution: deny}
setup: {command: ["sh", "-c", "cd /workspace && npm ci"], timeout: 15m}
secrets: [NPM_TOKEN, GITHUB_TOKEN]
)";

const char* const kReadonlyBinds = R"(version: 1
filesystem: {other_binds: readonly}
)";

const char* const kNoRepo = R"(version: 1
workspace: {required: false}
filesystem: {rootfs: {setup: writable}}
capabilities: [CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE, CAP_SYS_ADMIN]
)";

const char* const kNested = R"(version: 1
workspace: {target: /home/agent/repo}
filesystem:
  tmpfs: {/tmp: 64Mi, /home/agent: 256Mi}
  other_binds: readonly
)";

const char* const kPassthrough = "version: 1\nmode: passthrough\n";

// ---- cases ----

struct Case {
  std::string name;
  std::string input;  // file under inputs/
  std::string policy_yaml;
  std::function<void(json&)> mutate;          // may be empty
  std::function<void(RewriteInput&)> adjust;  // may be empty
};

json Mount(const std::string& destination, const std::string& type, const std::string& source,
           std::vector<std::string> options) {
  return json{{"destination", destination}, {"type", type}, {"source", source}, {"options", std::move(options)}};
}

void AddMount(json& spec, json mount) { spec["mounts"].push_back(std::move(mount)); }

const std::vector<Case>& Cases() {
  static const std::vector<Case>* const kCases = new std::vector<Case>{
      // Rules 1-6 on a real `ctr run` spec under the strictest policy.
      {"ctr_run_strict", "ctr_run.json", kStrictest, {}, {}},
      // Setup command, secrets, a writable setup rootfs, two tmpfs.
      {"ctr_run_npm_setup", "ctr_run.json", kNpm, {}, {}},
      // `ctr run -t --mount type=bind,src=/srv,dst=/data,options=rbind:rw`: the bind becomes read-only.
      {"ctr_run_tty_bind_readonly", "ctr_run_tty_bind.json", kReadonlyBinds, {}, {}},
      // CRI: /etc/hosts etc. binds, /dev/shm from the pod, shared ipc/uts, the pod's netns, seccomp.
      {"cri_container", "cri_container.json", kReadonlyBinds, {}, {}},
      // CRI: the pod's hostname (of the pod's UTS namespace) and sysctls (of its sandbox container)
      // set in the sandbox's own namespaces; the spec's own sysctl wins on the same key.
      {"cri_pod_hostname_sysctls", "cri_container.json", kReadonlyBinds,
       [](json& s) { s["linux"]["sysctl"] = {{"kernel.shm_rmid_forced", "0"}}; },
       [](RewriteInput& in) {
         in.shared_uts_hostname = "agent-pod-7";
         in.pod_sysctls = {{"net.ipv4.ip_unprivileged_port_start", "80"}, {"kernel.shm_rmid_forced", "1"},
                           {"fs.mqueue.msg_max", "20"}};
       }},
      // A spec's own hostname stays.
      {"cri_own_hostname", "cri_container.json", kReadonlyBinds, [](json& s) { s["hostname"] = "mine"; },
       [](RewriteInput& in) { in.shared_uts_hostname = "agent-pod-7"; }},
      // CRI with shareProcessNamespace: the pause container's pid namespace is not joined.
      {"cri_shared_pid", "cri_container.json", kReadonlyBinds,
       [](json& s) { s["linux"]["namespaces"][0]["path"] = "/proc/4242/ns/pid"; }, {}},
      // `runc spec` (read-only root, ambient caps, terminal) without a repository, writable setup.
      {"runc_spec_no_repo", "runc_spec.json", kNoRepo, {}, [](RewriteInput& in) { in.repo_source = ""; }},
      // Parents before children: a spec bind at /home above the workspace, a tmpfs inside the workspace,
      // a bind inside the policy's /tmp.
      {"nested_mount_order", "ctr_run.json", kNested,
       [](json& s) {
         AddMount(s, Mount("/home/agent/repo/node_modules", "tmpfs", "tmpfs", {"nosuid", "nodev", "size=1g"}));
         AddMount(s, Mount("/tmp/cache", "bind", "/srv/cache", {"rbind", "rw"}));
         AddMount(s, Mount("/home", "none", "/srv/home", {"rbind", "rw", "suid"}));
       },
       {}},
      // Spec mounts where ours go (non-bind) are replaced, with a note.
      {"replaced_mounts", "ctr_run.json", kStrictest,
       [](json& s) {
         AddMount(s, Mount("/tmp", "tmpfs", "tmpfs", {"nosuid", "size=10g"}));
         AddMount(s, Mount("/.airlock/cache", "tmpfs", "tmpfs", {}));
         AddMount(s, Mount("/workspace/", "tmpfs", "tmpfs", {}));
       },
       {}},
      // Host network and pid (no entries), a user namespace, hooks, seccomp, shared propagation.
      {"host_namespaces_hooks_seccomp", "ctr_run.json", kReadonlyBinds,
       [](json& s) {
         json namespaces = json::array();
         for (const json& ns : s["linux"]["namespaces"]) {
           if (ns["type"] != "network" && ns["type"] != "pid") namespaces.push_back(ns);
         }
         namespaces.push_back({{"type", "user"}});
         s["linux"]["namespaces"] = namespaces;
         s["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
         s["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
         s["linux"]["rootfsPropagation"] = "rshared";
         s["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ERRNO"},
                                  {"syscalls", {{{"names", {"read", "write"}}, {"action", "SCMP_ACT_ALLOW"}}}}};
         s["hooks"] = {{"createRuntime", {{{"path", "/usr/local/bin/hook"}, {"args", {"hook", "create"}}}}}};
         s["annotations"] = {{"airlock.dev/repo", "/srv/airlock/repos/demo"}};
         AddMount(s, Mount("/data", "bind", "/srv/data", {"rbind", "rshared", "rw", "dev", "exec"}));
       },
       {}},
      // A privileged-style spec (every capability, device cgroup allowing everything).
      {"privileged_caps_and_device_cgroup", "ctr_run.json", kStrictest,
       [](json& s) {
         json caps = KernelCapabilityNames();
         for (const char* set : {"bounding", "effective", "permitted", "inheritable", "ambient"}) {
           s["process"]["capabilities"][set] = caps;
         }
         s["linux"]["resources"]["devices"] = {{{"allow", true}, {"access", "rwm"}}};
       },
       {}},

      // ---- errors ----
      {"error_no_args", "ctr_run.json", kStrictest, [](json& s) { s["process"].erase("args"); }, {}},
      {"error_empty_args", "ctr_run.json", kStrictest, [](json& s) { s["process"]["args"] = json::array(); }, {}},
      {"error_args_not_strings", "ctr_run.json", kStrictest, [](json& s) { s["process"]["args"] = {"sh", 1}; }, {}},
      {"error_already_rewritten", "ctr_run.json", kStrictest,
       [](json& s) { s["process"]["args"] = {"/.airlock"}; }, {}},
      {"error_cwd_relative", "ctr_run.json", kStrictest, [](json& s) { s["process"]["cwd"] = "work"; }, {}},
      {"error_spec_not_object", "ctr_run.json", kStrictest, [](json& s) { s = json::array({s}); }, {}},
      {"error_no_process", "ctr_run.json", kStrictest, [](json& s) { s.erase("process"); }, {}},
      {"error_no_root", "ctr_run.json", kStrictest, [](json& s) { s.erase("root"); }, {}},
      {"error_no_linux", "ctr_run.json", kStrictest, [](json& s) { s["linux"] = "yes"; }, {}},
      {"error_bind_rejected", "ctr_run_tty_bind.json", kStrictest, {}, {}},
      {"error_cri_binds_rejected", "cri_container.json", kStrictest, {}, {}},
      {"error_bind_on_workspace", "ctr_run.json", kReadonlyBinds,
       [](json& s) { AddMount(s, Mount("/workspace", "bind", "/srv/other", {"rbind", "ro"})); }, {}},
      {"error_bind_under_airlock", "ctr_run.json", kReadonlyBinds,
       [](json& s) { AddMount(s, Mount("/.airlock/init", "bind", "/usr/bin/evil", {"bind"})); }, {}},
      {"error_bind_on_tmpfs", "ctr_run.json", kReadonlyBinds,
       [](json& s) { AddMount(s, Mount("/tmp/", "none", "/srv/tmp", {"rbind", "rw"})); }, {}},
      {"error_disk_mount", "ctr_run.json", kReadonlyBinds,
       [](json& s) { AddMount(s, Mount("/data", "ext4", "/dev/sdb1", {"rw"})); }, {}},
      {"error_overlay_mount", "ctr_run.json", kReadonlyBinds,
       [](json& s) {
         AddMount(s, Mount("/data", "overlay", "overlay", {"lowerdir=/srv/lo", "upperdir=/srv/up", "workdir=/srv/w"}));
       },
       {}},
      {"error_mount_relative", "ctr_run.json", kReadonlyBinds,
       [](json& s) { AddMount(s, Mount("data", "tmpfs", "tmpfs", {})); }, {}},
      {"error_mount_dotdot", "ctr_run.json", kReadonlyBinds,
       [](json& s) { AddMount(s, Mount("/data/../etc", "bind", "/srv/etc", {"rbind"})); }, {}},
      {"error_mount_onto_root", "ctr_run.json", kReadonlyBinds,
       [](json& s) { AddMount(s, Mount("/", "tmpfs", "tmpfs", {})); }, {}},
      {"error_host_devices", "ctr_run.json", kStrictest,
       [](json& s) {
         s["linux"]["devices"] = {{{"path", "/dev/sda"}, {"type", "b"}, {"major", 8}, {"minor", 0}},
                                  {{"path", "/dev/sda1"}, {"type", "b"}, {"major", 8}, {"minor", 1}}};
       },
       {}},
      {"error_duplicate_namespace", "ctr_run.json", kStrictest,
       [](json& s) { s["linux"]["namespaces"].push_back({{"type", "pid"}, {"path", "/proc/1/ns/pid"}}); }, {}},
      {"error_unknown_namespace", "ctr_run.json", kStrictest,
       [](json& s) { s["linux"]["namespaces"].push_back({{"type", "sound"}}); }, {}},
      {"error_repo_required", "ctr_run.json", kStrictest, {}, [](RewriteInput& in) { in.repo_source = ""; }},
      {"error_passthrough_policy", "ctr_run.json", kPassthrough, {}, {}},
      // Not isolated by the sandbox's namespaces: the node's own setting, refused with its reason.
      {"error_pod_sysctl_not_namespaced", "cri_container.json", kReadonlyBinds, {},
       [](RewriteInput& in) { in.pod_sysctls = {{"vm.swappiness", "10"}}; }},
      {"error_spec_sysctl_not_namespaced", "ctr_run.json", kStrictest,
       [](json& s) { s["linux"]["sysctl"] = {{"kernel.pid_max", "100000"}}; }, {}},
  };
  return *kCases;
}

RewriteInput StandardInput(const Policy* policy) {
  RewriteInput in;
  in.policy = policy;
  in.repo_source = kRepoSource;
  in.netns_path = kNetns;
  in.init_binary = kInitBinary;
  in.setup_command = policy->setup.command;
  return in;
}

json ResultAsJson(const absl::StatusOr<RewriteOutput>& result) {
  if (!result.ok()) {
    return json{{"error",
                 {{"code", absl::StatusCodeToString(result.status().code())},
                  {"message", std::string(result.status().message())}}}};
  }
  return json{{"spec", result->spec}, {"init_config", result->init_config}, {"notes", result->notes}};
}

bool UpdateGoldens() {
  const char* value = std::getenv("AIRLOCK_UPDATE_GOLDEN");
  return value != nullptr && std::string(value) == "1";
}

// ---- properties ----

std::vector<std::string> Strings(const json& value) {
  std::vector<std::string> out;
  if (value.is_array()) {
    for (const json& item : value) out.push_back(item.get<std::string>());
  }
  return out;
}

bool Has(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// The promises of RewriteSpec that hold for every accepted spec.
void CheckProperties(const json& input, const RewriteInput& in, const RewriteOutput& out) {
  const Policy& policy = *in.policy;
  const json& spec = out.spec;
  INFO(spec.dump(2));

  // Rule 1: the helper runs; the entrypoint is the original command.
  CHECK(spec["process"]["args"] == json::array({"/.airlock"}));
  CHECK(out.init_config["entrypoint"]["args"] == input["process"]["args"]);
  CHECK(spec["process"].value("env", json::array()) == input["process"].value("env", json::array()));
  CHECK(spec["process"].value("terminal", json(nullptr)) == input["process"].value("terminal", json(nullptr)));
  CHECK(out.init_config["secrets"] == json(policy.secrets));

  // Rule 2: capabilities never grow, and stay within the policy; no_new_privileges.
  const json& in_caps = input["process"].value("capabilities", json::object());
  const json& out_caps = spec["process"].value("capabilities", json::object());
  for (const char* set : {"bounding", "effective", "permitted", "inheritable", "ambient"}) {
    CHECK(out_caps.contains(set) == in_caps.contains(set));
    std::vector<std::string> before = Strings(in_caps.value(set, json::array()));
    for (const std::string& cap : Strings(out_caps.value(set, json::array()))) {
      INFO(set << " " << cap);
      CHECK(Has(before, cap));
      CHECK(Has(policy.capabilities, cap));
    }
  }
  CHECK(spec["process"]["noNewPrivileges"] == true);

  // Rule 3: the root is read-only whenever the policy or the spec says so.
  if (policy.filesystem.rootfs.setup == RootfsMode::kReadonly) CHECK(spec["root"]["readonly"] == true);
  if (input["root"].value("readonly", false)) CHECK(spec["root"]["readonly"] == true);

  // Rule 4: no writable bind but the workspace; ours present; parents first.
  std::vector<std::string> destinations;
  bool saw_workspace = false, saw_init = false;
  for (const json& m : spec["mounts"]) {
    std::string dest = m["destination"];
    destinations.push_back(dest);
    CHECK(CleanAbsolutePath(dest).value_or("") == dest);
    std::vector<std::string> options = Strings(m.value("options", json::array()));
    if (IsBindMount(m)) {
      INFO("bind at " << dest);
      CHECK(Has(options, "nosuid"));
      CHECK(Has(options, "nodev"));
      CHECK_FALSE(Has(options, "rbind"));
      CHECK_FALSE(Has(options, "rshared"));
      CHECK_FALSE(Has(options, "shared"));
      bool is_workspace = !in.repo_source.empty() && dest == policy.workspace.target && m.value("source", "") == in.repo_source;
      if (is_workspace) {
        saw_workspace = true;
      } else {
        CHECK(Has(options, "ro"));
        CHECK_FALSE(Has(options, "rw"));
        CHECK((policy.filesystem.other_binds == OtherBinds::kReadonly || IsSameOrUnder(dest, "/.airlock")));
        CHECK_FALSE((!in.repo_source.empty() && dest == policy.workspace.target));
      }
      if (dest == "/.airlock") saw_init = m.value("source", "") == in.init_binary;
    } else {
      CHECK(Has({"proc", "sysfs", "devpts", "mqueue", "tmpfs", "cgroup", "cgroup2"}, m.value("type", "")));
      CHECK_FALSE(IsSameOrUnder(dest, "/.airlock"));
    }
  }
  CHECK(saw_workspace == !in.repo_source.empty());
  CHECK(saw_init);
  for (const TmpfsMount& tmpfs : policy.filesystem.tmpfs) {
    int count = 0;
    for (const json& m : spec["mounts"]) {
      if (m["destination"] == tmpfs.path) {
        ++count;
        CHECK(m["type"] == "tmpfs");
        CHECK(Has(Strings(m["options"]), "size=" + std::to_string(tmpfs.size_bytes)));
      }
    }
    CHECK(count == 1);
  }
  for (size_t i = 0; i < destinations.size(); ++i) {
    for (size_t j = i + 1; j < destinations.size(); ++j) {
      INFO(destinations[j] << " is mounted after its child " << destinations[i]);
      CHECK_FALSE(IsStrictlyUnder(destinations[i], destinations[j]));
    }
  }

  // Rule 5: every namespace private; network = the sandbox's.
  std::vector<std::string> types;
  for (const json& ns : spec["linux"]["namespaces"]) {
    std::string type = ns["type"];
    INFO("namespace " << type);
    CHECK_FALSE(Has(types, type));
    types.push_back(type);
    if (type == "network") {
      CHECK(ns.value("path", "") == in.netns_path);
    } else if (type != "user" && type != "time") {
      CHECK_FALSE(ns.contains("path"));
    }
  }
  for (const char* type : {"pid", "network", "ipc", "uts", "mount", "cgroup"}) CHECK(Has(types, type));

  // Rule 6: the default masks.
  for (const std::string& path : DefaultMaskedPaths()) CHECK(Has(Strings(spec["linux"]["maskedPaths"]), path));
  for (const std::string& path : DefaultReadonlyPaths()) CHECK(Has(Strings(spec["linux"]["readonlyPaths"]), path));

  // Rule 7: left alone.
  for (const char* key : {"hooks", "annotations", "ociVersion"}) {
    CHECK(spec.value(key, json(nullptr)) == input.value(key, json(nullptr)));
  }
  for (const char* key : {"seccomp", "cgroupsPath", "uidMappings", "gidMappings"}) {
    CHECK(spec["linux"].value(key, json(nullptr)) == input["linux"].value(key, json(nullptr)));
  }
  // The spec's hostname and sysctls stay; the pod's fill in what the spec does not say.
  const json own_hostname = input.value("hostname", json(nullptr));
  const bool named = own_hostname.is_string() && !own_hostname.get<std::string>().empty();
  CHECK(spec.value("hostname", json(nullptr)) ==
        (named || in.shared_uts_hostname.empty() ? own_hostname : json(in.shared_uts_hostname)));
  json sysctl = input["linux"].value("sysctl", json::object());
  for (const auto& [key, value] : in.pod_sysctls) {
    if (!sysctl.contains(key)) sysctl[key] = value;
  }
  CHECK(spec["linux"].value("sysctl", json::object()) == sysctl);
  CHECK(spec["process"].value("user", json(nullptr)) == input["process"].value("user", json(nullptr)));

  // No host devices; after the last deny-all (runtimes start from deny-all), only standard devices.
  CHECK(spec["linux"].value("devices", json::array()).empty());
  const json rules = spec["linux"].value("resources", json::object()).value("devices", json::array());
  size_t after_deny = 0;
  for (size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].value("allow", true) == false && rules[i].value("type", "a") == "a" && !rules[i].contains("major")) {
      after_deny = i + 1;
    }
  }
  static const std::vector<std::pair<int, int>> kStandard = {{1, 3}, {1, 5}, {1, 7}, {1, 8},   {1, 9},
                                                             {5, 0}, {5, 1}, {5, 2}, {136, -1}};
  for (size_t i = after_deny; i < rules.size(); ++i) {
    const json& rule = rules[i];
    if (rule.value("allow", false) != true || rule.value("access", "") == "m") continue;
    INFO("device rule " << rule.dump());
    REQUIRE(rule.value("type", "a") == "c");
    std::pair<int, int> device = {rule.value("major", -2), rule.value("minor", -1)};
    CHECK(std::find(kStandard.begin(), kStandard.end(), device) != kStandard.end());
  }
}

}  // namespace

TEST_CASE("spec rewrite goldens", "[spec_rewrite]") {
  bool update = UpdateGoldens();
  for (const Case& c : Cases()) {
    SECTION(c.name) {
      json spec = LoadInput(c.input);
      if (c.mutate) c.mutate(spec);
      Policy policy = MakePolicy(c.policy_yaml);
      RewriteInput in = StandardInput(&policy);
      if (c.adjust) c.adjust(in);
      absl::StatusOr<RewriteOutput> result = RewriteSpec(spec, in);
      std::string actual = ResultAsJson(result).dump(2) + "\n";
      std::string path = kGoldenDir + "/" + c.name + ".json";
      if (update) {
        std::ofstream(path, std::ios::binary | std::ios::trunc) << actual;
        WARN("updated " << path);
      }
      std::string expected = ReadFile(path);
      INFO("golden " << path << " (AIRLOCK_UPDATE_GOLDEN=1 regenerates it)");
      if (expected != actual && !expected.empty()) {
        INFO("JSON patch from golden to actual: " << json::diff(json::parse(expected), json::parse(actual)).dump());
        CHECK(expected == actual);
      } else {
        CHECK(expected == actual);
      }
      bool expect_error = c.name.rfind("error_", 0) == 0;
      CHECK(result.ok() == !expect_error);
      if (result.ok()) {
        CheckProperties(spec, in, *result);
      } else {
        CHECK((absl::IsInvalidArgument(result.status()) || absl::IsFailedPrecondition(result.status())));
      }
    }
  }
}

TEST_CASE("spec rewrite: every golden file belongs to a case", "[spec_rewrite]") {
  std::vector<std::string> names;
  for (const Case& c : Cases()) {
    CHECK_FALSE(Has(names, c.name));
    names.push_back(c.name);
  }
  // A renamed or removed case leaves its old golden behind: delete it.
  int goldens = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kGoldenDir)) {
    if (entry.path().extension() != ".json") continue;
    INFO("stale golden " << entry.path());
    CHECK(Has(names, entry.path().stem().string()));
    ++goldens;
  }
  CHECK(goldens == static_cast<int>(names.size()));
}

TEST_CASE("spec rewrite is deterministic and leaves its input alone", "[spec_rewrite]") {
  json spec = LoadInput("cri_container.json");
  const json original = spec;
  Policy policy = MakePolicy(kReadonlyBinds);
  RewriteInput in = StandardInput(&policy);
  absl::StatusOr<RewriteOutput> first = RewriteSpec(spec, in);
  absl::StatusOr<RewriteOutput> second = RewriteSpec(spec, in);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(spec == original);
  CHECK(first->spec.dump() == second->spec.dump());
  CHECK(first->init_config.dump() == second->init_config.dump());
  CHECK(first->notes == second->notes);
}

TEST_CASE("the init config matches what airlock-init reads", "[spec_rewrite]") {
  json spec = LoadInput("ctr_run.json");
  Policy policy = MakePolicy(kNpm);
  RewriteInput in = StandardInput(&policy);
  in.setup_command = {"make", "deps"};  // an annotation's command wins over the policy's
  absl::StatusOr<RewriteOutput> out = RewriteSpec(spec, in);
  REQUIRE(out.ok());
  CHECK(out->init_config == json::parse(R"({
    "setup": {"command": ["make", "deps"], "timeout_ms": 900000},
    "secrets": ["NPM_TOKEN", "GITHUB_TOKEN"],
    "entrypoint": {"args": ["sh", "-c", "echo hello"],
                   "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "cwd": "/"}})"));
  // The secret stays in the helper's env only: airlock-init hands it to setup. config.json, readable
  // in the container for its whole life, never holds a secret's value.
  CHECK(out->init_config.dump().find("s3cret") == std::string::npos);
  CHECK(Has(Strings(out->spec["process"]["env"]), "NPM_TOKEN=s3cret"));

  in.setup_command.clear();
  out = RewriteSpec(spec, in);
  REQUIRE(out.ok());
  CHECK(out->init_config["setup"].is_null());

  spec["process"].erase("env");
  spec["process"].erase("cwd");
  out = RewriteSpec(spec, in);
  REQUIRE(out.ok());
  CHECK(out->init_config["entrypoint"]["env"] == json::array());
  CHECK(out->init_config["entrypoint"]["cwd"] == "/");
}

TEST_CASE("spec rewrite: bad input from the shim", "[spec_rewrite]") {
  json spec = LoadInput("ctr_run.json");
  Policy policy = MakePolicy(kStrictest);
  RewriteInput in = StandardInput(&policy);
  RewriteInput bad = in;
  bad.policy = nullptr;
  CHECK(absl::IsInvalidArgument(RewriteSpec(spec, bad).status()));
  bad = in;
  bad.netns_path = "";
  CHECK(absl::IsInvalidArgument(RewriteSpec(spec, bad).status()));
  bad = in;
  bad.init_binary = "";
  CHECK(absl::IsInvalidArgument(RewriteSpec(spec, bad).status()));
  bad = in;
  bad.repo_source = "repo";
  CHECK(absl::IsInvalidArgument(RewriteSpec(spec, bad).status()));
  bad.repo_source = "/proc/4321/fd/7";  // runc cannot mount it (EINVAL): see RewriteInput
  CHECK(absl::IsInvalidArgument(RewriteSpec(spec, bad).status()));
  bad = in;
  bad.setup_command = {"", "x"};
  CHECK(absl::IsInvalidArgument(RewriteSpec(spec, bad).status()));
  // A policy built in code, bypassing the parser's checks.
  Policy odd = policy;
  odd.workspace.target = "/proc/x";
  bad = in;
  bad.policy = &odd;
  absl::Status status = RewriteSpec(spec, bad).status();
  CHECK(absl::IsInvalidArgument(status));
  CHECK(std::string(status.message()).find("workspace.target") != std::string::npos);
  odd = policy;
  odd.filesystem.tmpfs = {{"/workspace", 1}};
  bad.policy = &odd;
  CHECK(absl::IsInvalidArgument(RewriteSpec(spec, bad).status()));
}

TEST_CASE("parents are mounted before children, otherwise the given order", "[spec_rewrite]") {
  using V = std::vector<std::string>;
  using I = std::vector<size_t>;
  CHECK(ParentsFirstOrder(V{}) == I{});
  CHECK(ParentsFirstOrder(V{"/proc", "/dev", "/dev/pts", "/sys"}) == I{0, 1, 2, 3});
  CHECK(ParentsFirstOrder(V{"/a/b/c", "/x", "/a/b", "/a"}) == I{1, 3, 2, 0});
  CHECK(ParentsFirstOrder(V{"/ab", "/a/b", "/a"}) == I{0, 2, 1});  // "/ab" is not under "/a"
  CHECK(ParentsFirstOrder(V{"/t", "/t", "/t/x"}) == I{0, 1, 2});   // same destination: given order
  CHECK(ParentsFirstOrder(V{"/t/x", "/t", "/t"}) == I{1, 2, 0});
}

// ---- generated specs ----

namespace {

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  size_t Below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool Chance(int percent) { return Below(100) < static_cast<size_t>(percent); }
  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[Below(items.size())];
  }
  std::vector<std::string> Subset(const std::vector<std::string>& items) {
    std::vector<std::string> out;
    for (const std::string& item : items) {
      if (Chance(50)) out.push_back(item);
    }
    return out;
  }

  json MountObject() {
    static const std::vector<std::string> kDestinations = {
        "/data",     "/data/sub",   "/tmp",     "/tmp/x",     "/workspace", "/workspace/node_modules",
        "/.airlock", "/.airlock/x", "/dev/shm", "/etc/hosts", "/home",      "/home/agent",
        "/srv/a/b",  "/var/tmp",    "/run",     "/",          "x",          "/a/../b",
        "/data/",    "//data//sub"};
    static const std::vector<std::string> kTypes = {"bind", "none",    "tmpfs", "proc",   "sysfs",
                                                    "ext4", "overlay", "",      "cgroup", "mqueue"};
    static const std::vector<std::string> kOptions = {"rbind",    "bind",   "rw",     "ro",      "nosuid",
                                                      "suid",     "dev",    "nodev",  "rshared", "rslave",
                                                      "rprivate", "noexec", "size=1m"};
    json m = {{"destination", Pick(kDestinations)}, {"type", Pick(kTypes)}, {"source", "/srv/src"}};
    m["options"] = Subset(kOptions);
    if (Chance(10)) m.erase("type");
    return m;
  }

  json Spec(const json& base) {
    json spec = base;
    json& mounts = spec["mounts"];
    for (size_t n = Below(5); n > 0; --n) mounts.push_back(MountObject());
    json caps = json::object();
    for (const char* set : {"bounding", "effective", "permitted", "inheritable", "ambient"}) {
      if (Chance(70)) caps[set] = Subset(KernelCapabilityNames());
    }
    spec["process"]["capabilities"] = caps;
    static const std::vector<std::string> kTypes = {"pid", "network", "ipc", "uts", "mount", "cgroup", "user"};
    json namespaces = json::array();
    for (const std::string& type : kTypes) {
      if (!Chance(70)) continue;
      json ns = {{"type", type}};
      if (Chance(30)) ns["path"] = "/proc/99/ns/" + type;
      namespaces.push_back(ns);
    }
    spec["linux"]["namespaces"] = namespaces;
    if (Chance(30)) spec["root"]["readonly"] = Chance(50);
    if (Chance(20)) spec["linux"]["rootfsPropagation"] = Pick(std::vector<std::string>{"rshared", "rslave", "private"});
    if (Chance(10)) spec["linux"].erase("resources");
    if (Chance(15)) {
      spec["linux"]["resources"]["devices"] = Pick(std::vector<json>{
          json::parse(R"([{"allow": true, "access": "rwm"}])"),
          json::parse(
              R"([{"allow": false, "access": "rwm"}, {"allow": true, "type": "b", "major": 8, "access": "rw"}])"),
          json::parse(R"([{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}])"),
          json::parse(R"([{"allow": true, "type": "c", "access": "m"},
                          {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}])")});
    }
    return spec;
  }

  // Breaks one field in a way a hand-written config.json might.
  void Break(json& spec) {
    static const std::vector<json> kJunk = {
        nullptr, 5, "x", true, json::array(), json::object(), json::array({1}), json::array({json::object()})};
    static const std::vector<std::vector<std::string>> kPaths = {{"process"},
                                                                 {"process", "args"},
                                                                 {"process", "env"},
                                                                 {"process", "cwd"},
                                                                 {"process", "capabilities"},
                                                                 {"process", "capabilities", "bounding"},
                                                                 {"mounts"},
                                                                 {"linux", "namespaces"},
                                                                 {"linux", "maskedPaths"},
                                                                 {"linux", "readonlyPaths"},
                                                                 {"linux", "devices"},
                                                                 {"linux", "resources"},
                                                                 {"linux", "resources", "devices"},
                                                                 {"root"},
                                                                 {"linux"},
                                                                 {"linux", "rootfsPropagation"},
                                                                 {"process", "noNewPrivileges"},
                                                                 {"root", "readonly"}};
    const std::vector<std::string>& path = Pick(kPaths);
    json* node = &spec;
    for (size_t i = 0; i + 1 < path.size(); ++i) {
      if (!node->is_object()) return;
      node = &(*node)[path[i]];
    }
    if (node->is_object()) (*node)[path.back()] = Pick(kJunk);
    if (Chance(30) && spec["mounts"].is_array() && !spec["mounts"].empty()) {
      json& m = spec["mounts"][Below(spec["mounts"].size())];
      if (m.is_object()) m[Pick(std::vector<std::string>{"destination", "type", "source", "options"})] = Pick(kJunk);
    }
  }

  Policy MakeRandomPolicy() {
    Policy p;
    p.filesystem.other_binds = Chance(50) ? OtherBinds::kReadonly : OtherBinds::kReject;
    p.filesystem.rootfs.setup = Chance(50) ? RootfsMode::kReadonly : RootfsMode::kWritable;
    p.workspace.required = Chance(70);
    p.workspace.target = Pick(std::vector<std::string>{"/workspace", "/home/agent/repo", "/data/sub"});
    static const std::vector<TmpfsMount> kTmpfs = {
        {"/tmp", 64 * kMiB}, {"/home/agent", kGiB}, {"/var/tmp", 1000}, {"/data", 4096}, {"/run/user", kMiB}};
    p.filesystem.tmpfs.clear();
    for (const TmpfsMount& t : kTmpfs) {
      if (Chance(40) && t.path != p.workspace.target) p.filesystem.tmpfs.push_back(t);
    }
    p.capabilities = Subset(KernelCapabilityNames());
    p.secrets = Subset({"NPM_TOKEN", "GITHUB_TOKEN"});
    if (Chance(50)) p.setup.command = {"sh", "-c", "true"};
    return p;
  }

 private:
  std::mt19937 rng_;
};

}  // namespace

TEST_CASE("spec rewrite properties hold for generated specs and policies", "[spec_rewrite]") {
  const json base = LoadInput("ctr_run.json");
  Generator gen(20261129);
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    Policy policy = gen.MakeRandomPolicy();
    RewriteInput in = StandardInput(&policy);
    if (gen.Chance(20)) in.repo_source = "";
    json spec = gen.Spec(base);
    absl::StatusOr<RewriteOutput> out = RewriteSpec(spec, in);
    if (!out.ok()) {
      INFO(out.status().ToString());
      CHECK((absl::IsInvalidArgument(out.status()) || absl::IsFailedPrecondition(out.status())));
      CHECK_FALSE(out.status().message().empty());
      ++rejected;
      continue;
    }
    ++accepted;
    CheckProperties(spec, in, *out);
  }
  // The generator must exercise both outcomes.
  CHECK(accepted > 300);
  CHECK(rejected > 300);
}

TEST_CASE("malformed specs give errors, never exceptions", "[spec_rewrite]") {
  const json base = LoadInput("cri_container.json");
  Generator gen(7);
  Policy policy = MakePolicy(kReadonlyBinds);
  RewriteInput in = StandardInput(&policy);
  for (int i = 0; i < 2000; ++i) {
    json spec = base;
    for (size_t n = 1 + gen.Below(3); n > 0; --n) gen.Break(spec);
    absl::StatusOr<RewriteOutput> out(absl::UnknownError("not run"));
    REQUIRE_NOTHROW(out = RewriteSpec(spec, in));
    INFO(spec.dump());
    INFO(out.status().ToString());
    CHECK_FALSE(absl::IsInternal(out.status()));
    CHECK_FALSE(absl::IsUnknown(out.status()));
  }
}
