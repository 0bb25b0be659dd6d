// The repository a container gets as its workspace: the host directory named by the annotation
// airlock.dev/repo must exist, be a directory, and lie strictly under an allowed root, reached without
// following any symlink (in the root's own path too) and without "..".
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "shim/base/unique_fd.h"

namespace airlock::policy {

struct OpenedRepo {
  std::string path;  // canonical: no symlinks, no "." or "..", no trailing "/"
  UniqueFd fd;       // O_PATH directory fd of exactly what was checked
};

// Checks and opens the repository. Bind-mounting "/proc/self/fd/<fd>" (or handing that path, as
// /proc/<shim pid>/fd/<fd>, to runc while the fd stays open) mounts the checked directory even if
// someone swaps a path component for a symlink after the check.
// Errors: InvalidArgument (malformed value), NotFound (missing), PermissionDenied (outside the
// roots, a root itself, a symlink on the way, a system directory), FailedPrecondition (not a
// directory, no roots configured).
absl::StatusOr<OpenedRepo> OpenRepoPath(absl::string_view annotation_value,
                                        const std::vector<std::string>& allowed_roots);

// The same check, returning only the canonical path.
absl::StatusOr<std::string> ResolveRepoPath(absl::string_view annotation_value,
                                            const std::vector<std::string>& allowed_roots);

}  // namespace airlock::policy
