// The repository side of `airlock run`: checks on the user's repository, the disposable workspace
// the sandbox gets, the change set that comes out of it, and the one write the user's repository
// ever sees: the review branch.
//
// The workspace is a plain checkout of the user's HEAD in <task dir>/repo WITHOUT a .git: the
// sandbox can write anything there, and git on the host must never read a config or hook it made.
// Its git directory is <task dir>/git, private to the host: a bare repository that borrows the
// user's objects (objects/info/alternates, read only) and keeps the run's commit.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace airlock::run {

struct SourceRepo {
  std::string toplevel;     // absolute, symlinks resolved
  std::string objects_dir;  // <common git dir>/objects
  std::string head_commit;  // full hash
  std::string head_name;    // branch name, or "detached HEAD"
};

// Errors name the path: no such directory, not a git repository, no commits yet.
absl::StatusOr<SourceRepo> InspectRepo(const std::string& path);
// Tracked paths with changes not in HEAD (staged or not): the sandbox would not see them.
absl::StatusOr<std::vector<std::string>> UncommittedPaths(const SourceRepo& repo);
// AlreadyExists when the branch exists in the user's repository.
absl::Status CheckBranchAbsent(const SourceRepo& repo, const std::string& branch);

struct ChangedFile {
  char status = 'M';      // A, M, D, T (type change)
  std::string path;
  std::string new_blob;   // empty for D
  std::string new_mode;   // "100644", "100755", "120000" (symlink), "160000" (gitlink)
};

struct ChangeSet {
  std::string base_commit;
  std::string commit;     // empty: nothing changed
  std::vector<ChangedFile> files;
  int insertions = 0;
  int deletions = 0;
  std::string patch;      // git format-patch of the commit (binary diffs included)
};

class Workspace {
 public:
  // <task_dir>/git and <task_dir>/repo (task_dir must exist); the run's branch points at HEAD.
  static absl::StatusOr<Workspace> Create(const SourceRepo& repo, const std::string& task_dir, const std::string& branch);

  const std::string& dir() const { return work_tree_; }
  const std::string& git_dir() const { return git_dir_; }

  // Commits everything in the workspace (as .gitignore says) on the run's branch. `message` is the
  // commit message; author and committer are "airlock run".
  absl::StatusOr<ChangeSet> Collect(const std::string& message);
  // The bytes of a blob of the private repository.
  absl::StatusOr<std::string> BlobBytes(const std::string& blob) const;

 private:
  std::string git_dir_;
  std::string work_tree_;
  std::string branch_;
  std::string base_commit_;
};

// Fetches the run's branch from the private repository into the user's repository (a new branch;
// nothing else of the user's repository is written).
absl::Status PublishBranch(const SourceRepo& repo, const Workspace& workspace, const std::string& branch);

// Parses `git diff-tree -r -z --no-renames` output.
absl::StatusOr<std::vector<ChangedFile>> ParseDiffTree(const std::string& raw);

}  // namespace airlock::run
