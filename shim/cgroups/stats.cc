#include "shim/cgroups/stats.h"

#include "shim/cgroups/stats_v1.h"
#include "shim/cgroups/stats_v2.h"

namespace airlock::cgroups {

absl::StatusOr<google::protobuf::Any> CollectStats(const CgroupLocation& location) {
  google::protobuf::Any any;
  if (location.unified) {
    absl::StatusOr<io::containerd::cgroups::v2::Metrics> metrics = CollectV2Metrics(location.unified_dir);
    if (!metrics.ok()) return metrics.status();
    any.set_type_url(kV2MetricsTypeUrl);
    metrics->SerializeToString(any.mutable_value());
  } else {
    absl::StatusOr<io::containerd::cgroups::v1::Metrics> metrics = CollectV1Metrics(location);
    if (!metrics.ok()) return metrics.status();
    any.set_type_url(kV1MetricsTypeUrl);
    metrics->SerializeToString(any.mutable_value());
  }
  return any;
}

absl::StatusOr<google::protobuf::Any> CollectStats(pid_t container_init_pid) {
  absl::StatusOr<CgroupLocation> location = ResolveCgroups(container_init_pid);
  if (!location.ok()) return location.status();
  return CollectStats(*location);
}

}  // namespace airlock::cgroups
