// The repository side of `airlock run`: checks on the user's repository, the run's private object
// store, the disposable workspaces the sandboxes get, the change set that comes out of them, and
// the one write the user's repository ever sees: the review branch.
//
// A workspace is a plain directory holding the base commit's files byte for byte, WITHOUT a .git,
// written by airlock itself (tree_checkout.h). The sandbox can write anything there; no git process
// ever looks at it. Its changes are found by airlock's own walk (change_walk.h) and stored by
// airlock into the private repository <task dir>/git (git_store.h), which borrows the user's
// objects read-only. git runs only on the user's repository (inspection and, at the end, one
// `git update-ref` that sets the finished branch, whose objects airlock copied in as they are).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cmd/airlock/run/change_walk.h"
#include "cmd/airlock/run/git_store.h"
#include "cmd/airlock/run/patch_writer.h"
#include "policy/sandbox/secret_scan.h"
#include "cmd/airlock/run/tree_checkout.h"
#include "shim/base/unique_fd.h"

namespace airlock::run {

struct SourceRepo {
  std::string toplevel;     // absolute, symlinks resolved
  std::string objects_dir;  // <common git dir>/objects
  std::string head_commit;  // full hash
  std::string head_name;    // branch name, or "detached HEAD"
};

// Errors name the path: no such directory, not a git repository, no commits yet, not SHA-1.
absl::StatusOr<SourceRepo> InspectRepo(const std::string& path);
// Tracked paths with changes not in HEAD (staged or not): the sandbox would not see them.
absl::StatusOr<std::vector<std::string>> UncommittedPaths(const SourceRepo& repo);
// AlreadyExists when the branch exists in the user's repository.
absl::Status CheckBranchAbsent(const SourceRepo& repo, const std::string& branch);

struct ChangedFile {
  char status = 'M';      // A, M, D, T (type change)
  std::string path;       // bytes, as the workspace named it
  std::string new_blob;   // empty for D
  std::string new_mode;   // "100644", "100755", "120000" (symlink)
  bool name_hidden = false;  // `path` is "<a name holding secret NAME>": the name held a secret
};

struct ChangeSet {
  std::string base_commit;
  std::string base_tree;
  std::string commit;     // empty: nothing changed
  std::string tree;       // the commit's tree (the branch's), empty with no commit
  std::vector<ChangedFile> files;
  uint64_t bytes = 0;     // of the new files together
  std::vector<SkippedEntry> skipped;  // fifos, sockets, devices: not collected (as with git)
  std::vector<std::string> left_out;  // other things not collected, said (a top-level .git)
  std::vector<SecretFinding> leaks;   // in the files' bytes and names
  // In `files` and `skipped`, a name holding a secret's value is replaced by "<a name holding
  // secret NAME>": it is never shown (the change set is blocked anyway).
};

// The run's private repository: <git_dir> borrowing the user's objects, the base commit's tree.
class RunRepository {
 public:
  static absl::StatusOr<std::unique_ptr<RunRepository>> Create(const SourceRepo& repo, const std::string& git_dir);

  GitStore& store() { return *store_; }
  const GitStore& store() const { return *store_; }
  const BaseTree& base() const { return base_; }
  const std::string& base_commit() const { return base_commit_; }

 private:
  std::unique_ptr<GitStore> store_;
  BaseTree base_;
  std::string base_commit_;
};

class Workspace {
 public:
  // Makes `dir` (or takes it when it is an empty directory, e.g. a mount point; its parent must
  // exist) and writes the base tree into it, owned by `owner`. `over_cache`: `dir` is an overlay
  // on a setup-cache entry, which holds only paths the tree does not track (checked before).
  static absl::StatusOr<Workspace> Create(RunRepository& repo, const std::string& dir, const Owner& owner,
                                          bool over_cache = false);

  const std::string& dir() const { return dir_; }

  // The change set: walk (limits and refusals first, see WalkChanges for the status codes), every
  // changed file stored in the private repository as its bytes are read and shown to `scanner`,
  // then one commit on `branch` whose parent is the base. Nothing changed: ChangeSet.commit empty.
  absl::StatusOr<ChangeSet> Collect(const ChangeLimits& limits, SecretScanner& scanner, const std::string& message,
                                    const std::string& branch);

  // Makes the workspace hold exactly `tree` (ignored paths aside), verified by a second walk.
  absl::StatusOr<size_t> ResetTo(const std::string& tree, const ChangeLimits& limits);

 private:
  RunRepository* repo_ = nullptr;
  std::string dir_;
  std::shared_ptr<UniqueFd> root_;  // the directory, opened without following symlinks
  CheckoutStamps stamps_;
  Owner owner_;
};

// Writes the review patch of `commit` to `path` (created new, 0644). Returns the patch's stats.
absl::StatusOr<PatchStats> WriteReviewPatch(RunRepository& repo, const std::string& commit, const std::string& path,
                                            const PatchOptions& options = {});

// Fetches the run's branch from the private repository into the user's repository (a new branch;
// nothing else of the user's repository is written).
absl::Status PublishBranch(const SourceRepo& repo, const RunRepository& run_repo, const std::string& branch);

}  // namespace airlock::run
