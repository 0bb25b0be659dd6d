// Typed calls of containerd's services (gRPC API v1) the `airlock run` flow needs. Each function is
// one RPC; errors are containerd's (NotFound, AlreadyExists, ...) with its message.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cmd/airlock/containerd/connection.h"
#include "containerd/services/containers/v1/containers.pb.h"
#include "containerd/services/images/v1/images.pb.h"
#include "containerd/services/snapshots/v1/snapshots.pb.h"
#include "containerd/services/tasks/v1/tasks.pb.h"
#include "containerd/services/version/v1/version.pb.h"
#include "containerd/types/mount.pb.h"

namespace airlock::containerd {

namespace api {
namespace containers = ::containerd::services::containers::v1;
namespace images = ::containerd::services::images::v1;
namespace snapshots = ::containerd::services::snapshots::v1;
namespace tasks = ::containerd::services::tasks::v1;
namespace version = ::containerd::services::version::v1;
}  // namespace api

using Mounts = std::vector<::containerd::types::Mount>;

// version
absl::StatusOr<api::version::VersionResponse> GetVersion(Connection& c, absl::Duration timeout = absl::Seconds(5));

// images
absl::StatusOr<api::images::Image> GetImage(Connection& c, const std::string& name);

// content: the whole blob, refused when larger than `max_bytes`.
absl::StatusOr<std::string> ReadContent(Connection& c, const std::string& digest, int64_t max_bytes);

// leases
absl::Status CreateLease(Connection& c, const std::string& id, const std::map<std::string, std::string>& labels);
absl::Status DeleteLease(Connection& c, const std::string& id, const CallOptions& options = {});
absl::StatusOr<bool> LeaseExists(Connection& c, const std::string& id);
struct LeaseInfo {
  std::string id;
  absl::Time created;
  std::map<std::string, std::string> labels;
};
// Leases matching containerd's filter syntax (e.g. "labels.\"airlock.dev/cache\"").
absl::StatusOr<std::vector<LeaseInfo>> ListLeases(Connection& c, const std::string& filter);

// snapshots
absl::StatusOr<api::snapshots::Info> StatSnapshot(Connection& c, const std::string& snapshotter, const std::string& key);
// `lease`: set, the snapshot belongs to that lease instead of the connection's.
absl::StatusOr<Mounts> PrepareSnapshot(Connection& c, const std::string& snapshotter, const std::string& key,
                                       const std::string& parent, const std::optional<std::string>& lease = std::nullopt);
absl::Status RemoveSnapshot(Connection& c, const std::string& snapshotter, const std::string& key,
                            const CallOptions& options = {});
// A read-only view of committed snapshot `parent` under `key`.
absl::StatusOr<Mounts> ViewSnapshot(Connection& c, const std::string& snapshotter, const std::string& key,
                                    const std::string& parent, const CallOptions& options = {});
// Commits active snapshot `key` as `name` (with `labels`); the key is gone afterwards.
absl::Status CommitSnapshot(Connection& c, const std::string& snapshotter, const std::string& name,
                            const std::string& key, const std::map<std::string, std::string>& labels,
                            const CallOptions& options = {});
// Sets (or, with an empty value, removes) these labels of a snapshot; the others stay.
absl::Status UpdateSnapshotLabels(Connection& c, const std::string& snapshotter, const std::string& name,
                                  const std::map<std::string, std::string>& labels);
// Snapshots matching containerd's filter syntax.
absl::StatusOr<std::vector<api::snapshots::Info>> ListSnapshots(Connection& c, const std::string& snapshotter,
                                                                const std::string& filter);
// Bytes a snapshot's own layer holds (for an active one: computed now).
absl::StatusOr<int64_t> SnapshotUsage(Connection& c, const std::string& snapshotter, const std::string& key);

// containers
absl::Status CreateContainer(Connection& c, const api::containers::Container& container);
absl::Status DeleteContainer(Connection& c, const std::string& id, const CallOptions& options = {});
absl::StatusOr<api::containers::Container> GetContainer(Connection& c, const std::string& id);

// tasks
struct TaskIoPaths {
  std::string stdout_path;
  std::string stderr_path;
};
absl::StatusOr<uint32_t> CreateTask(Connection& c, const std::string& id, const Mounts& rootfs, const TaskIoPaths& io);
absl::StatusOr<uint32_t> StartProcess(Connection& c, const std::string& id, const std::string& exec_id = "");
absl::Status ExecProcess(Connection& c, const std::string& id, const std::string& exec_id, const std::string& process_json,
                         const TaskIoPaths& io);
struct ExitStatus {
  uint32_t code = 0;
};
// Blocks until the process exits (no deadline; the canceller aborts it).
absl::StatusOr<ExitStatus> WaitProcess(Connection& c, const std::string& id, const std::string& exec_id = "");
absl::Status KillProcess(Connection& c, const std::string& id, const std::string& exec_id, uint32_t signal, bool all,
                         const CallOptions& options = {});
absl::Status DeleteProcess(Connection& c, const std::string& id, const std::string& exec_id,
                           const CallOptions& options = {});
absl::StatusOr<ExitStatus> DeleteTask(Connection& c, const std::string& id, const CallOptions& options = {});
absl::StatusOr<::containerd::v1::types::Process> GetTask(Connection& c, const std::string& id,
                                                          const CallOptions& options = {});

}  // namespace airlock::containerd
