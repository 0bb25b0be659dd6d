// Reading policy and host config files from disk (size-capped, regular files only) and the built-in
// strictest policy as YAML text.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policy/model.h"

namespace airlock::policy {

inline constexpr size_t kMaxConfigFileBytes = 1 << 20;

// The built-in policy in policy-file form; ParsePolicy of it gives StrictestDefaultPolicy().
extern const absl::string_view kBuiltinPolicyYaml;

// A regular file's bytes, at most kMaxConfigFileBytes. Never blocks on a FIFO.
absl::StatusOr<std::string> ReadConfigFile(const std::string& path);

struct LoadedPolicy {
  Policy policy;
  std::string digest;  // "sha256:..." of the file's bytes (of kBuiltinPolicyYaml for the built-in one)
  std::string source;  // the file's path, or "built-in"
};

absl::StatusOr<LoadedPolicy> LoadPolicyFile(const std::string& path);
LoadedPolicy BuiltinPolicy();

// The host config at `path`; DefaultHostConfig() when the file does not exist.
absl::StatusOr<HostConfig> LoadHostConfig(const std::string& path = std::string(kHostConfigPath));

}  // namespace airlock::policy
