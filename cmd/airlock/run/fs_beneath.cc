#include "cmd/airlock/run/fs_beneath.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"

namespace airlock::run {
absl::StatusOr<UniqueFd> OpenBeneath(int root_fd, const std::string& relative, int flags, mode_t mode) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) != 0 ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  const char* path = relative.empty() ? "." : relative.c_str();
  for (int attempt = 0; attempt < 100; ++attempt) {
    long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno == EINTR || errno == EAGAIN) continue;  // EAGAIN: a rename raced the lookup
    return ErrnoStatus(errno, absl::StrCat("open ", relative));
  }
  return ErrnoStatus(EAGAIN, absl::StrCat("open ", relative));
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
      status = absl::ResourceExhaustedError(absl::StrCat("more than ", max_entries, " entries"));
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
    return ErrnoStatus(absl::StrCat("stat ", name));
  }
  if (!S_ISREG(st.st_mode)) return std::optional<std::string>();
  int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(absl::StrCat("open ", name));
  UniqueFd file(fd);
  if (fstat(fd, &st) != 0) return ErrnoStatus(absl::StrCat("stat ", name));
  if (!S_ISREG(st.st_mode)) return std::optional<std::string>();
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(name, " has ", st.st_size, " bytes (at most ", max_bytes, ")"));
  }
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t got = read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return ErrnoStatus(absl::StrCat("read ", name));
    if (got == 0) break;
    if (data.size() + static_cast<size_t>(got) > max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(name, " grew past ", max_bytes, " bytes"));
    }
    data.append(buf, static_cast<size_t>(got));
  }
  return std::optional<std::string>(std::move(data));
}

namespace {

absl::Status RemoveBelow(int dir_fd, const std::string& name, size_t& budget, int depth) {
  if (budget == 0) return absl::ResourceExhaustedError("too many entries to remove");
  --budget;
  struct stat st {};
  if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(absl::StrCat("stat ", name));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) return ErrnoStatus(absl::StrCat("remove ", name));
    return absl::OkStatus();
  }
  if (depth > 4096) return absl::ResourceExhaustedError("directories nested too deep to remove");
  int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(absl::StrCat("open ", name));
  UniqueFd sub(fd);
  struct stat sub_st {};
  if (fstat(fd, &sub_st) != 0 || sub_st.st_dev != st.st_dev) {
    return absl::FailedPreconditionError(absl::StrCat(name, " is a mount point: not removed"));
  }
  absl::StatusOr<std::vector<std::string>> children = ListDirectory(fd, budget + 1);
  if (!children.ok()) return children.status();
  for (const std::string& child : *children) {
    if (absl::Status s = RemoveBelow(fd, child, budget, depth + 1); !s.ok()) return s;
  }
  if (unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) return ErrnoStatus(absl::StrCat("remove ", name));
  return absl::OkStatus();
}

}  // namespace

absl::Status RemoveEntry(int dir_fd, const std::string& name, size_t max_entries) {
  size_t budget = max_entries;
  return RemoveBelow(dir_fd, name, budget, 0);
}

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t put = write(fd, data.data(), data.size());
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) return ErrnoStatus("write");
    data.remove_prefix(static_cast<size_t>(put));
  }
  return absl::OkStatus();
}

}  // namespace airlock::run
