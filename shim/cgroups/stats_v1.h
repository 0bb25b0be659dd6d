// io.containerd.cgroups.v1.Metrics of a cgroup v1 container, read as containerd's cgroups 1.x
// library reads it (github.com/containerd/cgroups {pids,cpu,cpuacct,memory,blkio,hugetlb}.go):
// same files, same units, same fallbacks. Absent controllers and files are skipped, as the runc
// shim does with cgroups.IgnoreNotExist; malformed files are errors.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "containerd/cgroups/v1/metrics.pb.h"
#include "shim/cgroups/cgroup_location.h"

namespace airlock::cgroups {

struct V1StatsSources {
  std::string proc_partitions = "/proc/partitions";       // block device names
  std::string hugepages_dir = "/sys/kernel/mm/hugepages";  // huge page sizes
};

absl::StatusOr<io::containerd::cgroups::v1::Metrics> CollectV1Metrics(const CgroupLocation& location,
                                                                      const V1StatsSources& sources = {});

}  // namespace airlock::cgroups
