#include "cmd/airlock/run/workspace.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "shim/base/fs_beneath.h"
#include "cmd/airlock/run/git.h"
#include "shim/base/terminal_text.h"
#include "shim/base/errno_status.h"

namespace airlock::run {
namespace {

std::string Trimmed(const std::string& text) { return std::string(absl::StripAsciiWhitespace(text)); }

std::string ModeText(uint32_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%06o", mode);
  return text;
}

}  // namespace

absl::StatusOr<SourceRepo> InspectRepo(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return absl::NotFoundError(absl::StrCat("--repo ", path, ": ", strerror(errno)));
  if (!S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat("--repo ", path, ": not a directory"));
  absl::StatusOr<GitResult> top = RunGit({"rev-parse", "--show-toplevel"}, {.cwd = path});
  if (!top.ok()) return top.status();
  if (top->exit_code != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--repo ", path, " is not a git repository (or has no work tree)"));
  }
  SourceRepo repo;
  repo.toplevel = Trimmed(top->out);
  absl::StatusOr<std::string> common = Git({"rev-parse", "--path-format=absolute", "--git-common-dir"}, {.cwd = repo.toplevel});
  if (!common.ok()) return common.status();
  repo.objects_dir = Trimmed(*common) + "/objects";
  absl::StatusOr<GitResult> format = RunGit({"rev-parse", "--show-object-format"}, {.cwd = repo.toplevel});
  if (!format.ok()) return format.status();
  if (format->exit_code == 0 && Trimmed(format->out) != "sha1") {
    return absl::FailedPreconditionError(absl::StrCat("repository ", repo.toplevel, " uses ", Trimmed(format->out),
                                                      " object ids: airlock run supports SHA-1 repositories only"));
  }
  absl::StatusOr<GitResult> head = RunGit({"rev-parse", "--verify", "--quiet", "HEAD^{commit}"}, {.cwd = repo.toplevel});
  if (!head.ok()) return head.status();
  if (head->exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat("repository ", repo.toplevel, " has no commits yet: nothing to start from"));
  }
  repo.head_commit = Trimmed(head->out);
  absl::StatusOr<GitResult> name = RunGit({"symbolic-ref", "--quiet", "--short", "HEAD"}, {.cwd = repo.toplevel});
  if (!name.ok()) return name.status();
  repo.head_name = name->exit_code == 0 ? Trimmed(name->out) : "detached HEAD";
  return repo;
}

absl::StatusOr<std::vector<std::string>> UncommittedPaths(const SourceRepo& repo) {
  absl::StatusOr<std::string> out =
      Git({"status", "--porcelain=v1", "-z", "--untracked-files=no", "--ignore-submodules=dirty"},
          {.cwd = repo.toplevel});
  if (!out.ok()) return out.status();
  std::vector<std::string> paths;
  std::vector<std::string> entries = absl::StrSplit(*out, '\0', absl::SkipEmpty());
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& entry = entries[i];
    if (entry.size() < 4) continue;
    paths.push_back(entry.substr(3));
    if (entry[0] == 'R' || entry[0] == 'C') ++i;  // the rename's source follows
  }
  return paths;
}

absl::Status CheckBranchAbsent(const SourceRepo& repo, const std::string& branch) {
  absl::StatusOr<GitResult> r = RunGit({"rev-parse", "--verify", "--quiet", "refs/heads/" + branch}, {.cwd = repo.toplevel});
  if (!r.ok()) return r.status();
  if (r->exit_code == 0) {
    return absl::AlreadyExistsError(absl::StrCat("branch ", branch, " already exists in ", repo.toplevel));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RunRepository>> RunRepository::Create(const SourceRepo& repo, const std::string& git_dir) {
  auto run_repo = std::make_unique<RunRepository>();
  absl::StatusOr<std::unique_ptr<GitStore>> store = GitStore::Create(git_dir, repo.objects_dir);
  if (!store.ok()) return store.status();
  run_repo->store_ = *std::move(store);
  run_repo->base_commit_ = repo.head_commit;
  absl::StatusOr<git_oid> commit = ParseOid(repo.head_commit);
  if (!commit.ok()) return commit.status();
  absl::StatusOr<git_oid> tree = run_repo->store_->TreeOfCommit(*commit);
  if (!tree.ok()) return tree.status();
  absl::StatusOr<BaseTree> base = BaseTree::Load(*run_repo->store_, *tree);
  if (!base.ok()) return base.status();
  run_repo->base_ = *std::move(base);
  return run_repo;
}

absl::StatusOr<Workspace> Workspace::Create(RunRepository& repo, const std::string& dir, const Owner& owner,
                                            bool over_cache) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus(absl::StrCat("mkdir ", dir));
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(absl::StrCat("open ", dir));
  if (absl::StatusOr<std::vector<std::string>> inside = ListDirectory(fd, 0); !over_cache && !inside.ok()) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat("workspace ", dir, " is not an empty directory"));
  }
  Workspace w;
  w.repo_ = &repo;
  w.dir_ = dir;
  w.root_ = std::make_shared<UniqueFd>(fd);
  w.owner_ = owner;
  if (fchmod(fd, 0755) != 0) return ErrnoStatus(absl::StrCat("chmod ", dir));
  if ((owner.uid != 0 || owner.gid != 0) && fchown(fd, owner.uid, owner.gid) != 0) return ErrnoStatus(absl::StrCat("chown ", dir));
  absl::StatusOr<CheckoutStamps> stamps = CheckoutTree(repo.store(), repo.base(), fd, owner);
  if (!stamps.ok()) return stamps.status();
  w.stamps_ = *std::move(stamps);
  return w;
}

absl::StatusOr<ChangeSet> Workspace::Collect(const ChangeLimits& limits, SecretScanner& scanner, const std::string& message,
                                             const std::string& branch) {
  GitStore& store = repo_->store();
  const int root = root_->get();
  ChangeSet changes;
  changes.base_commit = repo_->base_commit();
  changes.base_tree = OidHex(repo_->base().tree());
  absl::StatusOr<WalkResult> walk = WalkChanges(root, repo_->base(), &stamps_, store, limits);
  if (!walk.ok()) return walk.status();
  changes.bytes = walk->total_bytes;
  changes.left_out = walk->left_out;
  // A name holding a secret's value is reported by the secret's name only, never shown.
  auto shown = [&](const std::string& path) {
    std::string secret = scanner.SecretInName(path);
    return secret.empty() ? std::string() : "<a name holding secret " + secret + ">";
  };
  for (SkippedEntry& skipped : walk->skipped) {
    std::string masked = shown(skipped.path);
    scanner.ScanName(skipped.path, masked.empty() ? QuotePath(skipped.path) : masked);
    if (!masked.empty()) {
      skipped.path = masked;
      skipped.name_hidden = true;
    }
    changes.skipped.push_back(std::move(skipped));
  }
  if (walk->changes.empty()) {
    changes.leaks = scanner.findings();
    return changes;
  }

  std::vector<TreeUpdate> removals, upserts;
  for (const WalkChange& change : walk->changes) {
    const std::string masked = shown(change.path);
    const std::string where = masked.empty() ? QuotePath(change.path) : masked;
    ChangedFile file{.status = change.status, .path = masked.empty() ? change.path : masked, .name_hidden = !masked.empty()};
    scanner.ScanName(change.path, where);
    if (change.status == 'D') {
      removals.push_back({.kind = TreeUpdate::Kind::kRemove, .path = change.path});
      changes.files.push_back(std::move(file));
      continue;
    }
    absl::StatusOr<git_oid> blob;
    scanner.BeginFile(where);
    if (change.mode == kModeSymlink) {
      scanner.Feed(change.link_target);
      blob = store.WriteBlob(change.link_target);
    } else {
      absl::StatusOr<UniqueFd> fd = OpenBeneath(root, change.path, O_RDONLY | O_NONBLOCK);
      if (!fd.ok()) {
        scanner.EndFile();
        return absl::Status(fd.status().code(), absl::StrCat(where, ": ", fd.status().message()));
      }
      struct stat st {};
      if (fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != change.size) {
        scanner.EndFile();
        return absl::DataLossError(absl::StrCat(where, " changed while the workspace was read"));
      }
      blob = store.WriteBlobFromFd(fd->get(), change.size, [&](absl::string_view chunk) { scanner.Feed(chunk); });
    }
    scanner.EndFile();
    if (!blob.ok()) return absl::Status(blob.status().code(), absl::StrCat(where, ": ", blob.status().message()));
    upserts.push_back({.kind = TreeUpdate::Kind::kUpsert, .path = change.path, .blob = *blob, .mode = change.mode});
    file.new_blob = OidHex(*blob);
    file.new_mode = ModeText(change.mode);
    changes.files.push_back(std::move(file));
  }
  changes.leaks = scanner.findings();
  // Removals first, then additions: a path that changed between file and directory is never both
  // in one tree update (libgit2 refuses that as a D/F conflict).
  git_oid tree = repo_->base().tree();
  for (const std::vector<TreeUpdate>* round : {&removals, &upserts}) {
    if (round->empty()) continue;
    absl::StatusOr<git_oid> next = store.UpdateTree(tree, *round);
    if (!next.ok()) {
      // libgit2 refuses a name git would refuse on some system that the walk let through: that is
      // the walk's refusal too, with libgit2's words.
      if (absl::StrContains(next.status().message(), "invalid name")) {
        return absl::PermissionDeniedError(absl::StrCat("the change set holds a name git refuses (",
                                                        EscapeForTerminal(next.status().message(), false),
                                                        "); the change set is refused"));
      }
      return next.status();
    }
    tree = *next;
  }
  changes.tree = OidHex(tree);
  absl::StatusOr<git_oid> parent = ParseOid(repo_->base_commit());
  if (!parent.ok()) return parent.status();
  absl::StatusOr<git_oid> commit = store.Commit(tree, *parent, message, branch);
  if (!commit.ok()) return commit.status();
  changes.commit = OidHex(*commit);
  return changes;
}

absl::StatusOr<size_t> Workspace::ResetTo(const std::string& tree_hex, const ChangeLimits& limits) {
  absl::StatusOr<git_oid> tree = ParseOid(tree_hex);
  if (!tree.ok()) return tree.status();
  absl::StatusOr<BaseTree> target = BaseTree::Load(repo_->store(), *tree);
  if (!target.ok()) return target.status();
  return ResetToTree(repo_->store(), repo_->base(), *target, root_->get(), owner_, limits, &stamps_);
}

absl::StatusOr<PatchStats> WriteReviewPatch(RunRepository& repo, const std::string& commit, const std::string& path,
                                            const PatchOptions& options) {
  absl::StatusOr<git_oid> oid = ParseOid(commit);
  if (!oid.ok()) return oid.status();
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(absl::StrCat("create ", path));
  UniqueFd out(fd);
  absl::StatusOr<PatchStats> stats = WritePatch(repo.store().repo(), *oid, fd, options);
  if (stats.ok() && fsync(fd) != 0) stats = ErrnoStatus(absl::StrCat("write ", path));
  if (!stats.ok()) {
    unlink(path.c_str());
    return stats.status();
  }
  return stats;
}

absl::Status PublishBranch(const SourceRepo& repo, const RunRepository& run_repo, const std::string& branch) {
  // The run's own objects (the changed blobs, the trees, the commit) are copied as they are; then
  // one ref update that git refuses if the branch appeared meanwhile (the empty old value).
  absl::StatusOr<git_oid> commit = run_repo.store().BranchCommit(branch);
  if (!commit.ok()) return commit.status();
  absl::StatusOr<size_t> copied = run_repo.store().CopyOwnObjectsTo(repo.objects_dir);
  if (!copied.ok()) return copied.status();
  absl::StatusOr<std::string> r =
      Git({"update-ref", "-m", "airlock run: review branch", "refs/heads/" + branch, OidHex(*commit), ""}, {.cwd = repo.toplevel});
  return r.status();
}

}  // namespace airlock::run
