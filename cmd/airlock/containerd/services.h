// Typed calls of containerd's services (gRPC API v1) the `airlock run` flow needs. Each function is
// one RPC; errors are containerd's (NotFound, AlreadyExists, ...) with its message.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// snapshots
absl::StatusOr<api::snapshots::Info> StatSnapshot(Connection& c, const std::string& snapshotter, const std::string& key);
absl::StatusOr<Mounts> PrepareSnapshot(Connection& c, const std::string& snapshotter, const std::string& key,
                                       const std::string& parent);
absl::Status RemoveSnapshot(Connection& c, const std::string& snapshotter, const std::string& key,
                            const CallOptions& options = {});

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
