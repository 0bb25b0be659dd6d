// Task.Stats for a container: its cgroup statistics packed as containerd expects them in
// StatsResponse.stats. Blocking file reads (a few dozen small files): call on the WorkerPool.
#pragma once

#include <sys/types.h>

#include "absl/status/statusor.h"
#include "google/protobuf/any.pb.h"
#include "shim/cgroups/cgroup_location.h"

namespace airlock::cgroups {

// The Any type URLs: bare full names, as containerd's typeurl produces and resolves them for
// cgroups metrics (no "type.googleapis.com/" prefix).
inline constexpr char kV1MetricsTypeUrl[] = "io.containerd.cgroups.v1.Metrics";
inline constexpr char kV2MetricsTypeUrl[] = "io.containerd.cgroups.v2.Metrics";

// io.containerd.cgroups.v1.Metrics on legacy/hybrid hosts, io.containerd.cgroups.v2.Metrics on
// unified ones, chosen by `location.unified`.
absl::StatusOr<google::protobuf::Any> CollectStats(const CgroupLocation& location);

// Resolves the cgroups of `container_init_pid` first (see ResolveCgroups).
absl::StatusOr<google::protobuf::Any> CollectStats(pid_t container_init_pid);

}  // namespace airlock::cgroups
