// Which policy applies to a container: runtime options' config_path (ctr --runtime-config-path, CRI)
// > annotation airlock.dev/policy (a profile NAME -> <profiles_dir>/NAME.yaml) > the host's
// default_policy if that file exists > the built-in strictest policy. An explicit choice that cannot be
// honoured (missing file, bad profile name) is an error, never a silent fallback.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policy/model.h"

namespace airlock::policy {

inline constexpr absl::string_view kPolicyAnnotation = "airlock.dev/policy";
inline constexpr absl::string_view kRepoAnnotation = "airlock.dev/repo";
inline constexpr absl::string_view kSetupAnnotation = "airlock.dev/setup";
// "hit": the container starts from a setup-cache entry (its rootfs snapshot is on the entry's): the
// setup command does not run; the policy's cache.maintenance does, or, when the policy has no
// setup command, the annotation airlock.dev/maintenance (same forms as airlock.dev/setup).
// Honoured only when the policy has a cache: section. Skipping setup only ever takes away.
inline constexpr absl::string_view kSetupCacheAnnotation = "airlock.dev/setup-cache";
inline constexpr absl::string_view kMaintenanceAnnotation = "airlock.dev/maintenance";

struct PolicySource {
  enum class Kind { kRuntimeConfig, kProfile, kHostDefault, kBuiltin };
  Kind kind = Kind::kBuiltin;
  std::string path;  // the file to load; empty for kBuiltin
  bool operator==(const PolicySource&) const = default;
};

// For logs and `status`: "runtime config /x.yaml", "profile npm (/etc/airlock/policies/npm.yaml)", ...
std::string Describe(const PolicySource& source);

// A profile name: [A-Za-z0-9_.-]+, at most 128 characters, no "..", never a path.
absl::Status ValidateProfileName(absl::string_view name);

// Looks at the filesystem only to see whether the chosen file exists.
absl::StatusOr<PolicySource> ResolvePolicySource(absl::string_view config_path,
                                                 const std::map<std::string, std::string>& annotations,
                                                 const HostConfig& host);

}  // namespace airlock::policy
