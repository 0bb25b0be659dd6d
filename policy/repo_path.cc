#include "policy/repo_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/path_rules.h"
#include "policy/source.h"

namespace airlock::policy {
namespace {

// openat2 with the given resolve flags, retrying the EAGAIN a concurrent rename may cause (bounded).
int OpenAt2(int dirfd, const std::string& path, uint64_t resolve) {
  struct open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = resolve | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0; attempt < 8; ++attempt) {
    long fd = syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN) return static_cast<int>(fd);
  }
  return -1;
}

absl::Status OpenError(int err, absl::string_view what, absl::string_view path) {
  std::string where = absl::StrCat(what, " ", path);
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(absl::StrCat(where, " does not exist"));
    case ENOTDIR:
      return absl::FailedPreconditionError(absl::StrCat(where, " is not a directory (or a component of it is not)"));
    case ELOOP:
      return absl::PermissionDeniedError(
          absl::StrCat(where, " has a symlink in its path: symlinks are never followed, name the real directory"));
    case EXDEV:
      return absl::PermissionDeniedError(absl::StrCat(where, " escapes its allowed root"));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(absl::StrCat(where, ": ", std::strerror(err)));
    case ENOSYS:
      return absl::UnimplementedError(
          absl::StrCat("cannot check ", where, ": the kernel lacks openat2 (Linux 5.6 or later is needed)"));
    default:
      return absl::InternalError(absl::StrCat("open ", where, ": ", std::strerror(err)));
  }
}

}  // namespace

absl::StatusOr<OpenedRepo> OpenRepoPath(absl::string_view annotation_value,
                                        const std::vector<std::string>& allowed_roots) {
  const std::string what = absl::StrCat("repository (annotation ", kRepoAnnotation, ")");
  absl::StatusOr<std::string> repo = CleanAbsolutePath(annotation_value);
  if (!repo.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", repo.status().message()));
  }
  if (std::string problem = HostRepoPathProblem(*repo); !problem.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(what, ": ", problem));
  }
  if (allowed_roots.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ", *repo, ": no allowed repository roots are configured (host config allowed_repo_roots)"));
  }

  std::string root;
  for (const std::string& candidate : allowed_roots) {
    absl::StatusOr<std::string> clean = CleanAbsolutePath(candidate);
    if (!clean.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("allowed repository root: ", clean.status().message()));
    }
    if (std::string problem = HostRepoPathProblem(*clean); !problem.empty()) continue;  // never usable
    if (*repo == *clean) {
      return absl::PermissionDeniedError(
          absl::StrCat(what, " ", *repo, " is an allowed root itself; name a directory under it"));
    }
    if (IsStrictlyUnder(*repo, *clean) && clean->size() > root.size()) root = *clean;
  }
  if (root.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(what, " ", *repo, " is not under an allowed root (allowed: ",
                                                    absl::StrJoin(allowed_roots, ", "), ")"));
  }

  UniqueFd root_fd(OpenAt2(AT_FDCWD, root, 0));
  if (!root_fd) return OpenError(errno, "allowed repository root", root);
  const std::string relative = repo->substr(root.size() + 1);
  UniqueFd repo_fd(OpenAt2(root_fd.get(), relative, RESOLVE_BENEATH));
  if (!repo_fd) return OpenError(errno, what, *repo);
  return OpenedRepo{*std::move(repo), std::move(repo_fd)};
}

absl::StatusOr<std::string> ResolveRepoPath(absl::string_view annotation_value,
                                            const std::vector<std::string>& allowed_roots) {
  absl::StatusOr<OpenedRepo> opened = OpenRepoPath(annotation_value, allowed_roots);
  if (!opened.ok()) return opened.status();
  return std::move(opened->path);
}

}  // namespace airlock::policy
