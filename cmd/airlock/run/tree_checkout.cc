#include "cmd/airlock/run/tree_checkout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "shim/base/files.h"
#include "shim/base/fs_beneath.h"
#include "shim/base/terminal_text.h"
#include "shim/base/errno_status.h"

namespace airlock::run {
namespace {

constexpr int kMaxResetRounds = 3;

std::pair<std::string, std::string> SplitParent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

absl::Status Chown(int fd, const Owner& owner) {
  if (owner.uid == 0 && owner.gid == 0) return absl::OkStatus();
  if (fchown(fd, owner.uid, owner.gid) != 0) return ErrnoStatus("chown");
  return absl::OkStatus();
}

// The directory `dir` beneath root, made (0755, the owner's) component by component where missing;
// a file or symlink in the way is removed first (a directory the tree needs wins over setup's).
absl::StatusOr<UniqueFd> MakeDirectory(int root_fd, const std::string& dir, const Owner& owner) {
  UniqueFd current;
  absl::StatusOr<UniqueFd> top = OpenBeneath(root_fd, "", O_RDONLY | O_DIRECTORY);
  if (!top.ok()) return top.status();
  current = *std::move(top);
  std::string so_far;
  size_t start = 0;
  while (start < dir.size()) {
    size_t slash = dir.find('/', start);
    std::string name = dir.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    start = slash == std::string::npos ? dir.size() : slash + 1;
    so_far = so_far.empty() ? name : so_far + "/" + name;
    struct stat st {};
    if (fstatat(current.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
      if (absl::Status s = RemoveEntry(current.get(), name); !s.ok()) return s;
    }
    if (mkdirat(current.get(), name.c_str(), 0755) == 0) {
      int made = openat(current.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (made < 0) return ErrnoStatus(absl::StrCat("open ", QuotePath(so_far)));
      UniqueFd made_fd(made);
      if (fchmod(made, 0755) != 0) return ErrnoStatus(absl::StrCat("chmod ", QuotePath(so_far)));
      if (absl::Status s = Chown(made, owner); !s.ok()) return s;
      current = std::move(made_fd);
      continue;
    }
    if (errno != EEXIST) return ErrnoStatus(absl::StrCat("mkdir ", QuotePath(so_far)));
    int next = openat(current.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return ErrnoStatus(absl::StrCat("open ", QuotePath(so_far)));
    current = UniqueFd(next);
  }
  return current;
}

// Writes one tree entry at `path` (whatever was there is removed first).
absl::StatusOr<std::optional<FileStamp>> WriteEntry(const GitStore& store, int root_fd, const std::string& path,
                                                    uint32_t mode, const git_oid& oid, const Owner& owner) {
  auto [dir, name] = SplitParent(path);
  absl::StatusOr<UniqueFd> parent = MakeDirectory(root_fd, dir, owner);
  if (!parent.ok()) return parent.status();
  int pfd = parent->get();
  if (absl::Status s = RemoveEntry(pfd, name); !s.ok()) return s;
  if (mode == kModeTree || mode == kModeGitlink) {
    absl::StatusOr<UniqueFd> made = MakeDirectory(root_fd, path, owner);
    if (!made.ok()) return made.status();
    return std::optional<FileStamp>();
  }
  if (mode == kModeSymlink) {
    std::string target;
    absl::Status read = store.ReadBlob(oid, [&](absl::string_view chunk) {
      if (target.size() + chunk.size() > 4096) return absl::FailedPreconditionError("symlink target over 4096 bytes");
      target.append(chunk.data(), chunk.size());
      return absl::OkStatus();
    });
    if (!read.ok()) return absl::Status(read.code(), absl::StrCat(QuotePath(path), ": ", read.message()));
    if (target.find('\0') != std::string::npos) {
      return absl::FailedPreconditionError(absl::StrCat(QuotePath(path), ": a symlink target holding a NUL byte"));
    }
    if (symlinkat(target.c_str(), pfd, name.c_str()) != 0) return ErrnoStatus(absl::StrCat("symlink ", QuotePath(path)));
    if ((owner.uid != 0 || owner.gid != 0) && fchownat(pfd, name.c_str(), owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus(absl::StrCat("chown ", QuotePath(path)));
    }
    return std::optional<FileStamp>();
  }
  if (mode != kModeFile && mode != kModeExecutable) {
    return absl::FailedPreconditionError(absl::StrCat(QuotePath(path), ": unknown file mode ", absl::StrCat(mode)));
  }
  const mode_t perm = mode == kModeExecutable ? 0755 : 0644;
  int fd = openat(pfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, perm);
  if (fd < 0) return ErrnoStatus(absl::StrCat("create ", QuotePath(path)));
  UniqueFd file(fd);
  absl::Status wrote = store.ReadBlob(oid, [&](absl::string_view chunk) { return WriteAll(fd, chunk, "file"); });
  if (!wrote.ok()) return absl::Status(wrote.code(), absl::StrCat(QuotePath(path), ": ", wrote.message()));
  if (fchmod(fd, perm) != 0) return ErrnoStatus(absl::StrCat("chmod ", QuotePath(path)));
  if (absl::Status s = Chown(fd, owner); !s.ok()) return s;
  struct stat st {};
  if (fstat(fd, &st) != 0) return ErrnoStatus(absl::StrCat("stat ", QuotePath(path)));
  return std::optional<FileStamp>(StampOf(st, oid));
}

}  // namespace

absl::StatusOr<CheckoutStamps> CheckoutTree(const GitStore& store, const BaseTree& tree, int root_fd, const Owner& owner) {
  CheckoutStamps stamps;
  absl::Status walked = store.WalkTree(tree.tree(), [&](const std::string& path, uint32_t mode, const git_oid& oid) {
    absl::StatusOr<std::optional<FileStamp>> stamp = WriteEntry(store, root_fd, path, mode, oid, owner);
    if (!stamp.ok()) return stamp.status();
    if (stamp->has_value()) stamps[path] = **stamp;
    return absl::OkStatus();
  });
  if (!walked.ok()) return walked;
  return stamps;
}

absl::StatusOr<size_t> ResetToTree(const GitStore& store, const BaseTree& origin, const BaseTree& tree, int root_fd,
                                   const Owner& owner, const ChangeLimits& limits, const CheckoutStamps* stamps) {
  size_t rewritten = 0;
  for (const auto& [path, entry] : origin.entries()) {
    if (entry.mode == kModeTree) continue;
    const BaseTree::Entry* wanted = tree.Find(path);
    if (wanted != nullptr && wanted->mode != kModeTree) continue;  // a file there too: the walk compares
    auto [dir, name] = SplitParent(path);
    absl::StatusOr<UniqueFd> parent = OpenBeneath(root_fd, dir, O_RDONLY | O_DIRECTORY);
    if (!parent.ok()) continue;  // not there: nothing to remove (the walk checks the rest)
    if (absl::Status s = RemoveEntry(parent->get(), name); !s.ok()) return s;
    ++rewritten;
  }
  for (auto it = origin.entries().rbegin(); it != origin.entries().rend(); ++it) {
    if (it->second.mode != kModeTree) continue;
    const BaseTree::Entry* wanted = tree.Find(it->first);
    if (wanted != nullptr && wanted->mode == kModeTree) continue;
    auto [dir, name] = SplitParent(it->first);
    absl::StatusOr<UniqueFd> parent = OpenBeneath(root_fd, dir, O_RDONLY | O_DIRECTORY);
    if (!parent.ok()) continue;
    unlinkat(parent->get(), name.c_str(), AT_REMOVEDIR);  // only when empty: what setup put there stays
  }
  for (int round = 0; round < kMaxResetRounds; ++round) {
    absl::StatusOr<WalkResult> diff = WalkChanges(root_fd, tree, stamps, store, limits);
    if (!diff.ok()) return diff.status();
    if (diff->changes.empty()) return rewritten;
    // What the tree lacks goes first, deepest first (a directory's files before it); then the
    // tree's own entries are written again (M, T, D), parents before children.
    for (auto it = diff->changes.rbegin(); it != diff->changes.rend(); ++it) {
      if (it->status != 'A') continue;
      ++rewritten;
      auto [dir, name] = SplitParent(it->path);
      absl::StatusOr<UniqueFd> parent = OpenBeneath(root_fd, dir, O_RDONLY | O_DIRECTORY);
      if (!parent.ok()) continue;  // its directory went already (the next walk tells)
      if (absl::Status s = RemoveEntry(parent->get(), name); !s.ok()) return s;
    }
    for (const WalkChange& change : diff->changes) {
      if (change.status == 'A') continue;
      ++rewritten;
      absl::StatusOr<std::optional<FileStamp>> written =
          WriteEntry(store, root_fd, change.path, change.old_mode, change.old_oid, owner);
      if (!written.ok()) return written.status();
    }
  }
  absl::StatusOr<WalkResult> last = WalkChanges(root_fd, tree, stamps, store, limits);
  if (!last.ok()) return last.status();
  if (!last->changes.empty()) {
    return absl::InternalError(absl::StrCat("the directory still differs from tree ", OidHex(tree.tree()), " after ",
                                            kMaxResetRounds, " rounds (first: ", QuotePath(last->changes[0].path), ")"));
  }
  return rewritten;
}

}  // namespace airlock::run
