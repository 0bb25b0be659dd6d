#include "policy/sandbox/spec_rewrite.h"

#include <set>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "policy/path_rules.h"
#include "policy/sandbox/spec_mounts.h"
#include "policy/sandbox/spec_resources.h"

namespace airlock::policy {
namespace {

using nlohmann::json;

constexpr const char* kCapabilitySets[] = {"bounding", "effective", "permitted", "inheritable", "ambient"};

// Namespaces that must be the sandbox's own, in the order they are added when missing.
constexpr const char* kPrivateNamespaces[] = {"pid", "network", "ipc", "uts", "mount", "cgroup"};
constexpr const char* kKnownNamespaces[] = {"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"};

bool Contains(const std::vector<std::string>& list, absl::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool IsAbsolute(absl::string_view path) { return !path.empty() && path[0] == '/'; }

// `value` as a list of strings, or InvalidArgument naming `field`.
absl::StatusOr<std::vector<std::string>> StringArray(const json& value, absl::string_view field) {
  if (!value.is_array()) return absl::InvalidArgumentError(absl::StrCat(field, " must be an array of strings"));
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "] is not a string"));
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

// A clean absolute container path where a mount of ours may go, or InvalidArgument naming the policy key.
absl::Status CheckOurMountPoint(absl::string_view path, absl::string_view key) {
  absl::StatusOr<std::string> clean = CleanAbsolutePath(path);
  if (!clean.ok()) return absl::InvalidArgumentError(absl::StrCat("policy ", key, ": ", clean.status().message()));
  if (*clean != path) return absl::InvalidArgumentError(absl::StrCat("policy ", key, ": \"", path, "\" is not clean"));
  if (std::string problem = ContainerMountPointProblem(path); !problem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("policy ", key, ": ", problem));
  }
  return absl::OkStatus();
}

absl::Status CheckInput(const RewriteInput& in) {
  if (in.policy == nullptr) return absl::InvalidArgumentError("spec rewrite: no policy");
  const Policy& policy = *in.policy;
  if (policy.mode != PolicyMode::kAirlock) {
    return absl::FailedPreconditionError("spec rewrite: the policy's mode is passthrough, the spec runs unchanged");
  }
  for (const auto& [name, path] : {std::pair<const char*, const std::string&>{"sandbox netns", in.netns_path},
                                   {"airlock-init binary", in.init_binary}}) {
    if (!IsAbsolute(path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec rewrite: the ", name, " path \"", path, "\" is not absolute"));
    }
  }
  if (in.repo_source.empty() && policy.workspace.required) {
    return absl::FailedPreconditionError(
        "the policy requires a repository (workspace.required): give the container the annotation "
        "airlock.dev/repo=<host directory>");
  }
  if (!in.repo_source.empty() && CleanAbsolutePath(in.repo_source).value_or("") != in.repo_source) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec rewrite: the repository source \"", in.repo_source, "\" is not a clean absolute path"));
  }
  if (IsSameOrUnder(in.repo_source, "/proc")) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec rewrite: the repository source \"", in.repo_source, "\" lies in /proc; runc cannot ",
                     "bind a file descriptor of the host's mount namespace (EINVAL): bind it onto a staging "
                     "directory first"));
  }
  if (absl::Status s = CheckOurMountPoint(policy.workspace.target, "workspace.target"); !s.ok()) return s;
  for (const TmpfsMount& tmpfs : policy.filesystem.tmpfs) {
    std::string key = absl::StrCat("filesystem.tmpfs ", tmpfs.path);
    if (absl::Status s = CheckOurMountPoint(tmpfs.path, key); !s.ok()) return s;
    if (tmpfs.size_bytes == 0) return absl::InvalidArgumentError(absl::StrCat("policy ", key, ": size is 0"));
    if (tmpfs.path == policy.workspace.target) {
      return absl::InvalidArgumentError(absl::StrCat("policy ", key, ": the same path as workspace.target"));
    }
  }
  if (!in.setup_command.empty() && in.setup_command.front().empty()) {
    return absl::InvalidArgumentError("setup command: the program (first word) is empty");
  }
  return absl::OkStatus();
}

// process.args/env/cwd -> the entrypoint airlock-init execs after the seal; the spec runs the helper.
absl::StatusOr<json> TakeEntrypoint(json& process) {
  auto args_it = process.find("args");
  if (args_it == process.end() || args_it->is_null() || (args_it->is_array() && args_it->empty())) {
    return absl::InvalidArgumentError(
        "process.args is empty: the container has no command to run (give one after the image on the ctr "
        "command line, or use an image with an entrypoint)");
  }
  absl::StatusOr<std::vector<std::string>> args = StringArray(*args_it, "process.args");
  if (!args.ok()) return args.status();
  if (args->front().empty()) return absl::InvalidArgumentError("process.args[0] (the program) is empty");
  if (args->front() == kInitPath) {
    return absl::InvalidArgumentError(
        absl::StrCat("process.args[0] is already ", kInitPath, ": the spec was rewritten before"));
  }
  std::vector<std::string> env;
  if (auto it = process.find("env"); it != process.end() && !it->is_null()) {
    absl::StatusOr<std::vector<std::string>> read = StringArray(*it, "process.env");
    if (!read.ok()) return read.status();
    env = *std::move(read);
  }
  std::string cwd = "/";
  if (auto it = process.find("cwd"); it != process.end() && !it->is_null()) {
    if (!it->is_string() || !IsAbsolute(it->get<std::string>())) {
      return absl::InvalidArgumentError("process.cwd must be an absolute path");
    }
    cwd = it->get<std::string>();
  }
  process["args"] = json::array({std::string(kInitPath)});
  return json{{"args", *args}, {"env", env}, {"cwd", cwd}};
}

absl::Status RestrictCapabilitiesImpl(json& process, const Policy& policy, std::vector<std::string>* notes) {
  auto caps = process.find("capabilities");
  if (caps == process.end() || caps->is_null()) return absl::OkStatus();
  if (!caps->is_object()) return absl::InvalidArgumentError("process.capabilities must be an object");
  std::vector<std::string> dropped;
  for (const char* set : kCapabilitySets) {
    auto it = caps->find(set);
    if (it == caps->end() || it->is_null()) continue;
    absl::StatusOr<std::vector<std::string>> names = StringArray(*it, absl::StrCat("process.capabilities.", set));
    if (!names.ok()) return names.status();
    json kept = json::array();
    for (const std::string& name : *names) {
      if (Contains(policy.capabilities, name)) {
        kept.push_back(name);
      } else if (!Contains(dropped, name)) {
        dropped.push_back(name);
      }
    }
    *it = std::move(kept);
  }
  if (!dropped.empty()) {
    notes->push_back(absl::StrCat("capabilities dropped (not in the policy): ", absl::StrJoin(dropped, ", ")));
  }
  return absl::OkStatus();
}

// pid, ipc, uts, mount and cgroup private; network = the sandbox's netns; user and time as given.
absl::Status RewriteNamespaces(json& linux_spec, const std::string& netns_path, std::vector<std::string>* notes) {
  json& namespaces = linux_spec["namespaces"];
  if (namespaces.is_null()) namespaces = json::array();
  if (!namespaces.is_array()) return absl::InvalidArgumentError("linux.namespaces must be an array");
  std::vector<std::string> seen;
  for (size_t i = 0; i < namespaces.size(); ++i) {
    json& ns = namespaces[i];
    if (!ns.is_object() || !ns.contains("type") || !ns["type"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("linux.namespaces[", i, "] has no \"type\" string"));
    }
    std::string type = ns["type"].get<std::string>();
    if (std::find(std::begin(kKnownNamespaces), std::end(kKnownNamespaces), type) == std::end(kKnownNamespaces)) {
      return absl::InvalidArgumentError(
          absl::StrCat("linux.namespaces[", i, "]: unknown namespace type \"", type, "\""));
    }
    if (Contains(seen, type)) {
      return absl::InvalidArgumentError(absl::StrCat("linux.namespaces: the ", type, " namespace is listed twice"));
    }
    seen.push_back(type);
    std::string path;
    if (auto it = ns.find("path"); it != ns.end() && !it->is_null()) {
      if (!it->is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("linux.namespaces: the ", type, " namespace's path must be a string"));
      }
      path = it->get<std::string>();
    }
    if (type == "network") {
      if (!path.empty() && path != netns_path) {
        notes->push_back(absl::StrCat("network namespace ", path, " replaced by the sandbox's own"));
      }
      ns["path"] = netns_path;
    } else if (std::find(std::begin(kPrivateNamespaces), std::end(kPrivateNamespaces), type) !=
               std::end(kPrivateNamespaces)) {
      if (ns.contains("path")) {
        ns.erase("path");
        if (!path.empty()) notes->push_back(absl::StrCat(type, " namespace no longer shared with ", path, ": private"));
      }
    }
  }
  for (const char* type : kPrivateNamespaces) {
    if (Contains(seen, type)) continue;
    json ns = {{"type", type}};
    if (std::string_view(type) == "network") {
      ns["path"] = netns_path;
      notes->push_back("network namespace: the spec shared the host's; now the sandbox's own");
    } else if (std::string_view(type) != "cgroup") {
      notes->push_back(absl::StrCat(type, " namespace: the spec shared the host's; now private"));
    }
    namespaces.push_back(std::move(ns));
  }
  return absl::OkStatus();
}

// A sysctl the sandbox's own namespaces isolate (as runc checks it): net.* (the sandbox's netns),
// the IPC ones (its private IPC namespace), kernel.domainname (its private UTS namespace).
bool SysctlIsNamespaced(const std::string& key) {
  static constexpr const char* kIpc[] = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                                         "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
  if (std::find(std::begin(kIpc), std::end(kIpc), key) != std::end(kIpc)) return true;
  return absl::StartsWith(key, "net.") || absl::StartsWith(key, "fs.mqueue.") || key == "kernel.domainname";
}

// linux.sysctl: the spec's own plus the pod's (the pod's containers shared its namespaces; a
// sandbox has its own, so the pod's values are set in them); each one namespaced, else refused.
absl::Status ApplySysctls(json& linux_spec, const std::map<std::string, std::string>& pod_sysctls,
                          std::vector<std::string>* notes) {
  json& sysctl = linux_spec["sysctl"];
  if (sysctl.is_null()) sysctl = json::object();
  if (!sysctl.is_object()) return absl::InvalidArgumentError("linux.sysctl must be an object");
  for (const auto& [key, value] : pod_sysctls) {
    if (sysctl.contains(key)) continue;
    sysctl[key] = value;
    notes->push_back(absl::StrCat("sysctl ", key, " of the pod set in the sandbox's own namespaces"));
  }
  for (const auto& [key, value] : sysctl.items()) {
    if (!value.is_string()) return absl::InvalidArgumentError(absl::StrCat("linux.sysctl ", key, " must be a string"));
    if (!SysctlIsNamespaced(key)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sysctl ", key, " (", pod_sysctls.count(key) ? "the pod's" : "the spec's",
          ") is not isolated by the sandbox's namespaces (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, "
          "kernel.domainname): refused under an airlock policy"));
    }
  }
  if (sysctl.empty()) linux_spec.erase("sysctl");
  return absl::OkStatus();
}

// spec.hostname: the spec's own, else the one of the UTS namespace it joined (a pod's), which the
// sandbox's private UTS namespace would otherwise replace with the node's name.
void ApplyHostname(json& spec, const std::string& shared_uts_hostname, std::vector<std::string>* notes) {
  if (shared_uts_hostname.empty() || SpecNamesHostname(spec)) return;
  spec["hostname"] = shared_uts_hostname;
  notes->push_back(absl::StrCat("hostname ", shared_uts_hostname, " of the shared UTS namespace set in the sandbox's own"));
}

// linux.<key> becomes the spec's list followed by the defaults it lacks.
absl::Status EnsurePaths(json& linux_spec, const char* key, const std::vector<std::string>& defaults) {
  json& paths = linux_spec[key];
  if (paths.is_null()) paths = json::array();
  absl::StatusOr<std::vector<std::string>> have = StringArray(paths, absl::StrCat("linux.", key));
  if (!have.ok()) return have.status();
  for (const std::string& path : defaults) {
    if (!Contains(*have, path)) paths.push_back(path);
  }
  return absl::OkStatus();
}

bool IsBool(const json& object, const char* key, bool value) {
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>() == value;
}

// The character devices every container gets (runc's and containerd's default list): null, zero, full,
// random, urandom, tty, console, ptmx; minor -1 (or none) = any, for the pts.
struct StandardDevice {
  int64_t major;
  int64_t minor;
};
constexpr StandardDevice kStandardDevices[] = {{1, 3}, {1, 5}, {1, 7}, {1, 8},   {1, 9},
                                               {5, 0}, {5, 1}, {5, 2}, {136, -1}};

// Whether a device cgroup rule allows nothing beyond the standard devices (denials and mknod-only rules
// are harmless).
bool IsHarmlessDeviceRule(const json& rule) {
  if (!rule.is_object() || !IsBool(rule, "allow", true)) return true;
  auto access = rule.find("access");
  if (access != rule.end() && access->is_string() && *access == "m") return true;
  auto type = rule.find("type");
  if (type == rule.end() || !type->is_string() || *type != "c") return false;
  auto major = rule.find("major");
  if (major == rule.end() || !major->is_number_integer()) return false;
  int64_t minor = -1;
  if (auto it = rule.find("minor"); it != rule.end() && !it->is_null()) {
    if (!it->is_number_integer()) return false;
    minor = it->get<int64_t>();
  }
  for (const StandardDevice& device : kStandardDevices) {
    if (major->get<int64_t>() == device.major && minor == device.minor) return true;
  }
  return false;
}

std::string DescribeDeviceRule(const json& rule) {
  auto field = [&](const char* key, const char* otherwise) {
    auto it = rule.find(key);
    if (it == rule.end() || it->is_null()) return std::string(otherwise);
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  return absl::StrCat(field("type", "a"), " ", field("major", "*"), ":", field("minor", "*"), " ", field("access", ""));
}

// No host device node in the sandbox, and a device cgroup that allows only the standard devices. A spec
// that allows more (ctr --privileged: "a *:* rwm") gets a deny-all plus the standard list appended;
// runtimes apply the rules in order, so the last word is ours.
absl::Status RestrictDevices(json& linux_spec, std::vector<std::string>* notes) {
  if (auto it = linux_spec.find("devices"); it != linux_spec.end() && !it->is_null()) {
    if (!it->is_array()) return absl::InvalidArgumentError("linux.devices must be an array");
    if (!it->empty()) {
      const json& device = it->front();
      std::string path = device.is_object() && device.contains("path") && device["path"].is_string()
                             ? device["path"].get<std::string>()
                             : "(no path)";
      return absl::FailedPreconditionError(absl::StrCat(
          "linux.devices: host device ", path, it->size() > 1 ? absl::StrCat(" (and ", it->size() - 1, " more)") : "",
          " would reach the sandbox (ctr --device or --privileged?); the airlock passes no host devices"));
    }
  }
  auto resources = linux_spec.find("resources");
  if (resources == linux_spec.end() || resources->is_null()) return absl::OkStatus();
  if (!resources->is_object()) return absl::InvalidArgumentError("linux.resources must be an object");
  auto rules = resources->find("devices");
  if (rules == resources->end() || rules->is_null()) return absl::OkStatus();
  if (!rules->is_array()) return absl::InvalidArgumentError("linux.resources.devices must be an array");
  auto extra = std::find_if(rules->begin(), rules->end(), [](const json& rule) { return !IsHarmlessDeviceRule(rule); });
  if (extra == rules->end()) return absl::OkStatus();
  notes->push_back(absl::StrCat("device cgroup: the spec allowed more than the standard devices (",
                                DescribeDeviceRule(*extra), "); reset to the standard devices"));
  rules->push_back({{"allow", false}, {"access", "rwm"}});
  for (const StandardDevice& device : kStandardDevices) {
    json rule = {{"allow", true}, {"type", "c"}, {"major", device.major}, {"access", "rwm"}};
    if (device.minor >= 0) rule["minor"] = device.minor;
    rules->push_back(std::move(rule));
  }
  return absl::OkStatus();
}

// Shared root propagation would carry mounts made in the sandbox back to the host.
absl::Status RestrictRootPropagation(json& linux_spec, std::vector<std::string>* notes) {
  auto it = linux_spec.find("rootfsPropagation");
  if (it == linux_spec.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) return absl::InvalidArgumentError("linux.rootfsPropagation must be a string");
  std::string value = it->get<std::string>();
  if (value == "shared" || value == "rshared") {
    *it = "rslave";
    notes->push_back(absl::StrCat("linux.rootfsPropagation ", value, " -> rslave"));
  }
  return absl::OkStatus();
}

// The config reaches every exec after the seal (its payload is their fd 3 until airlock-init reads
// it): no secret value may be in it. airlock-init takes the secrets' values from its own environment (the spec's env, which
// keeps them) for the setup command only.
json InitConfig(const RewriteInput& in, json entrypoint) {
  entrypoint["env"] = WithoutSecrets(entrypoint["env"], *in.policy);
  json setup = nullptr;
  if (!in.setup_command.empty()) {
    setup = {{"command", in.setup_command},
             {"timeout_ms", absl::ToInt64Milliseconds(in.setup_timeout.value_or(in.policy->setup.timeout))}};
    // Said only when not the strictest (airlock-init's default), so that its setup battery knows.
    if (in.policy->seccomp.setup != SetupSeccompMode::kStrict) {
      setup["seccomp"] = std::string(ToString(in.policy->seccomp.setup));
    }
  }
  return json{{"setup", std::move(setup)}, {"secrets", in.policy->secrets}, {"entrypoint", std::move(entrypoint)}};
}

absl::StatusOr<RewriteOutput> Rewrite(const json& spec, const RewriteInput& in) {
  if (absl::Status s = CheckInput(in); !s.ok()) return s;
  const Policy& policy = *in.policy;
  if (!spec.is_object()) return absl::InvalidArgumentError("config.json: the OCI spec is not a JSON object");
  for (const char* key : {"process", "root", "linux"}) {
    auto it = spec.find(key);
    if (it == spec.end() || !it->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("config.json: the OCI spec has no \"", key, "\" object"));
    }
  }

  RewriteOutput out;
  out.spec = spec;
  json& process = out.spec["process"];
  json& root = out.spec["root"];
  json& linux_spec = out.spec["linux"];

  absl::StatusOr<json> entrypoint = TakeEntrypoint(process);
  if (!entrypoint.ok()) return entrypoint.status();
  if (UsesProxy(policy.network)) {
    // Setup runs with the spec's environment, the entrypoint with its own copy: both learn the proxy.
    process["env"] = WithProxyEnv(process.contains("env") ? process["env"] : json::array(), policy);
    (*entrypoint)["env"] = WithProxyEnv((*entrypoint)["env"], policy);
    out.notes.push_back(absl::StrCat("process.env: HTTP_PROXY/HTTPS_PROXY ", kProxyEnvUrl));
  }
  if (absl::Status s = RestrictCapabilitiesImpl(process, policy, &out.notes); !s.ok()) return s;
  if (!IsBool(process, "noNewPrivileges", true)) {
    process["noNewPrivileges"] = true;
    out.notes.push_back("process.noNewPrivileges set");
  }

  // The stricter of the two: a spec that asks for a read-only root keeps it even in a writable setup.
  bool spec_readonly = IsBool(root, "readonly", true);
  bool policy_readonly = policy.filesystem.rootfs.setup == RootfsMode::kReadonly;
  if (spec_readonly && !policy_readonly) {
    out.notes.push_back("root stays read-only during setup, as the spec asks (the policy would allow writes)");
  }
  root["readonly"] = spec_readonly || policy_readonly;

  SandboxMounts ours;
  ours.workspace_source = in.repo_source;
  ours.workspace_target = policy.workspace.target;
  ours.tmpfs = policy.filesystem.tmpfs;
  ours.init_binary = in.init_binary;
  ours.other_binds = policy.filesystem.other_binds;
  absl::StatusOr<json> mounts =
      RewriteMounts(out.spec.contains("mounts") ? out.spec["mounts"] : json(nullptr), ours, &out.notes);
  if (!mounts.ok()) return mounts.status();
  out.spec["mounts"] = *std::move(mounts);

  if (absl::Status s = RewriteNamespaces(linux_spec, in.netns_path, &out.notes); !s.ok()) return s;
  ApplyHostname(out.spec, in.shared_uts_hostname, &out.notes);
  if (absl::Status s = ApplySysctls(linux_spec, in.pod_sysctls, &out.notes); !s.ok()) return s;
  if (absl::Status s = EnsurePaths(linux_spec, "maskedPaths", DefaultMaskedPaths()); !s.ok()) return s;
  if (absl::Status s = EnsurePaths(linux_spec, "readonlyPaths", DefaultReadonlyPaths()); !s.ok()) return s;
  if (absl::Status s = RestrictDevices(linux_spec, &out.notes); !s.ok()) return s;
  if (absl::Status s = RestrictRootPropagation(linux_spec, &out.notes); !s.ok()) return s;
  if (absl::Status s = ApplyResourceCeilings(linux_spec, policy.resources, in.swap_limit_supported, &out.notes); !s.ok()) {
    return s;
  }

  out.init_config = InitConfig(in, *std::move(entrypoint));
  return out;
}

}  // namespace

const std::vector<std::string>& DefaultMaskedPaths() {
  static const std::vector<std::string>* const kPaths = new std::vector<std::string>{
      "/proc/acpi",        "/proc/asound",        "/proc/interrupts", "/proc/kcore",
      "/proc/keys",        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
      "/proc/sched_debug", "/proc/scsi",          "/sys/firmware",    "/sys/devices/virtual/powercap"};
  return *kPaths;
}

const std::vector<std::string>& DefaultReadonlyPaths() {
  static const std::vector<std::string>* const kPaths =
      new std::vector<std::string>{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
  return *kPaths;
}

bool SpecNamesHostname(const json& spec) {
  auto it = spec.find("hostname");
  return it != spec.end() && it->is_string() && !it->get<std::string>().empty();
}

absl::Status RestrictCapabilities(json& process, const Policy& policy, std::vector<std::string>* notes) {
  return RestrictCapabilitiesImpl(process, policy, notes);
}

json WithoutSecrets(const json& env, const Policy& policy) {
  const std::set<std::string> secrets(policy.secrets.begin(), policy.secrets.end());
  json kept = json::array();
  if (!env.is_array()) return kept;
  for (const auto& entry : env) {
    if (!entry.is_string()) continue;
    std::string text = entry.get<std::string>();
    if (!secrets.count(text.substr(0, text.find('=')))) kept.push_back(entry);
  }
  return kept;
}

json WithProxyEnv(const json& env, const Policy& policy) {
  if (!UsesProxy(policy.network)) return env;
  static const std::set<std::string> kNames = {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                                               "http_proxy", "https_proxy", "no_proxy"};
  json out = json::array();
  if (env.is_array()) {
    for (const auto& entry : env) {
      if (entry.is_string() && kNames.count(entry.get<std::string>().substr(0, entry.get<std::string>().find('=')))) {
        continue;  // the spec's own proxy settings would lead past the airlock proxy (and fail)
      }
      out.push_back(entry);
    }
  }
  for (const char* name : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}) {
    out.push_back(absl::StrCat(name, "=", kProxyEnvUrl));
  }
  for (const char* name : {"NO_PROXY", "no_proxy"}) out.push_back(absl::StrCat(name, "=localhost,127.0.0.1,::1"));
  return out;
}

absl::StatusOr<RewriteOutput> RewriteSpec(const json& spec, const RewriteInput& in) {
  try {
    return Rewrite(spec, in);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("spec rewrite: unexpected JSON error: ", e.what()));
  }
}

}  // namespace airlock::policy
