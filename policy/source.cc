#include "policy/source.h"

#include <sys/stat.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "policy/path_rules.h"
#include "shim/base/errno_status.h"

namespace airlock::policy {
namespace {

// OK if `path` exists (following symlinks: an operator may link a managed file into place).
absl::Status CheckExists(const std::string& path, absl::string_view what) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(what, " ", path, " does not exist"));
    return ErrnoStatus(absl::StrCat(what, " ", path));
  }
  return absl::OkStatus();
}

}  // namespace

std::string Describe(const PolicySource& source) {
  switch (source.kind) {
    case PolicySource::Kind::kRuntimeConfig:
      return absl::StrCat("runtime options config_path ", source.path);
    case PolicySource::Kind::kProfile:
      return absl::StrCat("profile ", source.path);
    case PolicySource::Kind::kHostDefault:
      return absl::StrCat("host default ", source.path);
    case PolicySource::Kind::kBuiltin:
      break;
  }
  return "built-in strictest default";
}

absl::Status ValidateProfileName(absl::string_view name) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("annotation ", kPolicyAnnotation, ": bad profile name \"", name,
                                                   "\": ", why, " (want a plain name like npm or tests)"));
  };
  if (name.empty()) return bad("empty");
  if (name.size() > 128) return bad("longer than 128 characters");
  if (absl::StrContains(name, "/")) return bad("a name, never a path");
  if (absl::StrContains(name, "..")) return bad("contains \"..\"");
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return bad("only letters, digits, '_', '.' and '-' are allowed");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PolicySource> ResolvePolicySource(absl::string_view config_path,
                                                 const std::map<std::string, std::string>& annotations,
                                                 const HostConfig& host) {
  if (!config_path.empty()) {
    absl::StatusOr<std::string> path = CleanAbsolutePath(config_path);
    if (!path.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("runtime options config_path: ", path.status().message(), " (want an absolute file path)"));
    }
    if (absl::Status s = CheckExists(*path, "policy file (runtime options config_path)"); !s.ok()) return s;
    return PolicySource{PolicySource::Kind::kRuntimeConfig, *path};
  }
  if (auto it = annotations.find(std::string(kPolicyAnnotation)); it != annotations.end()) {
    if (absl::Status s = ValidateProfileName(it->second); !s.ok()) return s;
    std::string path = absl::StrCat(host.profiles_dir, "/", it->second, ".yaml");
    if (absl::Status s = CheckExists(path, absl::StrCat("policy profile \"", it->second, "\":")); !s.ok()) return s;
    return PolicySource{PolicySource::Kind::kProfile, path};
  }
  if (!host.default_policy.empty()) {
    absl::Status exists = CheckExists(host.default_policy, "host default policy");
    if (exists.ok()) return PolicySource{PolicySource::Kind::kHostDefault, host.default_policy};
    if (!absl::IsNotFound(exists)) return exists;  // cannot tell: fail closed
  }
  return PolicySource{};
}

}  // namespace airlock::policy
