// The filesystem half of the seal: the container's root becomes read-only, in the container's own
// mount namespace, while the workspace bind and the tmpfs mounts (separate mounts) stay writable.
#pragma once

#include <sys/types.h>

#include "absl/status/status.h"

namespace airlock::sandbox {

// Remounts `/` of `init`'s mount namespace (`root`: its /proc/PID/root) read-only, keeping its
// other flags, and verifies it. Fails with FailedPrecondition (EBUSY) while a process holds a file
// open for writing on it.
absl::Status RemountRootReadonly(pid_t init, int root);

}  // namespace airlock::sandbox
