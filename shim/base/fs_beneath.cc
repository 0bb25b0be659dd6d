#include "shim/base/fs_beneath.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "shim/base/terminal_text.h"
#include "shim/base/errno_status.h"

namespace airlock {
absl::StatusOr<UniqueFd> OpenBeneath(int root_fd, const std::string& relative, int flags, mode_t mode,
                                     MountCrossing mounts) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) != 0 ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  if (mounts == MountCrossing::kRefuse) how.resolve |= RESOLVE_NO_XDEV;
  const char* path = relative.empty() ? "." : relative.c_str();
  for (int attempt = 0; attempt < 100; ++attempt) {
    long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno == EINTR || errno == EAGAIN) continue;  // EAGAIN: a rename raced the lookup
    return ErrnoStatus(errno, absl::StrCat("open ", QuotePath(relative)));
  }
  return ErrnoStatus(EAGAIN, absl::StrCat("open ", QuotePath(relative)));
}

absl::StatusOr<std::vector<std::string>> ListDirectory(int dir_fd, size_t max_entries) {
  int copy = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (copy < 0) return ErrnoStatus("open directory");
  DIR* dir = fdopendir(copy);
  if (dir == nullptr) {
    int err = errno;
    close(copy);
    return ErrnoStatus(err, "read directory");
  }
  std::vector<std::string> names;
  absl::Status status;
  for (;;) {
    errno = 0;
    dirent* e = readdir(dir);
    if (e == nullptr) {
      if (errno != 0) status = ErrnoStatus("read directory");
      break;
    }
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    if (names.size() >= max_entries) {
      status = absl::OutOfRangeError(absl::StrCat("more than ", max_entries, " entries"));
      break;
    }
    names.emplace_back(e->d_name);
  }
  closedir(dir);
  if (!status.ok()) return status;
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<std::optional<std::string>> ReadRegularFile(int dir_fd, const std::string& name, uint64_t max_bytes) {
  struct stat st {};
  if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return ErrnoStatus(absl::StrCat("stat ", QuotePath(name)));
  }
  if (!S_ISREG(st.st_mode)) return std::optional<std::string>();
  int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(absl::StrCat("open ", QuotePath(name)));
  UniqueFd file(fd);
  if (fstat(fd, &st) != 0) return ErrnoStatus(absl::StrCat("stat ", QuotePath(name)));
  if (!S_ISREG(st.st_mode)) return std::optional<std::string>();
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return absl::OutOfRangeError(absl::StrCat(QuotePath(name), " has ", st.st_size, " bytes (at most ", max_bytes, ")"));
  }
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t got = read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return ErrnoStatus(absl::StrCat("read ", QuotePath(name)));
    if (got == 0) break;
    if (data.size() + static_cast<size_t>(got) > max_bytes) {
      return absl::OutOfRangeError(absl::StrCat(QuotePath(name), " grew past ", max_bytes, " bytes"));
    }
    data.append(buf, static_cast<size_t>(got));
  }
  return std::optional<std::string>(std::move(data));
}

absl::Status RemoveEntry(int dir_fd, const std::string& name, size_t max_entries) {
  struct stat st {};
  if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(absl::StrCat("stat ", QuotePath(name)));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) return ErrnoStatus(absl::StrCat("remove ", QuotePath(name)));
    return absl::OkStatus();
  }
  // Depth first with ONE directory open at a time: down by name (never following), back up by
  // "..", which inside this tree is always the directory we came from (nothing else runs in it).
  // Each directory is listed once: its files removed, its subdirectories kept as the level's
  // pending names. A tree of any depth is removed with two fds.
  struct Level {
    std::string name;
    std::vector<std::string> pending;  // subdirectories still to remove
  };
  const dev_t dev = st.st_dev;
  std::vector<Level> down;
  size_t removed = 0;
  UniqueFd current(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!current) return ErrnoStatus(absl::StrCat("open ", QuotePath(name)));
  auto enter = [&](const std::string& entered) -> absl::Status {
    Level level{entered, {}};
    absl::StatusOr<std::vector<std::string>> entries =
        ListDirectory(current.get(), max_entries - std::min(max_entries, removed) + 1);
    if (!entries.ok()) return entries.status();
    for (const std::string& entry : *entries) {
      if (++removed > max_entries) return absl::OutOfRangeError(absl::StrCat("more than ", max_entries, " entries to remove"));
      struct stat est {};
      if (fstatat(current.get(), entry.c_str(), &est, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return ErrnoStatus(absl::StrCat("stat ", QuotePath(entry)));
      }
      if (S_ISDIR(est.st_mode)) {
        if (est.st_dev != dev) return absl::FailedPreconditionError(absl::StrCat(QuotePath(entry), " is a mount point: not removed"));
        level.pending.push_back(entry);
      } else if (unlinkat(current.get(), entry.c_str(), 0) != 0 && errno != ENOENT) {
        return ErrnoStatus(absl::StrCat("remove ", QuotePath(entry)));
      }
    }
    down.push_back(std::move(level));
    return absl::OkStatus();
  };
  if (absl::Status s = enter(name); !s.ok()) return s;
  while (!down.empty()) {
    Level& level = down.back();
    if (!level.pending.empty()) {
      std::string sub = std::move(level.pending.back());
      level.pending.pop_back();
      UniqueFd next(openat(current.get(), sub.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next) return ErrnoStatus(absl::StrCat("open ", QuotePath(sub)));
      current = std::move(next);
      if (absl::Status s = enter(sub); !s.ok()) return s;
      continue;
    }
    // Empty now: up one level and remove it there.
    std::string gone = std::move(level.name);
    down.pop_back();
    if (down.empty()) {
      current.reset();
      if (unlinkat(dir_fd, gone.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
        return ErrnoStatus(absl::StrCat("remove ", QuotePath(gone)));
      }
      break;
    }
    UniqueFd parent(openat(current.get(), "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!parent) return ErrnoStatus("open ..");
    current = std::move(parent);
    if (unlinkat(current.get(), gone.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return ErrnoStatus(absl::StrCat("remove ", QuotePath(gone)));
    }
  }
  return absl::OkStatus();
}

}  // namespace airlock
