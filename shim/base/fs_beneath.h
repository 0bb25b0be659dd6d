// Filesystem access inside a directory whose contents a sandbox wrote: every path is resolved by
// the kernel beneath a directory fd without following any symlink (openat2 RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), files are opened without
// blocking on a fifo, and removal never leaves the tree. Names are bytes.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "shim/base/unique_fd.h"

namespace airlock {

// Whether a lookup may pass a mount point (a container's own tree, mounts included) or not (a
// directory a sandbox wrote, where a mount could only be one it made).
enum class MountCrossing { kRefuse, kAllow };

// Opens `relative` ("" or "." for the directory itself) beneath `root_fd`; `flags` gets
// O_CLOEXEC | O_NOFOLLOW added. ELOOP/EXDEV mean a symlink or a mount point was in the way.
absl::StatusOr<UniqueFd> OpenBeneath(int root_fd, const std::string& relative, int flags, mode_t mode = 0,
                                     MountCrossing mounts = MountCrossing::kRefuse);

// The entries of a directory (no "." or ".."), sorted bytewise. More than `max_entries` is an
// error (OutOfRange), never a partial list.
absl::StatusOr<std::vector<std::string>> ListDirectory(int dir_fd, size_t max_entries);

// A regular file's bytes (`name` in `dir_fd`, not followed); nullopt when there is no such entry
// or it is not a regular file; OutOfRange past `max_bytes`.
absl::StatusOr<std::optional<std::string>> ReadRegularFile(int dir_fd, const std::string& name, uint64_t max_bytes);

// Removes `name` in `dir_fd` and, for a directory, everything below it (never following a
// symlink, never crossing a mount), with two fds open whatever the depth. Absent is fine. Bounded
// by `max_entries` removals. Nothing else may change the tree meanwhile (".." is trusted).
absl::Status RemoveEntry(int dir_fd, const std::string& name, size_t max_entries = 10'000'000);

}  // namespace airlock
