#include "cmd/airlock/cache/cache_key.h"

#include <future>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cmd/airlock/run/git.h"
#include "policy/json.h"
#include "shim/base/sha256.h"
#include "shim/base/terminal_text.h"

namespace airlock::cache {

absl::StatusOr<RepositoryIdentity> IdentifyRepository(const run::SourceRepo& repo) {
  run::GitOptions options{.cwd = repo.toplevel};
  // Two git processes at once: each costs a few milliseconds of start-up, which a warm run feels.
  std::future<absl::StatusOr<run::GitResult>> remote =
      std::async(std::launch::async, [&] { return run::RunGit({"config", "--get", "remote.origin.url"}, options); });
  absl::StatusOr<std::string> roots =
      run::Git({"rev-list", "--first-parent", "--max-parents=0", repo.head_commit}, options);
  absl::StatusOr<run::GitResult> url = remote.get();
  if (!roots.ok()) return absl::Status(roots.status().code(), absl::StrCat("the repository's root commit: ", roots.status().message()));
  RepositoryIdentity identity;
  identity.root_commit = std::string(absl::StripAsciiWhitespace(*roots));
  if (identity.root_commit.size() != 40 && identity.root_commit.size() != 64) {
    return absl::InternalError("the repository's root commit: git gave no single commit");
  }
  if (!url.ok()) return url.status();
  if (url->exit_code == 0) {
    identity.remote = WithoutUserInfo(std::string(absl::StripAsciiWhitespace(url->out)));
  }
  return identity;
}

std::string WithoutUserInfo(const std::string& url) {
  size_t scheme = url.find("://");
  size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t end = url.find('/', start);
  size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
  if (at == std::string::npos || at < start) return url;
  return url.substr(0, start) + url.substr(at + 1);
}

std::vector<KeyFile> KeyFilesAt(const run::BaseTree& tree, const std::vector<std::string>& paths) {
  std::vector<KeyFile> files;
  for (const std::string& path : paths) {
    const run::BaseTree::Entry* e = tree.Find(path);
    std::string content = "absent";
    if (e != nullptr) {
      char hex[GIT_OID_HEXSZ + 1] = {};
      git_oid_tostr(hex, sizeof hex, &e->oid);
      switch (e->mode) {
        case run::kModeTree: content = "directory"; break;
        case run::kModeGitlink: content = absl::StrCat("submodule ", hex); break;
        case run::kModeSymlink: content = absl::StrCat("symlink ", hex); break;
        case run::kModeExecutable: content = absl::StrCat("executable ", hex); break;
        default: content = absl::StrCat("blob ", hex); break;
      }
    }
    files.push_back({path, content});
  }
  return files;
}

std::string PolicyDigest(const policy::Policy& policy) {
  // Bytes that are not UTF-8 (a command's argument) are replaced, never thrown on: the digest
  // only tells policies apart, and the setup command is a key input of its own.
  return "sha256:" + Sha256Hex(policy::PolicyToJson(policy).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

nlohmann::json KeyInputsJson(const KeyInputs& in) {
  nlohmann::json files = nlohmann::json::array();
  for (const KeyFile& f : in.key_files) {
    nlohmann::json file = {{"content", f.content}};
    SetJsonText(file, "path", f.path);
    files.push_back(std::move(file));
  }
  nlohmann::json j = {{"format", kCacheFormat},          {"image_digest", in.image_digest},
                      {"chain_id", in.chain_id},          {"snapshotter", in.snapshotter},
                      {"policy", in.policy_digest},       {"root_commit", in.repository.root_commit},
                      {"key_files", files}};
  SetJsonText(j, "image", in.image_name);
  SetJsonText(j, "setup", in.setup_command);
  SetJsonText(j, "remote", in.repository.remote);
  return j;
}

std::string CacheKey(const KeyInputs& in) {
  // Each field as "<name>=<length>:<bytes>": names and values are any bytes, and no two inputs
  // give the same text.
  Sha256 hash;
  auto field = [&](absl::string_view name, absl::string_view value) {
    hash.Update(absl::StrCat(name, "=", value.size(), ":"));
    hash.Update(value);
  };
  field("format", std::to_string(kCacheFormat));
  field("image", in.image_name);
  field("image_digest", in.image_digest);
  field("chain_id", in.chain_id);
  field("snapshotter", in.snapshotter);
  field("policy", in.policy_digest);
  field("setup", in.setup_command);
  field("root_commit", in.repository.root_commit);
  field("remote", in.repository.remote);
  field("key_files", std::to_string(in.key_files.size()));
  for (const KeyFile& f : in.key_files) {
    field("path", f.path);
    field("content", f.content);
  }
  std::array<uint8_t, 32> digest = hash.Finish();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key;
  for (size_t i = 0; key.size() < kKeyLength; ++i) {
    key += kHex[digest[i] >> 4];
    key += kHex[digest[i] & 15];
  }
  return key;
}

}  // namespace airlock::cache
