#include "cmd/airlock/run/workspace.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cmd/airlock/run/git.h"

namespace airlock::run {
namespace {

constexpr char kAuthorName[] = "airlock run";
constexpr char kAuthorEmail[] = "airlock@localhost";

std::string Trimmed(const std::string& text) { return std::string(absl::StripAsciiWhitespace(text)); }

std::vector<std::string> AuthorEnv() {
  return {absl::StrCat("GIT_AUTHOR_NAME=", kAuthorName), absl::StrCat("GIT_AUTHOR_EMAIL=", kAuthorEmail),
          absl::StrCat("GIT_COMMITTER_NAME=", kAuthorName), absl::StrCat("GIT_COMMITTER_EMAIL=", kAuthorEmail)};
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
      Git({"status", "--porcelain=v1", "-z", "--untracked-files=no", "--ignore-submodules=dirty"}, {.cwd = repo.toplevel});
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

absl::StatusOr<Workspace> Workspace::Create(const SourceRepo& repo, const std::string& task_dir, const std::string& branch) {
  Workspace w;
  w.git_dir_ = task_dir + "/git";
  w.work_tree_ = task_dir + "/repo";
  w.branch_ = branch;
  w.base_commit_ = repo.head_commit;
  if (absl::StatusOr<std::string> r = Git({"init", "--bare", "--quiet", w.git_dir_}, {}); !r.ok()) return r.status();
  {
    std::ofstream alternates(w.git_dir_ + "/objects/info/alternates");
    alternates << repo.objects_dir << "\n";
    if (!alternates) return absl::InternalError(absl::StrCat("cannot write ", w.git_dir_, "/objects/info/alternates"));
  }
  if (mkdir(w.work_tree_.c_str(), 0755) != 0) return absl::InternalError(absl::StrCat("mkdir ", w.work_tree_, ": ", strerror(errno)));
  GitOptions in_private{.git_dir = w.git_dir_};
  GitOptions with_tree{.git_dir = w.git_dir_, .work_tree = w.work_tree_};
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"update-ref", "refs/heads/" + branch, repo.head_commit},
           {"symbolic-ref", "HEAD", "refs/heads/" + branch}}) {
    if (absl::StatusOr<std::string> r = Git(args, in_private); !r.ok()) return r.status();
  }
  if (absl::StatusOr<std::string> r = Git({"read-tree", "-u", "--reset", "HEAD"}, with_tree); !r.ok()) return r.status();
  return w;
}

absl::StatusOr<ChangeSet> Workspace::Collect(const std::string& message) {
  GitOptions with_tree{.git_dir = git_dir_, .work_tree = work_tree_, .env = AuthorEnv()};
  ChangeSet changes;
  changes.base_commit = base_commit_;
  if (absl::StatusOr<std::string> r = Git({"add", "--all", "--", "."}, with_tree); !r.ok()) return r.status();
  absl::StatusOr<GitResult> quiet = RunGit({"diff", "--cached", "--quiet"}, with_tree);
  if (!quiet.ok()) return quiet.status();
  if (quiet->exit_code == 0) return changes;  // nothing changed
  if (absl::StatusOr<std::string> r = Git({"commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", message}, with_tree);
      !r.ok()) {
    return r.status();
  }
  GitOptions in_private{.git_dir = git_dir_};
  absl::StatusOr<std::string> head = Git({"rev-parse", "HEAD"}, in_private);
  if (!head.ok()) return head.status();
  changes.commit = Trimmed(*head);
  absl::StatusOr<std::string> raw = Git({"diff-tree", "-r", "-z", "--no-renames", base_commit_, changes.commit}, in_private);
  if (!raw.ok()) return raw.status();
  absl::StatusOr<std::vector<ChangedFile>> files = ParseDiffTree(*raw);
  if (!files.ok()) return files.status();
  changes.files = *std::move(files);
  absl::StatusOr<std::string> numstat = Git({"diff-tree", "-r", "--numstat", "--no-renames", base_commit_, changes.commit}, in_private);
  if (!numstat.ok()) return numstat.status();
  for (absl::string_view line : absl::StrSplit(*numstat, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> cols = absl::StrSplit(line, '\t');
    int added = 0, removed = 0;
    if (cols.size() >= 2 && absl::SimpleAtoi(cols[0], &added) && absl::SimpleAtoi(cols[1], &removed)) {
      changes.insertions += added;
      changes.deletions += removed;
    }
  }
  absl::StatusOr<std::string> patch = Git({"format-patch", "-1", "--stdout", "--binary", "--no-signature", changes.commit}, in_private);
  if (!patch.ok()) return patch.status();
  changes.patch = *std::move(patch);
  return changes;
}

absl::StatusOr<std::string> Workspace::BlobBytes(const std::string& blob) const {
  return Git({"cat-file", "blob", blob}, {.git_dir = git_dir_});
}

absl::Status PublishBranch(const SourceRepo& repo, const Workspace& workspace, const std::string& branch) {
  std::string ref = "refs/heads/" + branch;
  absl::StatusOr<std::string> r =
      Git({"fetch", "--quiet", "--no-tags", "--no-write-fetch-head", workspace.git_dir(), ref + ":" + ref}, {.cwd = repo.toplevel});
  return r.status();
}

absl::StatusOr<std::vector<ChangedFile>> ParseDiffTree(const std::string& raw) {
  std::vector<ChangedFile> files;
  std::vector<std::string> fields = absl::StrSplit(raw, '\0');
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    const std::string& meta = fields[i];
    if (meta.empty()) break;
    // ":100644 100644 <old> <new> M"
    std::vector<std::string> parts = absl::StrSplit(meta, ' ');
    if (meta[0] != ':' || parts.size() != 5 || parts[4].empty()) {
      return absl::InternalError(absl::StrCat("git diff-tree: unexpected line \"", meta.substr(0, 120), "\""));
    }
    ChangedFile file;
    file.status = parts[4][0];
    file.path = fields[i + 1];
    file.new_mode = parts[1];
    if (file.status != 'D') file.new_blob = parts[3];
    files.push_back(std::move(file));
  }
  return files;
}

}  // namespace airlock::run
