// The socket runc's --console-socket connects to: runc creates the container's pty and sends the
// master over it with SCM_RIGHTS (the pty's name as the message, one fd as the ancillary data).
//
// A unix socket path has at most 107 bytes; a bundle under /run/containerd/... with a 64-character
// id is longer than that, so the socket then goes into a private temporary directory instead (as
// containerd's runc shim always does).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shim/base/unique_fd.h"

namespace airlock::io {

class ConsoleSocket {
 public:
  // Listens on a fresh socket in `dir` (or in a temporary directory when that path is too long).
  static absl::StatusOr<ConsoleSocket> Listen(const std::string& dir);

  ConsoleSocket() = default;
  ConsoleSocket(ConsoleSocket&& other) noexcept;
  ConsoleSocket& operator=(ConsoleSocket&& other) noexcept;
  ~ConsoleSocket() { Close(); }

  const std::string& path() const { return path_; }
  bool listening() const { return listener_.valid(); }

  // Accepts runc's connection and returns the master it sends (CLOEXEC, not yet non-blocking).
  // Gives up after `timeout`.
  absl::StatusOr<UniqueFd> ReceiveMaster(absl::Duration timeout);

  // Stops listening and removes the socket (and its temporary directory).
  void Close();

 private:
  UniqueFd listener_;
  std::string path_;
  std::string temp_dir_;  // set when the socket lives in a directory of its own
};

}  // namespace airlock::io
