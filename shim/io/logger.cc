#include "shim/io/logger.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"
#include "shim/base/log.h"

namespace airlock::io {
namespace {

absl::Status Pipe(UniqueFd& read_end, UniqueFd& write_end) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus("pipe");
  read_end.reset(p[0]);
  write_end.reset(p[1]);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Logger>> Logger::Start(const StdioTarget& target, const std::string& container_id,
                                                      const std::string& ns, absl::Duration ready_timeout) {
  std::unique_ptr<Logger> logger(new Logger());
  UniqueFd out_read, err_read, ready_read, ready_write;
  if (absl::Status s = Pipe(out_read, logger->stdout_write_); !s.ok()) return s;
  if (absl::Status s = Pipe(err_read, logger->stderr_write_); !s.ok()) return s;
  if (absl::Status s = Pipe(ready_read, ready_write); !s.ok()) return s;

  SpawnOptions options;
  options.argv.push_back(target.path);
  options.argv.insert(options.argv.end(), target.args.begin(), target.args.end());
  options.env = {absl::StrCat("CONTAINER_ID=", container_id), absl::StrCat("CONTAINER_NAMESPACE=", ns)};
  options.fds = {{3, out_read.get()}, {4, err_read.get()}, {5, ready_write.get()}};
  absl::StatusOr<std::unique_ptr<Child>> child = Spawn(options);
  if (!child.ok()) {
    return absl::Status(child.status().code(),
                        absl::StrCat("failed to start logging binary process: ", child.status().message()));
  }
  logger->child_ = std::move(*child);
  // The program has its ends now; the shim keeps only the write ends for the process.
  out_read.reset();
  err_read.reset();
  ready_write.reset();

  const absl::Time deadline = absl::Now() + ready_timeout;
  for (;;) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat("logging binary ", target.path, " did not get ready in time"));
    }
    struct pollfd pfd = {ready_read.get(), POLLIN, 0};
    int r = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)))));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus("poll logging binary ready pipe");
    if (r == 0) continue;
    char byte;
    ssize_t n = ::read(ready_read.get(), &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read from logging binary");
    break;  // a byte or EOF: ready (containerd reads the same way)
  }
  return logger;
}

Logger::~Logger() {
  if (!child_) return;
  // The process' pipes close first (the members below), so the program sees EOF and can flush.
  stdout_write_.reset();
  stderr_write_.reset();
  ::kill(child_->pid(), SIGTERM);
  // Waiting may take up to kTermGrace: not on the caller's thread. Wait() kills it past the grace.
  std::thread([child = std::move(child_)]() mutable {
    absl::StatusOr<ChildResult> result = child->Wait(kTermGrace);
    if (!result.ok()) log::Warn("logging binary did not exit after SIGTERM; killed it");
  }).detach();
}

}  // namespace airlock::io
