// Starting a created runc container without a `runc start` process.
//
// `runc create` leaves the container's init blocked on <state dir>/exec.fifo; `runc start` (runc
// 1.0 to 1.4) only opens that fifo, reads the byte the init writes, waits for the end of file (the
// init's fd closes when it execs the user's process) and removes the fifo, which is how runc tells
// "created" from "running". Doing those steps here spares a runc process per task, ~3 ms of CPU and
// a fork under load. Poststart hooks are the one thing newer runtimes run in `start` (runc >= 1.5,
// crun): the caller keeps `runc start` for a spec that has them, and for any binary but runc.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace airlock::runc {

enum class FifoStart {
  kStarted,      // the init exec'd the user's process (or ended after its byte); the fifo is gone
  kNotApplicable,  // no exec fifo, or no way to watch the init: let `runc start` decide
};

// `state_dir`: <runc root>/<id>. `init_pid`: the container's init. Waits at most `timeout` (the
// init is stopped, say). An error means the start failed (the init died before its byte).
absl::StatusOr<FifoStart> StartThroughExecFifo(const std::string& state_dir, pid_t init_pid, absl::Duration timeout);

}  // namespace airlock::runc
