// The run's private object store: a bare repository that airlock makes in <task dir>/git, whose
// objects borrow the user's (objects/info/alternates, read only), used through libgit2 and nothing
// else. libgit2 here reads no system, global or XDG configuration (the search paths are emptied
// once per process), the repository has no work tree, and its HEAD names an unborn branch: no
// attribute, filter, diff driver or hook of any tree can take effect, and every byte that goes in
// was read by airlock's own code (change_walk.h). The finished branch's objects are copied into the
// user's repository as they are (CopyOwnObjectsTo); git only sets the branch there (update-ref).
//
// Why libgit2 (Debian's libgit2-dev) and not git plumbing: blobs are written from a file
// descriptor airlock opened itself, in a stream (no path ever handed to a tool that could follow a
// symlink, no file name passed through a text protocol), trees are built by path updates on the
// base tree with libgit2's own name checks (".git", "..", NTFS/HFS forms refused), and nothing
// runs as a child process that could read the sandbox's files.
#pragma once

#include <git2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace airlock::run {

std::string OidHex(const git_oid& oid);
absl::StatusOr<git_oid> ParseOid(absl::string_view hex);

// git's file modes, as tree entries carry them.
inline constexpr uint32_t kModeFile = 0100644;
inline constexpr uint32_t kModeExecutable = 0100755;
inline constexpr uint32_t kModeSymlink = 0120000;
inline constexpr uint32_t kModeGitlink = 0160000;
inline constexpr uint32_t kModeTree = 0040000;

struct TreeUpdate {
  enum class Kind { kUpsert, kRemove } kind = Kind::kUpsert;
  std::string path;  // '/'-separated
  git_oid blob{};    // upsert only
  uint32_t mode = kModeFile;
};

class GitStore {
 public:
  // Makes <git_dir> (must not exist): a bare repository borrowing `alternate_objects_dir`, HEAD on
  // an unborn branch, core.protectNTFS/protectHFS on (names git refuses on any system are refused).
  static absl::StatusOr<std::unique_ptr<GitStore>> Create(const std::string& git_dir,
                                                          const std::string& alternate_objects_dir);
  // Opens an existing store (tests, tools).
  static absl::StatusOr<std::unique_ptr<GitStore>> Open(const std::string& git_dir);
  ~GitStore();
  GitStore(const GitStore&) = delete;
  GitStore& operator=(const GitStore&) = delete;

  git_repository* repo() const { return repo_; }
  const std::string& git_dir() const { return git_dir_; }

  // The tree of a commit (errors name the commit).
  absl::StatusOr<git_oid> TreeOfCommit(const git_oid& commit) const;

  // Every entry of `tree`, depth first, parents before children: (path, mode, oid). A callback
  // error stops the walk and is returned.
  absl::Status WalkTree(const git_oid& tree,
                        absl::FunctionRef<absl::Status(const std::string& path, uint32_t mode, const git_oid& oid)> visit) const;

  // A blob's size, from its header (no content read).
  absl::StatusOr<uint64_t> BlobSize(const git_oid& blob) const;
  // A blob's bytes in chunks (streamed where the object is loose, whole where it is packed).
  absl::Status ReadBlob(const git_oid& blob, absl::FunctionRef<absl::Status(absl::string_view chunk)> sink) const;

  // The blob id `size` bytes read from `fd` would have, without storing them (reads to the end).
  absl::StatusOr<git_oid> HashFd(int fd, uint64_t size) const;
  // Stores exactly `size` bytes read from `fd` as a blob; each chunk is shown to `observe` first.
  // Fewer or more bytes than `size` is an error (the file changed while it was read).
  absl::StatusOr<git_oid> WriteBlobFromFd(int fd, uint64_t size, absl::FunctionRef<void(absl::string_view)> observe);
  absl::StatusOr<git_oid> WriteBlob(absl::string_view bytes);

  // `base_tree` with the updates applied (libgit2 checks every new name).
  absl::StatusOr<git_oid> UpdateTree(const git_oid& base_tree, const std::vector<TreeUpdate>& updates);
  // Copies every object this store holds itself (not those it borrows) that `objects_dir` (another
  // repository's, with its alternates) lacks, as loose object files, byte for byte and in a stream:
  // no git process packs them (pack-objects maps a loose object whole, 1 GiB for a 1 GiB file). New
  // files and directories get the owner of `objects_dir`. Returns how many were copied.
  absl::StatusOr<size_t> CopyOwnObjectsTo(const std::string& objects_dir) const;

  // The commit refs/heads/<branch> names.
  absl::StatusOr<git_oid> BranchCommit(const std::string& branch) const;

  // A commit of `tree` on `parent` by "airlock run", pointed at by refs/heads/<branch>.
  absl::StatusOr<git_oid> Commit(const git_oid& tree, const git_oid& parent, const std::string& message,
                                 const std::string& branch);

 private:
  GitStore() = default;
  git_repository* repo_ = nullptr;
  git_odb* odb_ = nullptr;
  std::string git_dir_;
};

}  // namespace airlock::run
