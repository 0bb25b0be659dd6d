#include "shim/base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"
#include "shim/base/unique_fd.h"

namespace airlock {

absl::Status MakeDirs(const std::string& path, mode_t mode) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) return ErrnoStatus(absl::StrCat("mkdir ", prefix));
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, absl::string_view content, absl::string_view what) {
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus(absl::StrCat("write ", what));
    p += n;
    left -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view content, mode_t mode) {
  std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) return ErrnoStatus(absl::StrCat("create ", tmp));
  absl::Status status = WriteAll(fd.get(), content, tmp);
  if (status.ok() && ::fchmod(fd.get(), mode) != 0) status = ErrnoStatus(absl::StrCat("chmod ", tmp));
  if (status.ok() && ::close(fd.release()) != 0) status = ErrnoStatus(absl::StrCat("close ", tmp));
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) status = ErrnoStatus(absl::StrCat("rename ", tmp));
  if (!status.ok()) ::unlink(tmp.c_str());
  return status;
}

absl::Status RewriteFileInPlace(const std::string& path, absl::string_view content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return ErrnoStatus(absl::StrCat("open ", path));
  if (absl::Status written = WriteAll(fd.get(), content, path); !written.ok()) return written;
  if (::close(fd.release()) != 0) return ErrnoStatus(absl::StrCat("close ", path));
  return absl::OkStatus();
}

}  // namespace airlock
