// The setup cache's host side: what a sandbox's setup added to its workspace (node_modules/, .venv/,
// vendor/: the paths the base tree does not track) copied into a cache directory at the seal, the
// check that a cached lower layer holds nothing where a new HEAD tracks a path, and the secret scan
// of a whole directory tree (an overlay upper layer).
//
// Everything walked here was written by a hostile sandbox. The walk (one walker, shared):
//  - never follows a symlink and never crosses a mount: each directory is opened from its parent's
//    fd with openat2 (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
//    RESOLVE_NO_XDEV), each entry looked at with statx(AT_SYMLINK_NOFOLLOW) and its mount id
//    compared with the root's; a mount point anywhere is an error (FailedPrecondition), as is an
//    entry whose type or identity changed between the look and the open (Aborted);
//  - reads a directory as a stream (readdir): memory for names is one name per level (and each
//    level's readdir buffer), never a listing of a directory or of the tree; one directory fd per
//    level (the capture adds one per level of the destination): at most about 2 x max_depth fds;
//  - bounds entries, bytes of regular files, depth and path length: past any, ResourceExhausted
//    naming the bound and the path, never a partial result (the caller empties the destination);
//  - shows a path only quoted (QuotePath), or as "(a path holding NAME)" when the path holds a
//    secret's value; every name it reads is fed to the scanner (ScanName), every regular file's
//    bytes and every symlink's target too (BeginFile/Feed/EndFile).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cmd/airlock/run/change_walk.h"
#include "cmd/airlock/run/tree_checkout.h"
#include "policy/sandbox/secret_scan.h"

namespace airlock::cache {

struct WalkLimits {
  uint64_t max_entries = 2'000'000;   // directory entries looked at, in all
  uint64_t max_bytes = 16ull << 30;   // sum of the regular files' sizes
  size_t max_depth = 256;             // path components (a top-level entry is at depth 1)
  size_t max_path_length = 4096;      // bytes of a path relative to the root
};
using CaptureLimits = WalkLimits;
using ScanLimits = WalkLimits;

// How many top-level paths and skipped entries CaptureStats lists; the rest are counted.
inline constexpr size_t kMaxTopLevelListed = 20;
inline constexpr size_t kMaxSkippedListed = 1000;

struct CaptureStats {
  uint64_t files = 0;     // regular files copied
  uint64_t dirs = 0;      // directories captured (not the tracked parents made to hold them)
  uint64_t symlinks = 0;  // symlinks recreated
  uint64_t bytes = 0;     // bytes of the files copied
  // Fifos, sockets and devices left out: "<quoted path> (fifo)", "... (socket)", "... (character
  // device)", "... (block device)"; at most kMaxSkippedListed, then counted in skipped_more.
  std::vector<std::string> skipped;
  uint64_t skipped_more = 0;
  // Captured entries named `.git` (any case, or another name git_names.h takes for one), of any
  // type: copied as data like the rest, counted so the caller can say so.
  uint64_t git_dirs = 0;
  // The captured paths whose parent is a tracked directory (where each captured subtree starts),
  // quoted for display, in the order found; at most kMaxTopLevelListed, then counted in top_level_more.
  std::vector<std::string> top_level;
  uint64_t top_level_more = 0;
};

// Copies what the workspace beneath `workspace_fd` holds and `base` does not track into `dest_fd`
// (an empty directory of ours). A path `base` has as a directory is walked into (when the
// workspace has a directory there); any other tracked path (file, executable, symlink, gitlink,
// or a tracked directory setup replaced) is left out whole; an untracked path is captured whole:
// directories, regular files (bytes), symlinks (their target bytes, never followed); fifos,
// sockets and devices are listed in `skipped`. Tracked directories holding a captured entry are
// made in `dest` (0755, `owner`). Captured entries keep their permission bits & 0777 (no setuid,
// setgid or sticky bit) and mtime, and are owned by `owner`; hard links become separate copies.
// Every name looked at, every copied file's bytes and every symlink target go to `scanner` (the
// caller reads scanner.findings() and throws the cache away on any).
// Errors: ResourceExhausted (a bound of `limits`), FailedPrecondition (a mount point in the
// workspace, or `dest_fd` not empty), Aborted (an entry changed while it was read), others from
// the file system. On any error `dest` holds a partial copy: the caller empties it.
absl::StatusOr<CaptureStats> CaptureUntracked(int workspace_fd, const run::BaseTree& base, int dest_fd,
                                              const run::Owner& owner, const CaptureLimits& limits,
                                              SecretScanner& scanner);

// Before a new HEAD is laid over a cached lower layer: FailedPrecondition("the new HEAD tracks
// PATH, which the cache holds as untracked (a directory|a file|a symlink|a special file)") when the
// layer beneath `lower_fd` has an entry at a path `tree` tracks, unless both are directories. A
// symlink or file where the tree has a directory is that directory's conflict (nothing below is
// looked up through it). One lstat per tree entry whose parent the layer has as a directory, one
// open per directory both have; nothing below a directory the layer lacks is looked at.
absl::Status CheckLowerAgainstTree(int lower_fd, const run::BaseTree& tree);

// Walks the whole tree beneath `root_fd` (an overlay upper layer, say) with the same rules: every
// name and every regular file's bytes (and symlink target) to `scanner`; fifos, sockets and
// devices (an overlay whiteout is a 0:0 character device) skipped silently. Bounded by `limits`
// (ResourceExhausted). Returns the bytes of regular files read; the caller reads scanner.findings().
absl::StatusOr<uint64_t> ScanTreeForSecrets(int root_fd, SecretScanner& scanner, const ScanLimits& limits);

}  // namespace airlock::cache
