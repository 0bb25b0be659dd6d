// Writing a tree of the run's object store into a workspace directory with airlock's own code: the
// blobs' bytes exactly (no filter, no end-of-line conversion, no attribute, no LFS smudge: the
// workspace holds HEAD byte for byte), executables 0755 and files 0644 whatever the umask,
// symlinks as symlinks, submodules (gitlinks) as empty directories, every entry owned by the
// image's user. Nothing is followed: every path is opened beneath the workspace (fs_beneath.h).
//
// ResetToTree makes a directory that a sandbox's setup has worked in hold a given tree again (the
// check's workspace: the same setup as the agent's, then exactly the agent's change set), leaving
// what the .gitignore files exclude (setup's installs) as it is, and proves it by walking again.
#pragma once

#include <sys/types.h>

#include "absl/status/statusor.h"
#include "cmd/airlock/run/change_walk.h"
#include "cmd/airlock/run/git_store.h"

namespace airlock::run {

struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
};

// `root_fd`: an empty directory. Returns each file's stamp as written (for the change walk).
absl::StatusOr<CheckoutStamps> CheckoutTree(const GitStore& store, const BaseTree& tree, int root_fd, const Owner& owner);

// Brings the directory, checked out from `origin`, to `tree`: first every path of `origin` that
// `tree` lacks is removed whatever the .gitignore files say (a tracked file in an ignored directory
// is tracked: the walk alone would leave it), with the directories that leaves empty; then walk,
// fix, walk again (at most a few rounds). Over `limits` or a .git entry: the same refusals as the
// change walk. Returns the number of paths removed or rewritten.
absl::StatusOr<size_t> ResetToTree(const GitStore& store, const BaseTree& origin, const BaseTree& tree, int root_fd,
                                   const Owner& owner, const ChangeLimits& limits, const CheckoutStamps* stamps = nullptr);

}  // namespace airlock::run
