#include "cmd/airlock/run/run_policy.h"

#include <sys/stat.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/load.h"
#include "policy/parse.h"

namespace airlock::run {

std::string HostConfigPath() {
  const char* env = std::getenv("AIRLOCK_CONFIG");
  return env != nullptr && env[0] != '\0' ? env : std::string(policy::kHostConfigPath);
}

std::string BuiltinRunPolicyYaml(const std::vector<std::string>& secrets) {
  return absl::StrCat(
      "# airlock run: built-in run policy (written for this task)\n"
      "version: 1\n"
      "workspace: {target: /workspace, required: true}\n"
      "filesystem:\n"
      "  rootfs: {setup: writable, execution: readonly}\n"
      "  tmpfs: {/tmp: 512Mi}\n"
      "  other_binds: readonly\n"
      "network:\n"
      "  setup: {uplink: nat}\n"
      "  execution: deny\n"
      "setup: {timeout: 10m, keep_processes: false}\n"
      "secrets: [",
      absl::StrJoin(secrets, ", "),
      "]\n"
      "seccomp: {execution: strict, allow_debuggers: false}\n");
}

absl::StatusOr<ChosenPolicy> ChooseRunPolicy(const std::string& policy_flag, const policy::HostConfig& host,
                                             const std::vector<std::string>& secrets) {
  ChosenPolicy chosen;
  struct stat st {};
  if (!policy_flag.empty()) {
    char* resolved = realpath(policy_flag.c_str(), nullptr);
    if (resolved == nullptr) return absl::NotFoundError(absl::StrCat("--policy ", policy_flag, ": no such file"));
    chosen.path = resolved;
    free(resolved);
    chosen.description = absl::StrCat("--policy ", chosen.path);
  } else if (!host.default_policy.empty() && stat(host.default_policy.c_str(), &st) == 0) {
    chosen.path = host.default_policy;
    chosen.description = absl::StrCat("host default ", host.default_policy);
  } else {
    chosen.builtin = true;
    chosen.builtin_yaml = BuiltinRunPolicyYaml(secrets);
    chosen.description = "built-in run policy (setup: NAT network, writable rootfs; then sealed)";
  }
  if (chosen.builtin) {
    absl::StatusOr<policy::Policy> parsed = policy::ParsePolicy(chosen.builtin_yaml, "built-in run policy");
    if (!parsed.ok()) return absl::InternalError(absl::StrCat("built-in run policy: ", parsed.status().message()));
    chosen.policy = *std::move(parsed);
  } else {
    absl::StatusOr<policy::LoadedPolicy> loaded = policy::LoadPolicyFile(chosen.path);
    if (!loaded.ok()) return absl::InvalidArgumentError(absl::StrCat("policy: ", loaded.status().message()));
    chosen.policy = std::move(loaded->policy);
  }
  if (chosen.policy.mode == policy::PolicyMode::kPassthrough) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy ", chosen.path, " (", chosen.description,
        ") is mode: passthrough, which is not a sandbox; give airlock run an airlock policy with --policy"));
  }
  for (const std::string& secret : secrets) {
    bool listed = false;
    for (const std::string& name : chosen.policy.secrets) listed = listed || name == secret;
    if (!listed) {
      return absl::InvalidArgumentError(absl::StrCat("--secret ", secret, ": the policy (", chosen.description,
                                                     ") does not list it in `secrets`, so it would stay in the agent's "
                                                     "environment; add it there"));
    }
  }
  return chosen;
}

}  // namespace airlock::run
