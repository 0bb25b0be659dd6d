#include "policy/sandbox/secret_sweep.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"
#include "shim/base/files.h"
#include "shim/base/fs_beneath.h"
#include "shim/base/mountinfo.h"
#include "shim/base/terminal_text.h"
#include "shim/cgroups/cgroup_files.h"

namespace airlock::sandbox {
namespace {

constexpr size_t kChunk = 64 * 1024;
constexpr size_t kMaxLinkTarget = 4096;
// linux/magic.h has no name for mqueue's (ipc/mqueue.c).
constexpr long kMqueueMagic = 0x19800202;

absl::Time CtimeOf(const struct stat& st) { return absl::TimeFromTimespec(st.st_ctim); }

std::string Join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

class Sweeper {
 public:
  Sweeper(const std::vector<Secret>& secrets, bool scrub, const SweepLimits& limits)
      : scanner_(secrets), scrub_(scrub), limits_(limits) {}

  absl::Status Sweep(SweepPlace& place) {
    return place.action == SweepPlace::Action::kEmpty ? Empty(place) : Search(place);
  }

  SweepResult Take() { return std::move(result_); }

 private:
  absl::Status CountEntry() {
    if (++result_.entries > limits_.max_entries) {
      return absl::ResourceExhaustedError(absl::StrCat("more than ", limits_.max_entries, " entries to search"));
    }
    return absl::OkStatus();
  }

  // Every entry of the place's top directory removed (never crossing into a mount below it).
  absl::Status Empty(SweepPlace& place) {
    struct stat top {};
    if (fstat(place.dir.get(), &top) != 0) return ErrnoStatus(absl::StrCat("stat ", place.label));
    absl::StatusOr<std::vector<std::string>> names = ListDirectory(place.dir.get(), limits_.max_entries);
    if (!names.ok()) return absl::Status(names.status().code(), absl::StrCat(place.label, ": ", names.status().message()));
    size_t removed = 0;
    for (const std::string& name : *names) {
      if (absl::Status s = CountEntry(); !s.ok()) return s;
      struct stat st {};
      if (fstatat(place.dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return ErrnoStatus(absl::StrCat("stat ", place.label, "/", QuotePath(name)));
      }
      if (st.st_dev != top.st_dev) continue;  // a mount point: not this place's
      if (absl::Status s = RemoveEntry(place.dir.get(), name); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat(place.label, ": ", s.message()));
      }
      ++removed;
    }
    result_.emptied.push_back(absl::StrCat(place.label, " (", removed, removed == 1 ? " entry)" : " entries)"));
    return absl::OkStatus();
  }

  absl::Status Search(SweepPlace& place) {
    struct stat top {};
    if (fstat(place.dir.get(), &top) != 0) return ErrnoStatus(absl::StrCat("stat ", place.label));
    std::vector<std::string> pending = {""};
    while (!pending.empty()) {
      std::string rel = std::move(pending.back());
      pending.pop_back();
      absl::StatusOr<UniqueFd> dir = OpenBeneath(place.dir.get(), rel, O_RDONLY | O_DIRECTORY);
      if (!dir.ok()) return absl::Status(dir.status().code(), absl::StrCat(place.label, ": ", dir.status().message()));
      absl::StatusOr<std::vector<std::string>> names = ListDirectory(dir->get(), limits_.max_entries);
      if (!names.ok()) {
        return absl::Status(names.status().code(), absl::StrCat(place.label, ": ", QuotePath(rel), ": ", names.status().message()));
      }
      for (const std::string& name : *names) {
        if (absl::Status s = CountEntry(); !s.ok()) return s;
        const std::string path = Join(rel, name);
        struct stat st {};
        if (fstatat(dir->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
          if (errno == ENOENT) continue;
          return ErrnoStatus(absl::StrCat("stat ", place.label, ": ", QuotePath(path)));
        }
        if (st.st_dev != top.st_dev) continue;  // another mount: its own place, or not writable
        const bool changed = !place.changed_since || CtimeOf(st) >= *place.changed_since;
        if (S_ISDIR(st.st_mode)) {
          // A directory's own name counts when it changed; its entries are looked at one by one.
          if (changed && Check(place, path, [&] { scanner_.ScanName(name, Where(place, path)); })) continue;
          pending.push_back(path);
          continue;
        }
        if (!changed) continue;
        if (S_ISREG(st.st_mode)) {
          absl::Status read;
          if (Check(place, path, [&] { read = ReadFile(dir->get(), name, st, Where(place, path)); })) continue;
          if (!read.ok()) return read;
        } else if (S_ISLNK(st.st_mode)) {
          Check(place, path, [&] { ReadLink(dir->get(), name, Where(place, path)); });
        } else {
          Check(place, path, [&] { scanner_.ScanName(name, Where(place, path)); });
        }
      }
    }
    return scrub_failure_;
  }

  // How a finding names the entry: its path, quoted for a terminal, unless the path itself holds a
  // value (then it is never shown).
  std::string Where(const SweepPlace& place, const std::string& path) const {
    std::string secret = scanner_.SecretInName(path);
    if (!secret.empty()) return absl::StrCat(place.label, ": (a path holding ", secret, ")");
    return absl::StrCat(place.label, ": ", QuotePath(path));
  }

  // Runs `scan` (which feeds the scanner for `path`); true if it found a secret there (then the
  // entry is reported and, scrubbing, removed).
  template <typename F>
  bool Check(SweepPlace& place, const std::string& path, F&& scan) {
    const size_t before = scanner_.findings().size();
    scan();
    const auto& findings = scanner_.findings();
    if (findings.size() == before) return false;
    for (size_t i = before; i < findings.size(); ++i) {
      result_.found.push_back(absl::StrCat(findings[i].where, " holds ", findings[i].secret));
    }
    if (scrub_) Remove(place, path);
    return true;
  }

  void Remove(SweepPlace& place, const std::string& path) {
    const int root = place.remove_root >= 0 ? place.remove_root : place.dir.get();
    const size_t slash = path.rfind('/');
    const std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    absl::StatusOr<UniqueFd> dir = OpenBeneath(root, parent, O_RDONLY | O_DIRECTORY);
    absl::Status removed = dir.ok() ? RemoveEntry(dir->get(), name) : dir.status();
    if (!removed.ok()) {
      if (scrub_failure_.ok()) {
        scrub_failure_ = absl::Status(removed.code(), absl::StrCat("scrub ", Where(place, path), ": ", removed.message()));
      }
      return;
    }
    result_.removed.push_back(Where(place, path));
  }

  absl::Status ReadFile(int dir, const std::string& name, const struct stat& seen, const std::string& where) {
    UniqueFd fd(openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) return ErrnoStatus(absl::StrCat("open ", where));
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) return ErrnoStatus(absl::StrCat("stat ", where));
    if (!S_ISREG(st.st_mode) || st.st_ino != seen.st_ino) {
      return absl::AbortedError(absl::StrCat(where, " changed while it was searched"));
    }
    if (buffer_.empty()) buffer_.resize(kChunk);
    scanner_.BeginFile(where);
    for (;;) {
      ssize_t got = read(fd.get(), buffer_.data(), buffer_.size());
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        scanner_.EndFile();
        return ErrnoStatus(absl::StrCat("read ", where));
      }
      if (got == 0) break;
      result_.bytes_read += static_cast<uint64_t>(got);
      if (result_.bytes_read > limits_.max_bytes) {
        scanner_.EndFile();
        return absl::ResourceExhaustedError(absl::StrCat("more than ", limits_.max_bytes, " bytes to search"));
      }
      scanner_.Feed(absl::string_view(buffer_.data(), static_cast<size_t>(got)));
    }
    scanner_.EndFile();
    scanner_.ScanName(name, where);
    ++result_.files_read;
    return absl::OkStatus();
  }

  // A symlink's target is text the agent can read (readlink): searched like a file's bytes.
  void ReadLink(int dir, const std::string& name, const std::string& where) {
    char target[kMaxLinkTarget];
    ssize_t n = readlinkat(dir, name.c_str(), target, sizeof target);
    scanner_.BeginFile(where);
    if (n > 0) scanner_.Feed(absl::string_view(target, static_cast<size_t>(n)));
    scanner_.EndFile();
    scanner_.ScanName(name, where);
  }

  SecretScanner scanner_;
  const bool scrub_;
  const SweepLimits limits_;
  SweepResult result_;
  std::string buffer_;
  absl::Status scrub_failure_;
};

// A directory beneath the container's root, crossing into mounts (the tmpfs and the workspace are
// mounts of their own), never following a symlink. An empty fd when the path is not a directory.
// A directory of the container by its path, mounts crossed (each place is a mount of its own);
// nullopt when something else is there (runc binds /dev/null over /proc/keys & co.).
absl::StatusOr<std::optional<UniqueFd>> OpenContainerDirectory(int root, const std::string& container_path) {
  const size_t first = container_path.find_first_not_of('/');
  const std::string relative = first == std::string::npos ? "." : container_path.substr(first);
  const std::string what = absl::StrCat("open ", QuotePath(container_path), " in the container");
  absl::StatusOr<UniqueFd> path = OpenBeneath(root, relative, O_PATH, 0, MountCrossing::kAllow);
  if (!path.ok()) return absl::Status(path.status().code(), absl::StrCat(what, ": ", path.status().message()));
  struct stat st {};
  if (fstat(path->get(), &st) != 0) return ErrnoStatus(what);
  if (!S_ISDIR(st.st_mode)) return std::nullopt;
  UniqueFd dir(openat(path->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return ErrnoStatus(what);
  return dir;
}

bool FsTypeIs(int fd, long magic) {
  struct statfs fs {};
  return fstatfs(fd, &fs) == 0 && static_cast<long>(fs.f_type) == magic;
}

}  // namespace

absl::StatusOr<SweepResult> SweepForSecrets(std::vector<SweepPlace>& places, const std::vector<Secret>& secrets,
                                            bool scrub, const SweepLimits& limits) {
  Sweeper sweeper(secrets, scrub, limits);
  for (SweepPlace& place : places) {
    // Nothing to search for: searching places is moot, emptying them is not.
    if (secrets.empty() && place.action == SweepPlace::Action::kSearch) continue;
    if (absl::Status s = sweeper.Sweep(place); !s.ok()) return s;
  }
  return sweeper.Take();
}

absl::StatusOr<std::vector<SweepPlace>> ContainerSweepPlaces(pid_t init, bool rootfs_writable,
                                                             const std::string& rootfs_upper,
                                                             const std::string& workspace_target,
                                                             const std::vector<std::string>& named_tmpfs,
                                                             absl::Time created, int container_root) {
  const std::string proc = absl::StrCat("/proc/", init);
  absl::StatusOr<std::string> mountinfo = cgroups::ReadSmallFile(proc + "/mountinfo");
  if (!mountinfo.ok()) return mountinfo.status();

  std::vector<SweepPlace> places;
  if (rootfs_writable) {
    SweepPlace rootfs;
    rootfs.label = "rootfs";
    if (!rootfs_upper.empty()) {
      // Only what setup changed is in the upper layer; a file found there is removed through the
      // container's view, which leaves a whiteout over the image's own file, if any.
      rootfs.dir.reset(open(rootfs_upper.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!rootfs.dir) return ErrnoStatus(absl::StrCat("open the rootfs' upper layer ", rootfs_upper));
      rootfs.remove_root = container_root;
    } else {
      absl::StatusOr<std::optional<UniqueFd>> dir = OpenContainerDirectory(container_root, "/");
      if (!dir.ok()) return dir.status();
      if (!*dir) return absl::FailedPreconditionError("the container's root is not a directory");
      rootfs.dir = std::move(**dir);
      rootfs.changed_since = created;
    }
    places.push_back(std::move(rootfs));
  }
  if (!workspace_target.empty()) {
    absl::StatusOr<std::optional<UniqueFd>> dir = OpenContainerDirectory(container_root, workspace_target);
    if (!dir.ok()) return dir.status();
    if (!*dir) return absl::FailedPreconditionError(absl::StrCat("the workspace ", workspace_target, " is not a directory"));
    places.push_back({.label = "workspace " + workspace_target, .dir = std::move(**dir), .changed_since = created});
  }
  std::set<std::string> seen;
  for (const MountInfo& m : ParseMountinfo(*mountinfo)) {
    const bool tmpfs = m.fs_type == "tmpfs";
    if ((!tmpfs && m.fs_type != "mqueue") || m.read_only() || m.mount_point == "/" || m.mount_point == workspace_target ||
        absl::StartsWith(m.mount_point, workspace_target + "/") || !seen.insert(m.mount_point).second) {
      continue;
    }
    absl::StatusOr<std::optional<UniqueFd>> dir = OpenContainerDirectory(container_root, m.mount_point);
    if (!dir.ok()) return dir.status();
    // A file bound over a path: not a place to write to.
    if (!*dir) continue;
    // A mount hidden under another one is out of everyone's reach: the path shows the top one.
    if (!FsTypeIs((*dir)->get(), tmpfs ? TMPFS_MAGIC : kMqueueMagic)) continue;
    const bool named = std::find(named_tmpfs.begin(), named_tmpfs.end(), m.mount_point) != named_tmpfs.end();
    SweepPlace place;
    place.dir = std::move(**dir);
    if (named || m.mount_point == "/dev") {
      place.label = absl::StrCat(m.fs_type, " ", m.mount_point);
    } else {
      place.label = absl::StrCat(m.fs_type, " ", m.mount_point, " (not in the policy)");
      place.action = SweepPlace::Action::kEmpty;
    }
    places.push_back(std::move(place));
  }
  return places;
}

}  // namespace airlock::sandbox
