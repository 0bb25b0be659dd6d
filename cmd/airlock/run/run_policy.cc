#include "cmd/airlock/run/run_policy.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "policy/host_names.h"
#include "policy/load.h"
#include "policy/parse.h"

namespace airlock::run {

std::string HostConfigPath() {
  const char* env = std::getenv("AIRLOCK_CONFIG");
  return env != nullptr && env[0] != '\0' ? env : std::string(policy::kHostConfigPath);
}

absl::StatusOr<InternetAccess> ParseInternetFlag(const std::string& spec) {
  InternetAccess access;
  for (absl::string_view word : absl::StrSplit(spec, ',')) {
    word = absl::StripAsciiWhitespace(word);
    if (word == "common-dependencies" || word == "all") {
      if (!access.preset.empty()) return absl::InvalidArgumentError("--internet: at most one preset");
      access.preset = std::string(word);
      continue;
    }
    absl::StatusOr<std::string> pattern = policy::CanonicalHostPattern(word);
    if (!pattern.ok()) return absl::InvalidArgumentError(absl::StrCat("--internet: ", pattern.status().message()));
    if (std::find(access.hosts.begin(), access.hosts.end(), *pattern) == access.hosts.end()) {
      access.hosts.push_back(*std::move(pattern));
    }
  }
  return access;
}

std::string BuiltinRunPolicyYaml(const std::vector<std::string>& secrets, const InternetAccess* internet) {
  std::string execution = "  execution: deny\n";
  if (internet != nullptr) {
    // Canonical patterns are [a-z0-9.*_-] and bracketed addresses: safe inside YAML double quotes.
    std::vector<std::string> quoted;
    for (const std::string& host : internet->hosts) quoted.push_back(absl::StrCat("\"", host, "\""));
    execution = absl::StrCat("  execution: proxy\n  proxy:\n    preset: ",
                             internet->preset.empty() ? "none" : internet->preset, "\n    allow: [",
                             absl::StrJoin(quoted, ", "), "]\n");
  }
  return absl::StrCat(
      "# airlock run: built-in run policy (written for this task)\n"
      "version: 1\n"
      "workspace: {target: /workspace, required: true}\n"
      "filesystem:\n"
      "  rootfs: {setup: writable, execution: readonly}\n"
      "  tmpfs: {/tmp: 512Mi}\n"
      "  other_binds: readonly\n"
      "network:\n"
      "  setup: {uplink: nat}\n",
      execution,
      "setup: {timeout: 10m, keep_processes: false}\n"
      "secrets: [",
      absl::StrJoin(secrets, ", "),
      "]\n"
      "seccomp: {execution: strict, allow_debuggers: false}\n");
}

absl::StatusOr<ChosenPolicy> ChooseRunPolicy(const std::string& policy_flag, const policy::HostConfig& host,
                                             const std::vector<std::string>& secrets,
                                             const std::string& internet_flag) {
  ChosenPolicy chosen;
  std::optional<InternetAccess> internet;
  if (!internet_flag.empty()) {
    absl::StatusOr<InternetAccess> parsed = ParseInternetFlag(internet_flag);
    if (!parsed.ok()) return parsed.status();
    internet = *std::move(parsed);
  }
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
    chosen.builtin_yaml = BuiltinRunPolicyYaml(secrets, internet ? &*internet : nullptr);
    chosen.description = internet ? absl::StrCat("built-in run policy (setup: NAT network, writable rootfs; then "
                                                 "sealed, internet through the airlock proxy: ", internet_flag, ")")
                                  : "built-in run policy (setup: NAT network, writable rootfs; then sealed)";
  }
  if (internet && !chosen.builtin) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--internet shapes the built-in run policy, but the policy is ", chosen.description,
        ": set network.execution: proxy and network.proxy in that file instead"));
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
