// The setup cache's key: what a setup's result depends on, and nothing of the repository beyond
// the files the policy names. Two runs share an entry only when all of these are equal: the image
// (manifest digest and chain), the policy (its meaning, as JSON), the setup command, the
// snapshotter, the repository's identity (its root commit and origin URL: a cache made for one
// repository is never used for another) and the content of each key file at HEAD.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cmd/airlock/run/change_walk.h"
#include "cmd/airlock/run/workspace.h"
#include "nlohmann/json.hpp"
#include "policy/model.h"

namespace airlock::cache {

// Bumped whenever what an entry holds or how it is laid changes: old entries then never match.
inline constexpr int kCacheFormat = 1;
// Hex characters of the key (128 bits of a SHA-256): short enough for a lease id.
inline constexpr size_t kKeyLength = 32;

struct RepositoryIdentity {
  std::string root_commit;  // the first-parent root of HEAD
  std::string remote;       // remote.origin.url without user info (credentials), "" when none
};

// From the user's repository (git, read-only).
absl::StatusOr<RepositoryIdentity> IdentifyRepository(const run::SourceRepo& repo);

// "https://user:token@host/x" -> "https://host/x"; "user@host:x" (scp form) -> "host:x".
std::string WithoutUserInfo(const std::string& url);

struct KeyFile {
  std::string path;
  std::string content;  // "blob <oid>", "executable <oid>", "symlink <oid>", "directory", "submodule <oid>", "absent"
};

// Each path's content at the base tree (a blob id is a digest of the bytes).
std::vector<KeyFile> KeyFilesAt(const run::BaseTree& tree, const std::vector<std::string>& paths);

struct KeyInputs {
  std::string image_name;
  std::string image_digest;  // the manifest's
  std::string chain_id;
  std::string snapshotter;
  std::string policy_digest;  // PolicyDigest()
  std::string setup_command;
  RepositoryIdentity repository;
  std::vector<KeyFile> key_files;
};

// "sha256:<hex>" of the policy's JSON form: equal policies, however written, give one digest.
std::string PolicyDigest(const policy::Policy& policy);

// kKeyLength lowercase hex characters.
std::string CacheKey(const KeyInputs& inputs);

// The inputs as JSON (what `airlock cache show` prints; no credential in it).
nlohmann::json KeyInputsJson(const KeyInputs& inputs);

}  // namespace airlock::cache
