#include "shim/runc/exec_fifo.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"
#include "shim/base/unique_fd.h"

namespace airlock::runc {
namespace {

struct Woken {
  bool hangup = false;      // a writer came after this reader and left
  bool init_ended = false;
};

// Waits at most `wait` for `fifo` to become readable or hang up, or for the init to end.
absl::StatusOr<Woken> WaitFifoOrExit(int fifo, int pidfd, absl::Duration wait) {
  pollfd fds[2] = {{fifo, POLLIN, 0}, {pidfd, POLLIN, 0}};
  timespec ts = absl::ToTimespec(std::max(wait, absl::ZeroDuration()));
  if (ppoll(fds, 2, &ts, nullptr) < 0 && errno != EINTR) return ErrnoStatus("poll exec fifo");
  return Woken{.hangup = (fds[0].revents & POLLHUP) != 0, .init_ended = (fds[1].revents & POLLIN) != 0};
}

}  // namespace

absl::StatusOr<FifoStart> StartThroughExecFifo(const std::string& state_dir, pid_t init_pid, absl::Duration timeout) {
  const std::string path = state_dir + "/exec.fifo";
  struct stat st;
  if (init_pid <= 0 || lstat(path.c_str(), &st) != 0 || !S_ISFIFO(st.st_mode)) return FifoStart::kNotApplicable;
  // The init is watched by pidfd (Linux >= 5.3): without one, `runc start` does the watching.
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, init_pid, 0)));
  if (!pidfd) return FifoStart::kNotApplicable;
  // Non-blocking: the init may not have opened its end yet, and may die before it does.
  UniqueFd fifo(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
  if (!fifo) return FifoStart::kNotApplicable;
  const absl::Time deadline = absl::Now() + timeout;
  char buf[64];

  // 1. The init's byte: it writes it as soon as a reader is there, then execs.
  Woken woken;
  for (;;) {
    ssize_t r = read(fifo.get(), buf, sizeof buf);
    if (r > 0) break;
    if (r < 0 && errno != EAGAIN && errno != EINTR) return ErrnoStatus(absl::StrCat("read ", path));
    // r == 0: no writer (yet, or any more); EAGAIN: a writer without its byte yet. runc's words.
    if (woken.init_ended) return absl::UnknownError("cannot start a container that has stopped");
    if (r == 0 && woken.hangup) return absl::UnknownError("cannot start an already running container");
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("start: the container's init did not answer on its exec fifo in ",
                                                      absl::FormatDuration(timeout)));
    }
    // A FIFO reports no hang-up for a writer that came before this reader, and reads 0 before one
    // comes: the pidfd tells a dead init from a slow one.
    absl::StatusOr<Woken> next =
        WaitFifoOrExit(fifo.get(), pidfd.get(), std::min(absl::Milliseconds(100), deadline - absl::Now()));
    if (!next.ok()) return next.status();
    woken = *next;
  }

  // 2. The end of file: the init's end closes when it execs the user's process (O_CLOEXEC) or
  // ends, which is when `runc start` returns too. Short waits: no hang-up may come (see above).
  absl::Duration pause = absl::Microseconds(50);
  for (;;) {
    ssize_t r = read(fifo.get(), buf, sizeof buf);
    if (r == 0) break;
    if (r > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return ErrnoStatus(absl::StrCat("read ", path));
    // Still open though the init ended: not runc's init holding it. Nothing to wait for.
    if (woken.init_ended) return absl::UnknownError(absl::StrCat(path, " is held open by another process"));
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("start: the container's init did not exec its process in ",
                                                      absl::FormatDuration(timeout)));
    }
    absl::StatusOr<Woken> next = WaitFifoOrExit(fifo.get(), pidfd.get(), std::min(pause, deadline - absl::Now()));
    if (!next.ok()) return next.status();
    woken = *next;
    pause = std::min(pause * 2, absl::Milliseconds(10));
  }
  // runc reads "created" from the fifo's existence: without it the container is running.
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(absl::StrCat("remove ", path));
  return FifoStart::kStarted;
}

}  // namespace airlock::runc
