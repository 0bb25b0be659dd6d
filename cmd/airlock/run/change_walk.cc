#include "cmd/airlock/run/change_walk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "shim/base/fs_beneath.h"
#include "cmd/airlock/run/git_names.h"
#include "cmd/airlock/run/ignore_rules.h"
#include "shim/base/terminal_text.h"
#include "shim/base/errno_status.h"

namespace airlock::run {
namespace {

constexpr size_t kMaxSymlinkTarget = 4096;

std::string Join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

}  // namespace

const char* SpecialFileKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  return "special file";
}

FileStamp StampOf(const struct stat& st, const git_oid& oid) {
  return FileStamp{oid, st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec,
                   st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec, st.st_mode};
}

bool SameStamp(const FileStamp& a, const FileStamp& b) {
  return git_oid_equal(&a.oid, &b.oid) && a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns &&
         a.mode == b.mode;
}

absl::StatusOr<BaseTree> BaseTree::Load(const GitStore& store, const git_oid& tree) {
  BaseTree base;
  base.tree_ = tree;
  base.children_[""];
  absl::Status walked = store.WalkTree(tree, [&](const std::string& path, uint32_t mode, const git_oid& oid) {
    size_t slash = path.rfind('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (name.empty() || name == "." || name == ".." || IsGitDirName(name)) {
      return absl::FailedPreconditionError(
          absl::StrCat("the base tree holds an entry airlock cannot check out faithfully: ", QuotePath(path)));
    }
    std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
    base.children_[parent].push_back(name);
    base.entries_[path] = Entry{mode, oid};
    if (mode == kModeTree) base.children_[path];
    return absl::OkStatus();
  });
  if (!walked.ok()) return walked;
  for (auto& [dir, names] : base.children_) std::sort(names.begin(), names.end());
  return base;
}

const BaseTree::Entry* BaseTree::Find(const std::string& path) const {
  auto it = entries_.find(path);
  return it == entries_.end() ? nullptr : &it->second;
}

const std::vector<std::string>& BaseTree::Children(const std::string& dir) const {
  static const std::vector<std::string> kNone;
  auto it = children_.find(dir);
  return it == children_.end() ? kNone : it->second;
}

std::vector<std::string> BaseTree::PathsBelow(const std::string& path) const {
  std::vector<std::string> paths;
  const Entry* top = Find(path);
  if (top == nullptr) return paths;
  if (top->mode != kModeTree) return {path};
  std::string prefix = path + "/";
  for (auto it = entries_.lower_bound(prefix); it != entries_.end() && absl::StartsWith(it->first, prefix); ++it) {
    if (it->second.mode != kModeTree) paths.push_back(it->first);
  }
  return paths;
}

namespace {

absl::Status Refused(const std::string& message) { return absl::PermissionDeniedError(message); }
absl::Status OverLimit(const std::string& message) { return absl::ResourceExhaustedError(message); }

std::string Human(uint64_t bytes) {
  if (bytes >= (1ull << 30) && bytes % (1ull << 30) == 0) return absl::StrCat(bytes >> 30, " GiB");
  if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0) return absl::StrCat(bytes >> 20, " MiB");
  if (bytes >= (1ull << 10) && bytes % (1ull << 10) == 0) return absl::StrCat(bytes >> 10, " KiB");
  return absl::StrCat(bytes, " bytes");
}

class Walker {
 public:
  Walker(int root_fd, const BaseTree& base, const CheckoutStamps* stamps, const GitStore& store, const ChangeLimits& limits)
      : root_fd_(root_fd), base_(base), stamps_(stamps), store_(store), limits_(limits),
        budget_(limits.max_entries + base.size()) {}

  absl::StatusOr<WalkResult> Run() {
    if (absl::Status s = WalkDir("", 0, false); !s.ok()) return s;
    std::sort(result_.changes.begin(), result_.changes.end(),
              [](const WalkChange& a, const WalkChange& b) { return a.path < b.path; });
    result_.entries_seen = seen_;
    return std::move(result_);
  }

 private:
  struct Seen {
    std::string name;
    struct stat st {};
  };

  absl::Status Add(WalkChange change) {
    if (change.status != 'D') {
      if (change.size > limits_.max_file_size) {
        return OverLimit(absl::StrCat(QuotePath(change.path), " has ", change.size, " bytes: over the limit of ",
                                      Human(limits_.max_file_size), " for one file (--max-file-size)"));
      }
      result_.total_bytes += change.size;
      if (result_.total_bytes > limits_.max_total_size) {
        return OverLimit(absl::StrCat("the changed files hold more than ", Human(limits_.max_total_size),
                                      " in all (--max-total-size)"));
      }
    }
    result_.changes.push_back(std::move(change));
    if (result_.changes.size() > limits_.max_files) {
      return OverLimit(absl::StrCat("more than ", limits_.max_files, " files changed (--max-files)"));
    }
    return absl::OkStatus();
  }

  // Every tracked path at or below `path` is gone from the workspace.
  absl::Status DeleteTracked(const std::string& path) {
    for (const std::string& gone : base_.PathsBelow(path)) {
      const BaseTree::Entry* e = base_.Find(gone);
      if (e->mode == kModeGitlink) return SubmoduleChanged(gone, "removed");
      if (absl::Status s = Add({.status = 'D', .path = gone, .old_oid = e->oid, .old_mode = e->mode}); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status SubmoduleChanged(const std::string& path, const std::string& how) {
    return Refused(absl::StrCat("the submodule path ", QuotePath(path), " was ", how,
                                ": a submodule is not the agent's to change (it was checked out as an empty directory "
                                "and must stay one); the change set is refused"));
  }

  absl::StatusOr<std::string> ReadLink(int dir_fd, const Seen& entry, const std::string& path) {
    std::string target(kMaxSymlinkTarget + 1, '\0');
    ssize_t n = readlinkat(dir_fd, entry.name.c_str(), target.data(), target.size());
    if (n < 0) return ErrnoStatus(absl::StrCat("readlink ", QuotePath(path)));
    if (static_cast<size_t>(n) > kMaxSymlinkTarget) {
      return OverLimit(absl::StrCat("the symlink ", QuotePath(path), " has a target over ", kMaxSymlinkTarget, " bytes"));
    }
    target.resize(static_cast<size_t>(n));
    return target;
  }

  absl::StatusOr<std::string> BlobText(const git_oid& oid, uint64_t max) {
    absl::StatusOr<uint64_t> size = store_.BlobSize(oid);
    if (!size.ok()) return size.status();
    if (*size > max) return std::string();  // not a symlink target the workspace can hold: differs
    std::string text;
    absl::Status read = store_.ReadBlob(oid, [&](absl::string_view chunk) {
      text.append(chunk.data(), chunk.size());
      return absl::OkStatus();
    });
    if (!read.ok()) return read;
    return text;
  }

  // A tracked blob's path holds a file or symlink now: the change, if any.
  absl::Status CompareTracked(int dir_fd, const Seen& entry, const std::string& path, const BaseTree::Entry& base) {
    const bool is_link = S_ISLNK(entry.st.st_mode);
    const uint32_t new_mode = is_link ? kModeSymlink : ((entry.st.st_mode & S_IXUSR) ? kModeExecutable : kModeFile);
    WalkChange change{.status = 'M', .path = path, .mode = new_mode, .old_oid = base.oid, .old_mode = base.mode};
    if (is_link) {
      absl::StatusOr<std::string> target = ReadLink(dir_fd, entry, path);
      if (!target.ok()) return target.status();
      change.size = target->size();
      change.link_target = *std::move(target);
      if (base.mode != kModeSymlink) {
        change.status = 'T';
        return Add(std::move(change));
      }
      absl::StatusOr<std::string> old = BlobText(base.oid, kMaxSymlinkTarget);
      if (!old.ok()) return old.status();
      if (*old == change.link_target) return absl::OkStatus();
      return Add(std::move(change));
    }
    change.size = static_cast<uint64_t>(entry.st.st_size);
    if (base.mode == kModeSymlink) {
      change.status = 'T';
      return Add(std::move(change));
    }
    if (stamps_ != nullptr) {
      auto it = stamps_->find(path);
      if (it != stamps_->end() && SameStamp(it->second, StampOf(entry.st, base.oid))) return absl::OkStatus();
    }
    absl::StatusOr<uint64_t> old_size = store_.BlobSize(base.oid);
    if (!old_size.ok()) return old_size.status();
    if (*old_size == change.size) {
      // Same size: the bytes decide (hashed in a stream, not stored).
      absl::StatusOr<UniqueFd> fd = OpenBeneath(root_fd_, path, O_RDONLY | O_NONBLOCK);
      if (!fd.ok()) return fd.status();
      struct stat st {};
      if (fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != change.size) {
        return absl::DataLossError(absl::StrCat(QuotePath(path), " changed while the workspace was read"));
      }
      absl::StatusOr<git_oid> now = store_.HashFd(fd->get(), change.size);
      if (!now.ok()) return absl::Status(now.status().code(), absl::StrCat(QuotePath(path), ": ", now.status().message()));
      if (git_oid_equal(&*now, &base.oid) && new_mode == base.mode) return absl::OkStatus();
    }
    return Add(std::move(change));
  }

  absl::Status AddUntracked(int dir_fd, const Seen& entry, const std::string& path) {
    WalkChange change{.status = 'A', .path = path};
    if (S_ISLNK(entry.st.st_mode)) {
      absl::StatusOr<std::string> target = ReadLink(dir_fd, entry, path);
      if (!target.ok()) return target.status();
      change.mode = kModeSymlink;
      change.size = target->size();
      change.link_target = *std::move(target);
    } else {
      change.mode = (entry.st.st_mode & S_IXUSR) ? kModeExecutable : kModeFile;
      change.size = static_cast<uint64_t>(entry.st.st_size);
    }
    return Add(std::move(change));
  }

  // `tracked_only`: inside a directory the .gitignore files exclude: only tracked paths count.
  absl::Status WalkDir(const std::string& dir, size_t depth, bool tracked_only) {
    if (depth > limits_.max_depth) {
      return OverLimit(absl::StrCat("directories nested deeper than ", limits_.max_depth, " levels at ", QuotePath(dir)));
    }
    std::vector<std::pair<std::string, bool>> subdirs;  // (path, tracked_only)
    size_t pushed_bytes = 0;
    bool pushed = false;
    {
      // The directory's fd lives only while its own entries are looked at: the walk holds one
      // fd, not one per level.
      absl::StatusOr<UniqueFd> dir_fd = OpenBeneath(root_fd_, dir, O_RDONLY | O_DIRECTORY);
      if (!dir_fd.ok()) return dir_fd.status();
      absl::StatusOr<std::vector<std::string>> names = ListDirectory(dir_fd->get(), budget_ - std::min(budget_, seen_) + 1);
      if (!names.ok()) {
        if (absl::IsOutOfRange(names.status())) return TooManyEntries();
        return absl::Status(names.status().code(), absl::StrCat(QuotePath(dir.empty() ? "." : dir), ": ", names.status().message()));
      }
      seen_ += names->size();
      if (seen_ > budget_) return TooManyEntries();
      if (!tracked_only) {
        absl::StatusOr<std::optional<std::string>> patterns =
            ReadRegularFile(dir_fd->get(), ".gitignore", limits_.max_gitignore_bytes);
        if (!patterns.ok()) {
          if (absl::IsOutOfRange(patterns.status())) {
            return OverLimit(absl::StrCat(QuotePath(Join(dir, ".gitignore")), " is over ", Human(limits_.max_gitignore_bytes)));
          }
          return absl::Status(patterns.status().code(),
                              absl::StrCat(QuotePath(Join(dir, ".gitignore")), ": ", patterns.status().message()));
        }
        // What is pushed stays while the walk is below: bounded in all, whatever each file says.
        pushed_bytes = patterns->has_value() ? (*patterns)->size() : 0;
        ignore_bytes_ += pushed_bytes;
        if (ignore_bytes_ > limits_.max_gitignore_bytes) {
          return OverLimit(absl::StrCat("the .gitignore files on the way to ", QuotePath(dir.empty() ? "." : dir),
                                        " hold more than ", Human(limits_.max_gitignore_bytes), " together"));
        }
        ignore_.Push(dir, patterns->value_or(""));
        pushed = true;
      }
      absl::Status status = WalkEntries(dir_fd->get(), dir, tracked_only, *names, subdirs);
      if (!status.ok()) return status;
    }
    for (const auto& [path, only_tracked] : subdirs) {
      if (absl::Status s = WalkDir(path, depth + 1, only_tracked); !s.ok()) return s;
    }
    if (pushed) {
      ignore_.Pop();
      ignore_bytes_ -= pushed_bytes;
    }
    return absl::OkStatus();
  }

  // Every question to the ignore rules costs (patterns on the stack): bounded in all.
  absl::StatusOr<bool> Ignored(const std::string& path, bool is_dir) {
    ignore_questions_ += ignore_.depth();
    if (ignore_questions_ > limits_.max_ignore_work) {
      return OverLimit(absl::StrCat("the .gitignore files make the walk too costly (over ", limits_.max_ignore_work,
                                    " rule levels asked)"));
    }
    return ignore_.IsIgnored(path, is_dir);
  }

  absl::Status TooManyEntries() {
    return OverLimit(absl::StrCat("the workspace holds more than ", budget_, " entries"));
  }

  absl::Status WalkEntries(int dir_fd, const std::string& dir, bool tracked_only, const std::vector<std::string>& names,
                           std::vector<std::pair<std::string, bool>>& subdirs) {
    for (const std::string& name : names) {
      std::string path = Join(dir, name);
      if (dir.empty() && name == ".git") {
        // A repository the agent made at the top (`git init` in /workspace): git never collects
        // its own .git either. Never opened; said. A file or symlink there is no repository.
        struct stat top {};
        if (fstatat(dir_fd, name.c_str(), &top, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(top.st_mode)) {
          result_.left_out.push_back(".git (a repository made in the workspace: never read)");
          continue;
        }
      }
      if (IsGitDirName(name)) {
        return Refused(absl::StrCat("the workspace holds a .git entry: ", QuotePath(path),
                                    " (a repository inside the workspace is never read: git would take its config, "
                                    "hooks and filters as the host's); the change set is refused"));
      }
      if (path.size() >= limits_.max_path_bytes) {
        return OverLimit(absl::StrCat("a path of ", path.size(), " bytes (at most ", limits_.max_path_bytes - 1, "): ",
                                      QuotePath(path.substr(0, 200)), "..."));
      }
      const BaseTree::Entry* base = base_.Find(path);
      if (tracked_only && base == nullptr) continue;
      Seen entry{name, {}};
      if (fstatat(dir_fd, name.c_str(), &entry.st, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoStatus(absl::StrCat("stat ", QuotePath(path)));
      }
      const mode_t type = entry.st.st_mode & S_IFMT;
      if (type == S_IFLNK && IsGitModulesName(name)) {
        return Refused(absl::StrCat("the workspace holds a symlink named .gitmodules: ", QuotePath(path),
                                    " (git refuses such a tree: it would make git read a file outside the "
                                    "repository); the change set is refused"));
      }
      if (base != nullptr && base->mode == kModeGitlink) {
        if (type != S_IFDIR) return SubmoduleChanged(path, S_ISLNK(entry.st.st_mode) ? "replaced by a symlink" : "replaced by a file");
        absl::StatusOr<UniqueFd> sub = OpenBeneath(root_fd_, path, O_RDONLY | O_DIRECTORY);
        if (!sub.ok()) return sub.status();
        absl::StatusOr<std::vector<std::string>> inside = ListDirectory(sub->get(), 64);
        if (!inside.ok()) return SubmoduleChanged(path, "given contents");
        for (const std::string& inner : *inside) {
          if (IsGitDirName(inner)) return SubmoduleChanged(path, absl::StrCat("made a repository (", QuotePath(Join(path, inner)), ")"));
        }
        if (!inside->empty()) return SubmoduleChanged(path, "given contents");
        continue;
      }
      if (type == S_IFDIR) {
        if (base != nullptr && base->mode != kModeTree) {
          // A tracked file became a directory: the file is deleted, the directory is new.
          if (absl::Status s = DeleteTracked(path); !s.ok()) return s;
          base = nullptr;
        }
        if (base != nullptr) {
          bool ignored = false;
          if (!tracked_only) {
            absl::StatusOr<bool> asked = Ignored(path, true);
            if (!asked.ok()) return asked.status();
            ignored = *asked;
          }
          subdirs.emplace_back(path, tracked_only || ignored);
        } else if (!tracked_only) {
          absl::StatusOr<bool> ignored = Ignored(path, true);
          if (!ignored.ok()) return ignored.status();
          if (!*ignored) subdirs.emplace_back(path, false);
        }
        continue;
      }
      if (type == S_IFREG || type == S_IFLNK) {
        if (base != nullptr && base->mode == kModeTree) {
          if (absl::Status s = DeleteTracked(path); !s.ok()) return s;
          base = nullptr;
        }
        if (base != nullptr) {
          if (absl::Status s = CompareTracked(dir_fd, entry, path, *base); !s.ok()) return s;
        } else if (!tracked_only) {
          absl::StatusOr<bool> ignored = Ignored(path, false);
          if (!ignored.ok()) return ignored.status();
          if (!*ignored) {
            if (absl::Status s = AddUntracked(dir_fd, entry, path); !s.ok()) return s;
          }
        }
        continue;
      }
      // A fifo, socket or device: never opened; git skips them too.
      if (base != nullptr) {
        if (absl::Status s = DeleteTracked(path); !s.ok()) return s;
      } else if (!tracked_only) {
        absl::StatusOr<bool> ignored = Ignored(path, false);
        if (!ignored.ok()) return ignored.status();
        if (!*ignored) {
          if (result_.skipped.size() >= limits_.max_skipped) {
            return OverLimit(absl::StrCat("more than ", limits_.max_skipped, " fifos, sockets or devices in the workspace"));
          }
          result_.skipped.push_back({path, SpecialFileKind(entry.st.st_mode)});
        }
      }
    }
    // Tracked entries the directory no longer has.
    for (const std::string& name : base_.Children(dir)) {
      if (std::binary_search(names.begin(), names.end(), name)) continue;
      if (absl::Status s = DeleteTracked(Join(dir, name)); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  const int root_fd_;
  const BaseTree& base_;
  const CheckoutStamps* stamps_;
  const GitStore& store_;
  const ChangeLimits& limits_;
  const uint64_t budget_;
  uint64_t seen_ = 0;
  uint64_t ignore_bytes_ = 0;      // of the .gitignore files pushed now
  uint64_t ignore_questions_ = 0;  // rule levels asked so far
  IgnoreRules ignore_;
  WalkResult result_;
};

}  // namespace

absl::StatusOr<WalkResult> WalkChanges(int root_fd, const BaseTree& base, const CheckoutStamps* stamps, const GitStore& store,
                                       const ChangeLimits& limits) {
  Walker walker(root_fd, base, stamps, store, limits);
  return walker.Run();
}

}  // namespace airlock::run
