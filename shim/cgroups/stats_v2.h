// io.containerd.cgroups.v2.Metrics of a cgroup2 directory, read as containerd's cgroups v3
// library (cgroup2/manager.go, utils.go; what containerd 2.x uses) reads it. Its fields are a
// superset of cgroups 1.x (containerd 1.6), whose readers ignore the additions. Values: cpu.stat
// in microseconds, "max" limits as UINT64_MAX, absent files as 0 (as in Go).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "containerd/cgroups/v2/metrics.pb.h"

namespace airlock::cgroups {

struct V2StatsSources {
  std::string hugepages_dir = "/sys/kernel/mm/hugepages";  // huge page sizes
};

absl::StatusOr<io::containerd::cgroups::v2::Metrics> CollectV2Metrics(const std::string& cgroup_dir,
                                                                      const V2StatsSources& sources = {});

}  // namespace airlock::cgroups
