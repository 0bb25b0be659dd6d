// At the seal nothing started with network may cross into the execution phase: every process of the
// container but its init (airlock-init, PID 1 inside) is killed. The container's cgroup is frozen
// while its members are listed and killed, so nothing can fork past the kill.
#pragma once

#include <sys/types.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shim/cgroups/cgroup_location.h"

namespace airlock::sandbox {

// Kills every process in `init`'s cgroup (`location`, found when the container was created)
// except `init` and waits (bounded) until they are gone. Returns how many were killed.
absl::StatusOr<int> KillAllButInit(pid_t init, const cgroups::CgroupLocation& location,
                                   absl::Duration timeout = absl::Seconds(3));

}  // namespace airlock::sandbox
