// Opening the paths containerd names for a process' stdio. Every fd is CLOEXEC.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "shim/base/unique_fd.h"

namespace airlock::io {

struct OutputFds {
  UniqueFd write;
  // A fifo's read end the shim holds and never reads: with it the writer never gets EPIPE while
  // containerd (the real reader) is away, e.g. restarting; the data waits in the fifo.
  UniqueFd held_reader;
};

// A plain stdout/stderr path. A fifo is opened read side first (O_RDONLY|O_NONBLOCK never blocks),
// then for writing, which then cannot block either. An existing non-fifo (a regular file, a
// device) is opened for append, as containerd's runc shim does; a missing path is an error.
// `nonblocking`: the write end is for the shim's own use on the Reactor.
absl::StatusOr<OutputFds> OpenOutputPath(const std::string& path, bool nonblocking);

// file:// targets: parent directories are created (0755), the file too (0640); appended to.
absl::StatusOr<UniqueFd> OpenLogFile(const std::string& path);

struct StdinFds {
  UniqueFd fifo;       // read end, O_NONBLOCK
  UniqueFd keepalive;  // the shim's own write end: the fifo reads no EOF until it is closed
  UniqueFd plain;      // not a fifo (a regular file): given to the process as it is
};
absl::StatusOr<StdinFds> OpenStdinPath(const std::string& path);

// A pipe between the process and the shim. The process' end stays blocking (its own file
// description: the shim's O_NONBLOCK never leaks into it); the shim's end is non-blocking for the
// Reactor. `shim_end_reads`: the shim reads it (stdout/stderr), else it writes it (stdin).
struct PipeFds {
  UniqueFd process_end;
  UniqueFd shim_end;
};
absl::StatusOr<PipeFds> MakePipe(bool shim_end_reads);

bool IsFifo(int fd);

absl::Status SetNonBlocking(int fd, bool on = true);

}  // namespace airlock::io
