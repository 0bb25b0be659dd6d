// The stdio of one container process (init or exec), from containerd's request to the fds runc gets.
//
// containerd names stdio as paths: "" (none), a fifo path (ctr, CRI), "file:///path" or
// "binary:///path?args" (logging drivers, e.g. nerdctl). The process never holds one of those host
// objects: a fifo or file fd inside the container names a host path, and reopening
// /proc/self/fd/N reaches the host inode (chmod it, read or truncate a log file). So, as
// containerd's runc shim does:
// - non-terminal stdout/stderr: a pipe each (one when both name the same place); the shim moves
//   its data to containerd's fifo with splice(2) in the Reactor (no copy through user space; a
//   file is copied). The shim keeps a read end of each fifo open (and never reads it) so nothing
//   gets EPIPE and the data waits while containerd restarts.
// - stdin: a pipe the shim feeds from the stdin fifo (or file) in the Reactor, so CloseIO can close
//   it and the container never sees a premature EOF before containerd opens its end.
// - binary://: the logging program's pipes, as containerd's NewBinaryIO makes them.
// - terminal: runc hands the pty master over a console socket; the shim copies master <-> fifos in
//   the Reactor and resizes it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "shim/base/reactor.h"

namespace airlock::io {

struct StdioConfig {
  std::string stdin_path;
  std::string stdout_path;
  std::string stderr_path;
  bool terminal = false;
  // For binary:// loggers: they get CONTAINER_ID and CONTAINER_NAMESPACE in their environment.
  std::string container_id;
  std::string ns;
  // Owner of the pipes the process gets as stdio (runc options IoUid/IoGid), so that a process of
  // another user (or a user namespace) may reopen them through /proc/self/fd; 0: root's, as made.
  uint32_t io_uid = 0;
  uint32_t io_gid = 0;
};

class ProcessIo {
 public:
  // Opens/creates everything the process needs. `work_dir` is a private directory of the shim where
  // a console socket may be created. Call on a worker thread (opening fifos may wait briefly).
  static absl::StatusOr<std::unique_ptr<ProcessIo>> Create(Reactor& reactor, const StdioConfig& config,
                                                           const std::string& work_dir);
  virtual ~ProcessIo() = default;

  // Non-terminal: fds to install as the child's 0, 1, 2 (when spawning runc); -1 means /dev/null.
  virtual int child_stdin() const = 0;
  virtual int child_stdout() const = 0;
  virtual int child_stderr() const = 0;

  // Terminal: the path to pass as `runc --console-socket`; empty when not a terminal.
  virtual const std::string& console_socket_path() const = 0;
  // Terminal: after `runc create`/`runc exec` returned, receives the pty master (bounded wait) and
  // starts copying. No-op when not a terminal.
  virtual absl::Status ReceiveConsole(absl::Duration timeout) = 0;

  // After runc has started the process: drops the shim's copies of the child's fds.
  virtual void CloseChildEnds() = 0;

  // Terminal: TIOCSWINSZ on the master (a size set before the master arrives is applied then).
  // Not a terminal: nothing to do, as in containerd.
  virtual absl::Status Resize(uint32_t width, uint32_t height) = 0;
  // CloseIO(stdin): the process sees EOF on stdin once buffered input is delivered (the shim's own
  // writer on the stdin fifo goes; EOF follows when containerd's writer is gone too). With a
  // terminal, that EOF hangs the console up, as containerd's runc shim does.
  virtual void CloseStdin() = 0;

  // The process has exited: deliver what it wrote (everything in its output pipes at this call;
  // terminal: until the slave is gone), then `done`. Output pipes close their fifo at their EOF
  // (a child of the process may hold them longer: its output still flows). `done` runs once (on
  // the reactor thread) when that is finished or `timeout` has passed. Destroying the ProcessIo before that cancels it (`done` is
  // then never called). Destruction is allowed on any thread.
  virtual void Drain(absl::Duration timeout, std::function<void()> done) = 0;
};

}  // namespace airlock::io
