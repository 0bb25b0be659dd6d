// Lexical rules for the paths a policy or host config names (no filesystem access here; see repo_path.h
// for the checks that walk the filesystem).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace airlock::policy {

// An absolute path with "//", "/./" and a trailing "/" collapsed. Relative paths, ".." components, NUL
// and newlines are InvalidArgument errors that say so in words.
absl::StatusOr<std::string> CleanAbsolutePath(absl::string_view path);

// Whether clean absolute `path` is `dir` or lies below it.
bool IsSameOrUnder(absl::string_view path, absl::string_view dir);
// Whether clean absolute `path` lies strictly below `dir`.
bool IsStrictlyUnder(absl::string_view path, absl::string_view dir);

// Why a clean container path cannot carry a mount of ours (workspace, tmpfs): "/" itself, /proc, /sys,
// /dev and /.airlock (the helper's files) and below. "" when it can.
std::string ContainerMountPointProblem(absl::string_view path);

// Why a clean host path can never be a repository or an allowed repository root: "/", system trees
// (/etc, /proc, /sys, /dev, /boot, /run, /var/run, /usr, /bin, /sbin, /lib*) and below, and broad
// directories themselves (/home, /tmp, /var, /var/lib, ...). "" when it can.
std::string HostRepoPathProblem(absl::string_view path);

}  // namespace airlock::policy
