#include "policy/net/fs_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"

namespace airlock::net {

absl::Status MakeDirs(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      return ErrnoStatus(errno, absl::StrCat("mkdir ", prefix));
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> LockFile(const std::string& path, absl::Duration timeout) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return ErrnoStatus(absl::StrCat("open ", path));
  absl::Time deadline = absl::Now() + timeout;
  // Bounded in time and count: 2 ms steps.
  for (int attempt = 0; attempt < 1000000; ++attempt) {
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return fd;
    if (errno != EWOULDBLOCK && errno != EINTR) return ErrnoStatus(absl::StrCat("flock ", path));
    if (absl::Now() >= deadline) break;
    ::usleep(2000);
  }
  return absl::DeadlineExceededError(absl::StrCat("timed out waiting for the lock ", path));
}

}  // namespace airlock::net
