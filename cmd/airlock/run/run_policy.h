// Which airlock policy a run's container gets, checked before anything is created:
// --policy FILE > the host config's default_policy (if the file exists) > the built-in run policy
// (setup with a NAT uplink and a writable rootfs, then sealed; the --secret names listed).
// The shim gets the chosen file as runtimeoptions config_path, so both sides read the same file.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/model.h"

namespace airlock::run {

struct ChosenPolicy {
  std::string path;         // the file the shim reads ("" until the built-in one is written)
  std::string description;  // for the user: "--policy x.yaml", "host default /etc/...", "built-in run policy"
  bool builtin = false;
  std::string builtin_yaml; // the built-in policy's text (written to the task dir)
  policy::Policy policy;
};

// --internet SPEC: a preset (common-dependencies, all) and/or host patterns, comma-separated.
struct InternetAccess {
  std::string preset;               // "" or the preset's name
  std::vector<std::string> hosts;   // canonical patterns (policy/host_names.h)
};
absl::StatusOr<InternetAccess> ParseInternetFlag(const std::string& spec);

// The built-in run policy's YAML with `secrets` listed; with `internet`, the agent's proxy.
std::string BuiltinRunPolicyYaml(const std::vector<std::string>& secrets, const InternetAccess* internet = nullptr);

// Loads and checks the policy for a run: no passthrough; every --secret listed in `secrets` (else
// its value would reach the agent); errors name the file and say what to do.
// `internet_flag` (--internet) applies to the built-in run policy only.
absl::StatusOr<ChosenPolicy> ChooseRunPolicy(const std::string& policy_flag, const policy::HostConfig& host,
                                             const std::vector<std::string>& secrets,
                                             const std::string& internet_flag = "");

// The host config path: $AIRLOCK_CONFIG, else /etc/airlock/config.yaml.
std::string HostConfigPath();

}  // namespace airlock::run
