#include "policy/net/fs_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"

namespace airlock::net {

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
