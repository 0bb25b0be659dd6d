// The seal's SysV IPC sweep: shared memory segments, message queues and semaphore sets outlive
// the processes that made them, in the container's own IPC namespace, which the execution phase
// keeps. A setup that parks a secret in a segment would hand it to the agent (ipcs, shmat), so at
// the seal every such object is removed, secrets or not (like the tmpfs the policy does not name).
#pragma once

#include <sys/types.h>

#include "absl/status/statusor.h"

namespace airlock::sandbox {

struct IpcSweepResult {
  int shm = 0;  // segments removed
  int msg = 0;  // message queues removed
  int sem = 0;  // semaphore sets removed
};

// Removes every SysV IPC object of `init`'s IPC namespace. Refuses (FailedPrecondition) when that
// namespace is the shim's own: never the host's objects.
absl::StatusOr<IpcSweepResult> RemoveSysvIpc(pid_t init);

}  // namespace airlock::sandbox
