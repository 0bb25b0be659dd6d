// What a sandbox changed in its workspace, found by airlock's own walk of the directory: no git
// process ever reads a byte of it (git would read a nested repository's config and run its filters,
// honour .gitattributes, follow a `.git` file's gitdir). The walk:
//  - never follows a symlink (directories are opened beneath the workspace with openat2, entries
//    looked at with lstat; a symlink is data: its target bytes);
//  - takes names as bytes, and every tracked path of the base tree is compared, every untracked one
//    collected unless the workspace's own .gitignore files (read as data, ignore_rules.h) exclude it;
//  - REFUSES (never "treats as data") a `.git` entry of any kind anywhere it looks (also `.GIT`,
//    `git~1` and the other names git itself refuses on some system, git_names.h), but for a `.git`
//    DIRECTORY at the top, which git never collects either (an agent's `git init`): left out, never
//    opened, and said; inside a directory the .gitignore files exclude nothing is looked at (so
//    nothing there leaves the sandbox either); and a submodule path (a gitlink of the base)
//    that is anything but the empty directory it was checked out as: the agent cannot change a
//    submodule, and a repository inside the workspace is exactly what made host git run its code;
//  - bounds itself: entries looked at, directory depth, path length, .gitignore size, and the
//    change set's limits (files, bytes of one file, bytes in all), each a refusal with its message,
//    never a partial result;
//  - skips fifos, sockets and devices (as git does), and says which.
// It reads contents only to decide whether a same-sized tracked file really changed (hashed, not
// stored); the caller stores the changed files afterwards (change_set.h).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "cmd/airlock/run/git_store.h"

namespace airlock::run {

// The tree a workspace was made from, as a path index.
class BaseTree {
 public:
  struct Entry {
    uint32_t mode = 0;  // kModeFile, kModeExecutable, kModeSymlink, kModeGitlink or kModeTree
    git_oid oid{};
  };
  // Refuses a tree airlock could not check out faithfully (an entry named ".", "..", ".git" or
  // holding a '/'): such a tree can only come from a crafted repository.
  static absl::StatusOr<BaseTree> Load(const GitStore& store, const git_oid& tree);

  const Entry* Find(const std::string& path) const;
  // Names directly inside directory `dir` ("" for the root), sorted bytewise.
  const std::vector<std::string>& Children(const std::string& dir) const;
  // Every path at or below `path` (a file: itself), for "the whole directory went away".
  std::vector<std::string> PathsBelow(const std::string& path) const;
  size_t size() const { return entries_.size(); }
  const git_oid& tree() const { return tree_; }
  // Every entry by path (bytewise order: a directory before what it holds).
  const std::map<std::string, Entry>& entries() const { return entries_; }

 private:
  git_oid tree_{};
  std::map<std::string, Entry> entries_;
  std::unordered_map<std::string, std::vector<std::string>> children_;
};

// A file's identity right after airlock wrote it (tree_checkout.h): while it still matches, the
// file holds blob `oid` (a write changes the ctime, which nothing in a sandbox can set back without
// the system clock, and a replaced file has another inode).
struct FileStamp {
  git_oid oid{};
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  mode_t mode = 0;
};
using CheckoutStamps = std::unordered_map<std::string, FileStamp>;
FileStamp StampOf(const struct stat& st, const git_oid& oid);
bool SameStamp(const FileStamp& a, const FileStamp& b);

// "fifo", "socket", "character device", "block device" or "special file": what a walk names an
// entry it leaves out.
const char* SpecialFileKind(mode_t mode);

struct ChangeLimits {
  uint64_t max_files = 10000;
  uint64_t max_file_size = 64ull << 20;
  uint64_t max_total_size = 256ull << 20;
  // The walk's own bounds (not user-facing flags).
  uint64_t max_entries = 2'000'000;   // looked at, beyond the base tree's own size
  size_t max_depth = 1024;
  size_t max_path_bytes = 4096;
  uint64_t max_gitignore_bytes = 1ull << 20;  // of one .gitignore, and of those in force at once
  uint64_t max_ignore_work = 50'000'000;      // rule levels asked, over the whole walk
  size_t max_skipped = 1000;                  // fifos, sockets, devices listed
};

struct WalkChange {
  char status = 'M';          // A added, M modified (content or mode), D deleted, T type changed
  std::string path;
  uint32_t mode = 0;          // new mode (0 for D)
  uint64_t size = 0;          // new size: a file's bytes, a symlink's target length
  git_oid old_oid{};          // M, T, D
  uint32_t old_mode = 0;      // M, T, D
  std::string link_target;    // new symlink target (mode kModeSymlink)
};

struct SkippedEntry {
  std::string path;  // bytes
  std::string kind;  // "fifo", "socket", "character device", ...
  bool name_hidden = false;  // `path` is "<a name holding secret NAME>", not the name
};

struct WalkResult {
  std::vector<WalkChange> changes;  // sorted by path, bytewise
  uint64_t total_bytes = 0;         // sum of the new sizes
  std::vector<SkippedEntry> skipped;   // not a file, directory or symlink: left out, as git does
  std::vector<std::string> left_out;   // other things left out, said: a top-level .git the agent made
  uint64_t entries_seen = 0;
};

// Why a walk gave no change set, by status code:
//   PermissionDenied   refused: a .git entry or a changed submodule path (the message names it)
//   ResourceExhausted  over a limit (the message names the limit and its flag)
//   anything else      an error reading the workspace
// `stamps` may be null (then every same-sized tracked file is hashed); a stamp counts only for the
// blob it was taken for.
absl::StatusOr<WalkResult> WalkChanges(int root_fd, const BaseTree& base, const CheckoutStamps* stamps,
                                       const GitStore& store, const ChangeLimits& limits);

}  // namespace airlock::run
