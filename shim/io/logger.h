// A logging program named by a binary:// URI, started as containerd's NewBinaryIO does: fd 3 is
// the read end of the process' stdout, fd 4 of its stderr, fd 5 a pipe the program closes (or
// writes a byte to) when it is ready; its environment is exactly CONTAINER_ID and
// CONTAINER_NAMESPACE; its arguments come from the URI's query.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shim/base/subprocess.h"
#include "shim/base/unique_fd.h"
#include "shim/io/stdio_uri.h"

namespace airlock::io {

class Logger {
 public:
  // How long the program has to say it is ready; and, when it is stopped, to exit after SIGTERM
  // (containerd: 12 s) before it is killed.
  static constexpr absl::Duration kReadyTimeout = absl::Seconds(30);
  static constexpr absl::Duration kTermGrace = absl::Seconds(12);

  static absl::StatusOr<std::unique_ptr<Logger>> Start(const StdioTarget& target, const std::string& container_id,
                                                       const std::string& ns,
                                                       absl::Duration ready_timeout = kReadyTimeout);
  // SIGTERM; the program is reaped in the background and killed if it outlives kTermGrace.
  ~Logger();

  // The write ends of the program's stdout and stderr pipes (blocking, CLOEXEC).
  UniqueFd TakeStdout() { return std::move(stdout_write_); }
  UniqueFd TakeStderr() { return std::move(stderr_write_); }
  pid_t pid() const { return child_ ? child_->pid() : -1; }

 private:
  Logger() = default;
  std::unique_ptr<Child> child_;
  UniqueFd stdout_write_;
  UniqueFd stderr_write_;
};

}  // namespace airlock::io
