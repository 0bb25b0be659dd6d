#include "cmd/airlock/cache/workspace_capture.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cmd/airlock/run/git_names.h"
#include "policy/duration_size.h"
#include "shim/base/errno_status.h"
#include "shim/base/files.h"
#include "shim/base/fs_beneath.h"
#include "shim/base/terminal_text.h"
#include "shim/base/unique_fd.h"

namespace airlock::cache {
namespace {

using run::BaseTree;

constexpr size_t kChunk = 1 << 20;
constexpr size_t kMaxSymlinkTarget = 4096;
constexpr size_t kShownPrefix = 200;  // bytes of an over-long path an error shows

std::string Join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

// "what: strerror(errno)", errno taken before the parts are joined (that may allocate); the parts
// themselves must be built already.
template <typename... Parts>
absl::Status SysError(const Parts&... what) {
  const int err = errno;
  return ErrnoStatus(err, absl::StrCat(what...));
}


// A path as messages show it: quoted, or not at all when it holds a secret's value.
std::string Shown(const SecretScanner& scanner, const std::string& path) {
  if (path.empty()) return "the top directory";
  const std::string secret = scanner.SecretInName(path);
  if (!secret.empty()) return absl::StrCat("(a path holding ", secret, ")");
  if (path.size() > kShownPrefix) return absl::StrCat(QuotePath(path.substr(0, kShownPrefix)), "...");
  return QuotePath(path);
}

// lstat of `name` in `dir_fd` (never followed, never automounted) with the id of the mount it is
// on (0 when the kernel does not say).
int LookAt(int dir_fd, const char* name, int flags, struct stat& st, uint64_t& mnt_id) {
  struct statx sx {};
  if (statx(dir_fd, name, flags | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_AS_STAT,
            STATX_BASIC_STATS | STATX_MNT_ID, &sx) != 0) {
    return -1;
  }
  st = {};
  st.st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  st.st_ino = sx.stx_ino;
  st.st_mode = sx.stx_mode;
  st.st_nlink = sx.stx_nlink;
  st.st_uid = sx.stx_uid;
  st.st_gid = sx.stx_gid;
  st.st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
  st.st_size = static_cast<off_t>(sx.stx_size);
  st.st_blksize = sx.stx_blksize;
  st.st_blocks = static_cast<blkcnt_t>(sx.stx_blocks);
  st.st_atim = {sx.stx_atime.tv_sec, sx.stx_atime.tv_nsec};
  st.st_mtim = {sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec};
  st.st_ctim = {sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec};
  mnt_id = (sx.stx_mask & STATX_MNT_ID) != 0 ? sx.stx_mnt_id : 0;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The walker, shared by the capture and the scan.

// One entry as the walk found it. The references live while the visitor is called (and, for a
// directory walked into, until its Leave).
struct WalkEntry {
  int dir_fd;                // the directory holding it
  const std::string& name;   // bytes
  const std::string& path;   // relative to the root
  const std::string& where;  // the path as shown (Shown)
  const struct stat& st;     // as looked at (lstat)
  size_t depth;              // 1 for the root's own entries
};

class Visitor {
 public:
  virtual ~Visitor() = default;
  // An entry (its name already fed to the scanner): true to walk into it (a directory only).
  virtual absl::StatusOr<bool> Visit(const WalkEntry& entry) = 0;
  // After the last entry of a directory Visit walked into.
  virtual absl::Status Leave(const WalkEntry& entry) = 0;
};

absl::Status Changed(const std::string& where, const std::string& how) {
  return absl::AbortedError(absl::StrCat(where, " changed while it was read (", how, "): nothing is followed"));
}

absl::Status MountPoint(const std::string& where) {
  return absl::FailedPreconditionError(absl::StrCat(where, " is a mount point: the walk never crosses one"));
}

// Opens `entry` beneath its directory: no symlink, no magic link, no mount crossed, no fifo
// blocked on, no terminal taken; then checks it is still the entry looked at (type, device, inode).
absl::StatusOr<UniqueFd> OpenEntry(const WalkEntry& entry, int flags) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  long fd = -1;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fd = syscall(SYS_openat2, entry.dir_fd, entry.name.c_str(), &how, sizeof how);
    if (fd >= 0 || (errno != EINTR && errno != EAGAIN)) break;
  }
  if (fd < 0) {
    if (errno == EXDEV) return MountPoint(entry.where);
    if (errno == ELOOP) return Changed(entry.where, "now a symlink");
    if (errno == ENOTDIR) return Changed(entry.where, "no longer a directory");
    if (errno == ENOENT) return Changed(entry.where, "gone");
    return SysError("open ", entry.where);
  }
  UniqueFd opened(static_cast<int>(fd));
  struct stat st {};
  if (fstat(opened.get(), &st) != 0) return SysError("stat ", entry.where);
  if ((st.st_mode & S_IFMT) != (entry.st.st_mode & S_IFMT) || st.st_dev != entry.st.st_dev || st.st_ino != entry.st.st_ino) {
    return Changed(entry.where, "another entry by the time it was opened");
  }
  return opened;
}

// BeginFile/EndFile around one input, also when the read fails half way.
class ScannedInput {
 public:
  ScannedInput(SecretScanner& scanner, const std::string& where) : scanner_(scanner) { scanner_.BeginFile(where); }
  ~ScannedInput() { scanner_.EndFile(); }
  ScannedInput(const ScannedInput&) = delete;
  ScannedInput& operator=(const ScannedInput&) = delete;

 private:
  SecretScanner& scanner_;
};

// Reads the regular file `entry` to its end: every byte to the scanner and, when `dest` >= 0, to
// `dest` (copy_file_range when there is nothing to scan). Exactly st_size bytes, or Aborted (the
// file changed): never a partial copy taken for a whole one, never more than it had when looked at.
absl::StatusOr<uint64_t> StreamFile(const WalkEntry& entry, SecretScanner& scanner, int dest, std::string& buffer) {
  absl::StatusOr<UniqueFd> src = OpenEntry(entry, O_RDONLY);
  if (!src.ok()) return src.status();
  const uint64_t expected = static_cast<uint64_t>(entry.st.st_size);
  uint64_t done = 0;
  if (dest >= 0 && scanner.empty()) {
    for (;;) {
      ssize_t n = copy_file_range(src->get(), nullptr, dest, nullptr, kChunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) break;
      if (n < 0) return SysError("copy ", entry.where);
      if (n == 0) break;  // the end, or a file system that copies no more this way: read on
      done += static_cast<uint64_t>(n);
      if (done > expected) return Changed(entry.where, "it grew");
    }
  }
  ScannedInput input(scanner, entry.where);
  if (buffer.size() < kChunk) buffer.resize(kChunk);
  for (;;) {
    ssize_t got = read(src->get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return SysError("read ", entry.where);
    if (got == 0) break;
    done += static_cast<uint64_t>(got);
    if (done > expected) return Changed(entry.where, "it grew");
    const absl::string_view chunk(buffer.data(), static_cast<size_t>(got));
    scanner.Feed(chunk);
    if (dest >= 0) {
      if (absl::Status s = WriteAll(dest, chunk, "the cache's copy"); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat(entry.where, ": ", s.message()));
      }
    }
  }
  if (done != expected) return Changed(entry.where, "it shrank");
  return done;
}

// A symlink's target bytes (never followed), also fed to the scanner: a later sandbox reads it.
absl::StatusOr<std::string> ReadLinkScanned(const WalkEntry& entry, SecretScanner& scanner) {
  std::string target(kMaxSymlinkTarget + 1, '\0');
  ssize_t n = readlinkat(entry.dir_fd, entry.name.c_str(), target.data(), target.size());
  if (n < 0 && errno == EINVAL) return Changed(entry.where, "no longer a symlink");
  if (n < 0) return SysError("readlink ", entry.where);
  if (static_cast<size_t>(n) > kMaxSymlinkTarget) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the symlink ", entry.where, " has a target over ", kMaxSymlinkTarget, " bytes"));
  }
  target.resize(static_cast<size_t>(n));
  ScannedInput input(scanner, entry.where);
  scanner.Feed(target);
  return target;
}

// Bytes `size` more would exceed the limit (`so_far` already counted): ResourceExhausted.
absl::Status CheckBytes(uint64_t so_far, const struct stat& st, const WalkLimits& limits, const std::string& where,
                        const char* what) {
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > limits.max_bytes || so_far > limits.max_bytes - size) {
    return absl::ResourceExhaustedError(absl::StrCat(what, " hold more than ", policy::HumanByteSize(limits.max_bytes),
                                                     " (the byte limit); over it at ", where, " (", size, " bytes)"));
  }
  return absl::OkStatus();
}

// Depth first beneath a root fd: one directory stream (one fd) per level, every entry looked at
// with statx and checked to be on the root's mount, bounded by `limits`.
class BoundedWalk {
 public:
  BoundedWalk(int root_fd, const WalkLimits& limits, SecretScanner& scanner, Visitor& visitor)
      : root_fd_(root_fd), limits_(limits), scanner_(scanner), visitor_(visitor) {}

  absl::Status Run() {
    struct stat root {};
    if (LookAt(root_fd_, "", AT_EMPTY_PATH, root, root_mnt_id_) != 0) return ErrnoStatus("stat the top directory");
    root_dev_ = root.st_dev;
    absl::StatusOr<UniqueFd> top = OpenBeneath(root_fd_, "", O_RDONLY | O_DIRECTORY);
    if (!top.ok()) return top.status();
    return WalkDir(*std::move(top), "", 0);
  }

 private:
  struct DirCloser {
    void operator()(DIR* dir) const { closedir(dir); }
  };

  absl::Status OverLimit(const std::string& what) { return absl::ResourceExhaustedError(what); }

  // `fd`: the directory `dir`, whose entries are at depth + 1.
  absl::Status WalkDir(UniqueFd fd, const std::string& dir, size_t depth) {
    std::unique_ptr<DIR, DirCloser> stream(fdopendir(fd.get()));
    if (!stream) {
      const int err = errno;
      return ErrnoStatus(err, absl::StrCat("read ", Shown(scanner_, dir)));
    }
    fd.release();  // the stream owns it now
    const int dir_fd = dirfd(stream.get());
    for (;;) {
      errno = 0;
      const dirent* e = readdir(stream.get());
      if (e == nullptr) {
        const int err = errno;
        if (err != 0) return ErrnoStatus(err, absl::StrCat("read ", Shown(scanner_, dir)));
        return absl::OkStatus();
      }
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      const std::string name(e->d_name);
      const std::string path = Join(dir, name);
      if (++entries_ > limits_.max_entries) {
        return OverLimit(absl::StrCat("the tree holds more than ", limits_.max_entries,
                                      " entries (the entry limit); over it at ", Shown(scanner_, path)));
      }
      if (depth + 1 > limits_.max_depth) {
        return OverLimit(absl::StrCat(Shown(scanner_, path), " is nested deeper than ", limits_.max_depth,
                                      " levels (the depth limit)"));
      }
      if (path.size() > limits_.max_path_length) {
        return OverLimit(absl::StrCat("a path of ", path.size(), " bytes, over the path length limit of ",
                                      limits_.max_path_length, ": ", Shown(scanner_, path)));
      }
      struct stat st {};
      uint64_t mnt_id = 0;
      const std::string where = Shown(scanner_, path);
      if (LookAt(dir_fd, name.c_str(), 0, st, mnt_id) != 0) {
        if (errno == ENOENT) return Changed(where, "gone");
        return SysError("stat ", where);
      }
      const bool other_mount = (root_mnt_id_ != 0 && mnt_id != 0) ? mnt_id != root_mnt_id_ : st.st_dev != root_dev_;
      if (other_mount) return MountPoint(where);
      scanner_.ScanName(name, where);
      const WalkEntry entry{dir_fd, name, path, where, st, depth + 1};
      absl::StatusOr<bool> walk_into = visitor_.Visit(entry);
      if (!walk_into.ok()) return walk_into.status();
      if (!*walk_into) continue;
      if (!S_ISDIR(st.st_mode)) return absl::InternalError(absl::StrCat("walk into ", where, ": not a directory"));
      absl::StatusOr<UniqueFd> sub = OpenEntry(entry, O_RDONLY | O_DIRECTORY);
      if (!sub.ok()) return sub.status();
      if (absl::Status s = WalkDir(*std::move(sub), path, depth + 1); !s.ok()) return s;
      if (absl::Status s = visitor_.Leave(entry); !s.ok()) return s;
    }
  }

  const int root_fd_;
  const WalkLimits& limits_;
  SecretScanner& scanner_;
  Visitor& visitor_;
  uint64_t root_mnt_id_ = 0;
  dev_t root_dev_ = 0;
  uint64_t entries_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The capture.

class Capture : public Visitor {
 public:
  Capture(const BaseTree& base, const run::Owner& owner, const WalkLimits& limits, SecretScanner& scanner, UniqueFd dest)
      : base_(base), owner_(owner), limits_(limits), scanner_(scanner) {
    levels_.push_back(Level{std::move(dest), "", "", false, {}});
  }

  CaptureStats TakeStats() { return std::move(stats_); }

  absl::StatusOr<bool> Visit(const WalkEntry& e) override {
    const bool inside_captured = levels_.back().captured;
    if (!inside_captured) {
      const BaseTree::Entry* tracked = base_.Find(e.path);
      if (tracked != nullptr) {
        if (tracked->mode == run::kModeTree && S_ISDIR(e.st.st_mode)) {
          levels_.push_back(Level{UniqueFd(), e.name, e.where, false, e.st});  // made in dest only when needed
          return true;
        }
        // A tracked file, symlink or submodule path, or a tracked directory setup replaced: the
        // new HEAD writes its own there; setup's version is not cached.
        return false;
      }
    }
    absl::StatusOr<Outcome> outcome = CaptureEntry(e);
    if (!outcome.ok()) return outcome.status();
    if (*outcome != Outcome::kLeftOut && !inside_captured) {
      if (stats_.top_level.size() < kMaxTopLevelListed) {
        stats_.top_level.push_back(e.where);
      } else {
        ++stats_.top_level_more;
      }
    }
    return *outcome == Outcome::kWalkInto;
  }

  absl::Status Leave(const WalkEntry& e) override {
    Level level = std::move(levels_.back());
    levels_.pop_back();
    if (!level.captured) return absl::OkStatus();
    // Last: what was made inside changed the directory's mtime.
    return Finish(level.dest.get(), level.st, e.where);
  }

 private:
  enum class Outcome { kLeftOut, kCopied, kWalkInto };

  // One directory being walked, on the destination's side.
  struct Level {
    UniqueFd dest;     // invalid for a tracked directory nothing was captured in yet
    std::string name;  // in its parent
    std::string where;  // its path as shown
    bool captured;     // everything below is captured
    struct stat st;    // the workspace's directory (a captured one's mode and mtime are kept)
  };

  // (Right after the failed call: reads errno.)
  absl::Status Failed(const char* what, const std::string& where) {
    return SysError(what, " ", where, " in the cache");
  }

  // Owner, permission bits (& 0777: no setuid, setgid or sticky bit) and times of a made entry.
  absl::Status Finish(int fd, const struct stat& st, const std::string& where) {
    if (fchown(fd, owner_.uid, owner_.gid) != 0) return Failed("chown", where);
    if (fchmod(fd, st.st_mode & 0777) != 0) return Failed("chmod", where);
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (futimens(fd, times) != 0) return Failed("set the times of", where);
    return absl::OkStatus();
  }

  // The destination directory of the level walked now, made (with the tracked directories above
  // it: 0755, the owner's) if it is not yet.
  absl::StatusOr<int> DestParent() {
    if (levels_.back().dest.valid()) return levels_.back().dest.get();
    for (size_t i = 1; i < levels_.size(); ++i) {
      Level& level = levels_[i];
      if (level.dest.valid()) continue;
      const int up = levels_[i - 1].dest.get();
      if (mkdirat(up, level.name.c_str(), 0755) != 0 && errno != EEXIST) return Failed("make", level.where);
      absl::StatusOr<UniqueFd> made = OpenBeneath(up, level.name, O_RDONLY | O_DIRECTORY);
      if (!made.ok()) return made.status();
      if (fchown(made->get(), owner_.uid, owner_.gid) != 0) return Failed("chown", level.where);
      if (fchmod(made->get(), 0755) != 0) return Failed("chmod", level.where);
      level.dest = *std::move(made);
    }
    return levels_.back().dest.get();
  }

  absl::StatusOr<Outcome> CaptureEntry(const WalkEntry& e) {
    const mode_t type = e.st.st_mode & S_IFMT;
    if (type != S_IFDIR && type != S_IFREG && type != S_IFLNK) {
      if (stats_.skipped.size() < kMaxSkippedListed) {
        stats_.skipped.push_back(absl::StrCat(e.where, " (", run::SpecialFileKind(e.st.st_mode), ")"));
      } else {
        ++stats_.skipped_more;
      }
      return Outcome::kLeftOut;
    }
    if (type == S_IFREG) {
      if (absl::Status s = CheckBytes(stats_.bytes, e.st, limits_, e.where, "the untracked files"); !s.ok()) return s;
    }
    if (run::IsGitDirName(e.name)) ++stats_.git_dirs;
    absl::StatusOr<int> parent = DestParent();
    if (!parent.ok()) return parent.status();
    const char* name = e.name.c_str();
    if (type == S_IFDIR) {
      // 0700 while it is filled; its own mode at Leave.
      if (mkdirat(*parent, name, 0700) != 0) return Failed("make", e.where);
      absl::StatusOr<UniqueFd> made = OpenBeneath(*parent, e.name, O_RDONLY | O_DIRECTORY);
      if (!made.ok()) return made.status();
      levels_.push_back(Level{*std::move(made), e.name, e.where, true, e.st});
      ++stats_.dirs;
      return Outcome::kWalkInto;
    }
    if (type == S_IFLNK) {
      absl::StatusOr<std::string> target = ReadLinkScanned(e, scanner_);
      if (!target.ok()) return target.status();
      if (symlinkat(target->c_str(), *parent, name) != 0) return Failed("make the symlink", e.where);
      if (fchownat(*parent, name, owner_.uid, owner_.gid, AT_SYMLINK_NOFOLLOW) != 0) return Failed("chown", e.where);
      const struct timespec times[2] = {e.st.st_atim, e.st.st_mtim};
      if (utimensat(*parent, name, times, AT_SYMLINK_NOFOLLOW) != 0) return Failed("set the times of", e.where);
      ++stats_.symlinks;
      return Outcome::kCopied;
    }
    UniqueFd copy(openat(*parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!copy) return Failed("create", e.where);
    absl::StatusOr<uint64_t> copied = StreamFile(e, scanner_, copy.get(), buffer_);
    if (!copied.ok()) return copied.status();
    if (absl::Status s = Finish(copy.get(), e.st, e.where); !s.ok()) return s;
    stats_.bytes += *copied;
    ++stats_.files;
    return Outcome::kCopied;
  }

  const BaseTree& base_;
  const run::Owner owner_;
  const WalkLimits& limits_;
  SecretScanner& scanner_;
  std::vector<Level> levels_;  // [0]: dest itself; one more per directory walked into
  std::string buffer_;
  CaptureStats stats_;
};

// ---------------------------------------------------------------------------------------------
// The scan.

class Scan : public Visitor {
 public:
  Scan(const WalkLimits& limits, SecretScanner& scanner) : limits_(limits), scanner_(scanner) {}
  uint64_t bytes() const { return bytes_; }

  absl::StatusOr<bool> Visit(const WalkEntry& e) override {
    if (S_ISDIR(e.st.st_mode)) return true;
    if (S_ISREG(e.st.st_mode)) {
      if (absl::Status s = CheckBytes(bytes_, e.st, limits_, e.where, "the files"); !s.ok()) return s;
      absl::StatusOr<uint64_t> read = StreamFile(e, scanner_, -1, buffer_);
      if (!read.ok()) return read.status();
      bytes_ += *read;
    } else if (S_ISLNK(e.st.st_mode)) {
      absl::StatusOr<std::string> target = ReadLinkScanned(e, scanner_);
      if (!target.ok()) return target.status();
    }
    // A fifo, socket or device (an overlay whiteout among them): its name was scanned; never opened.
    return false;
  }

  absl::Status Leave(const WalkEntry&) override { return absl::OkStatus(); }

 private:
  const WalkLimits& limits_;
  SecretScanner& scanner_;
  std::string buffer_;
  uint64_t bytes_ = 0;
};

const char* LowerKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISREG(mode)) return "a file";
  if (S_ISLNK(mode)) return "a symlink";
  return "a special file";
}

}  // namespace

absl::StatusOr<CaptureStats> CaptureUntracked(int workspace_fd, const run::BaseTree& base, int dest_fd,
                                              const run::Owner& owner, const CaptureLimits& limits,
                                              SecretScanner& scanner) {
  absl::StatusOr<UniqueFd> dest = OpenBeneath(dest_fd, "", O_RDONLY | O_DIRECTORY);
  if (!dest.ok()) return dest.status();
  absl::StatusOr<std::vector<std::string>> present = ListDirectory(dest->get(), 0);
  if (!present.ok()) {
    if (absl::IsOutOfRange(present.status())) return absl::FailedPreconditionError("the cache directory is not empty");
    return present.status();
  }
  Capture capture(base, owner, limits, scanner, *std::move(dest));
  BoundedWalk walk(workspace_fd, limits, scanner, capture);
  if (absl::Status s = walk.Run(); !s.ok()) return s;
  return capture.TakeStats();
}

absl::Status CheckLowerAgainstTree(int lower_fd, const run::BaseTree& tree) {
  // Depth first over the tree's directories, into those the layer has as directories too (one fd
  // each, on a stack); below a directory the layer lacks nothing is looked up.
  struct Frame {
    std::string dir;
    UniqueFd fd;
    size_t next = 0;  // index into tree.Children(dir)
  };
  std::vector<Frame> stack;
  absl::StatusOr<UniqueFd> top = OpenBeneath(lower_fd, "", O_RDONLY | O_DIRECTORY);
  if (!top.ok()) return top.status();
  stack.push_back(Frame{"", *std::move(top)});
  while (!stack.empty()) {
    Frame& frame = stack.back();
    const std::vector<std::string>& names = tree.Children(frame.dir);
    if (frame.next == names.size()) {
      stack.pop_back();
      continue;
    }
    const std::string& name = names[frame.next++];
    const std::string path = Join(frame.dir, name);
    const BaseTree::Entry* entry = tree.Find(path);
    if (entry == nullptr) return absl::InternalError(absl::StrCat("the tree lists ", QuotePath(path), " without an entry"));
    struct stat st {};
    if (fstatat(frame.fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // not in the cache, nor anything below it
      const int err = errno;
      return ErrnoStatus(err, absl::StrCat("stat ", QuotePath(path), " in the cache"));
    }
    if (entry->mode == run::kModeTree && S_ISDIR(st.st_mode)) {
      absl::StatusOr<UniqueFd> dir = OpenBeneath(frame.fd.get(), name, O_RDONLY | O_DIRECTORY);
      if (!dir.ok()) {
        return absl::Status(dir.status().code(), absl::StrCat(QuotePath(path), " in the cache: ", dir.status().message()));
      }
      stack.push_back(Frame{path, *std::move(dir)});  // (`frame` is not used past this point)
      continue;
    }
    return absl::FailedPreconditionError(absl::StrCat("the new HEAD tracks ", QuotePath(path),
                                                      ", which the cache holds as untracked (", LowerKind(st.st_mode), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ScanTreeForSecrets(int root_fd, SecretScanner& scanner, const ScanLimits& limits) {
  Scan scan(limits, scanner);
  BoundedWalk walk(root_fd, limits, scanner, scan);
  if (absl::Status s = walk.Run(); !s.ok()) return s;
  return scan.bytes();
}

}  // namespace airlock::cache
