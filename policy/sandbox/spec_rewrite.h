// The OCI spec rewrite of the airlock: turns the config.json containerd wrote into the one runc runs,
// with airlock-init as the container's PID 1. A pure function: no filesystem, no syscalls.
//
// What it does (AIRLOCK_POLICY_DESIGN.md):
//  - process.args -> ["/.airlock"]; the original args, env and cwd become init_config.entrypoint;
//    the setup command (and its seccomp mode, when not strict) init_config.setup.
//    process.env keeps the secrets (airlock-init removes them before it execs the entrypoint).
//  - every capability set -> its intersection with policy.capabilities; process.noNewPrivileges = true.
//  - root.readonly = (policy.filesystem.rootfs.setup == readonly).
//  - mounts: see spec_mounts.h (spec binds read-only or rejected, ours added, parents first).
//  - namespaces: network -> the sandbox's own netns; pid, ipc, uts, mount, cgroup private (no "path");
//    user and time as given.
//  - linux.maskedPaths / readonlyPaths: the OCI/containerd/Docker defaults are always present.
//  - devices: no host device reaches the sandbox (linux.devices must be empty); a device cgroup that
//    allows more than the standard devices (null, zero, full, random, urandom, tty, console, ptmx, pts)
//    gets a deny-all and the standard list appended.
//  - linux.rootfsPropagation shared/rshared -> rslave (mounts must not propagate back to the host).
//  - linux.resources: the policy's pids, memory (+swap) and cpu limits as ceilings (spec_resources.h);
//    the rest of resources as given.
//  - seccomp, hooks, annotations, rlimits, user, terminal: untouched.
// Output is deterministic: nlohmann::json orders keys; mount order is stated in spec_mounts.h.
#pragma once

#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policy/model.h"

namespace airlock::policy {

inline constexpr absl::string_view kInitPath = "/.airlock";  // airlock-init, bound read-only

struct RewriteInput {
  const Policy* policy = nullptr;
  // Host path bound at policy.workspace.target; "" when there is no repository (allowed only if
  // !policy.workspace.required). NOT "/proc/<pid>/fd/<N>": runc mounts from inside the container's new
  // mount namespace, where a bind from an fd opened in the host's namespace fails with EINVAL (seen with
  // runc 1.1.5). The shim should bind the checked O_PATH fd (repo_path.h) onto a root-only staging
  // directory in its own namespace (mount("/proc/self/fd/N", stage, MS_BIND)) and pass the staging path.
  std::string repo_source;
  std::string netns_path;   // the sandbox's own network namespace
  std::string init_binary;  // host path of the static airlock-init, bound read-only onto /.airlock
  std::vector<std::string> setup_command;  // effective setup command (policy or annotation); may be empty
  // Its deadline: setup.timeout, or on a setup-cache hit cache.maintenance_timeout (unset: setup's).
  std::optional<absl::Duration> setup_timeout;
  bool swap_limit_supported = true;  // the host's memory cgroup limits swap (spec_resources.h)
  // The hostname of the UTS namespace the spec joined (a pod's), which the sandbox does not join:
  // it becomes spec.hostname in the sandbox's own, unless the spec names one. "" for none.
  std::string shared_uts_hostname;
  // The pod's sysctls (cri_pod.h PodSysctls): applied in the sandbox's own namespaces, under the
  // spec's linux.sysctl (which wins on the same key). Only namespaced ones; any other is refused.
  std::map<std::string, std::string> pod_sysctls;
};

struct RewriteOutput {
  nlohmann::json spec;             // the new config.json
  nlohmann::json init_config;      // airlock-init's config, for its payload (cmd/airlock-init/init_config.h)
  std::vector<std::string> notes;  // what was changed beyond the routine, for the audit log
};

// Errors (never an exception): InvalidArgument for a malformed spec or input, FailedPrecondition for a
// spec the policy forbids (a rejected bind, a host device, a disk mount, no repository though required).
// Each message names the offending field, mount or namespace in terms a `ctr` user recognises.
absl::StatusOr<RewriteOutput> RewriteSpec(const nlohmann::json& spec, const RewriteInput& in);

// Every capability set of an OCI process shrinks to its intersection with the policy's set; nothing
// is ever added. What was dropped goes to `notes`.
absl::Status RestrictCapabilities(nlohmann::json& process, const Policy& policy, std::vector<std::string>* notes);

// Whether the spec sets a hostname of its own (then a shared UTS namespace's is not needed).
bool SpecNamesHostname(const nlohmann::json& spec);

// An OCI env list without the policy's secrets (by name).
nlohmann::json WithoutSecrets(const nlohmann::json& env, const Policy& policy);

// Where the airlock proxy listens inside the sandbox (proxy/proxy_server.h kProxyPort).
inline constexpr absl::string_view kProxyEnvUrl = "http://127.0.0.1:3128";
// With a policy that uses the proxy: `env` with HTTP_PROXY, HTTPS_PROXY, NO_PROXY (and lower-case)
// set to it, replacing the spec's own; unchanged otherwise.
nlohmann::json WithProxyEnv(const nlohmann::json& env, const Policy& policy);

// The masked and read-only paths every sandbox gets (union of containerd's and Docker's defaults).
const std::vector<std::string>& DefaultMaskedPaths();
const std::vector<std::string>& DefaultReadonlyPaths();

}  // namespace airlock::policy
