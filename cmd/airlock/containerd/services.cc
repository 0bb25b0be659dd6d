#include "cmd/airlock/containerd/services.h"

#include "absl/strings/str_cat.h"
#include "containerd/services/content/v1/content.pb.h"
#include "containerd/services/leases/v1/leases.pb.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/field_mask.pb.h"

namespace airlock::containerd {
namespace {

namespace content = ::containerd::services::content::v1;
namespace leases = ::containerd::services::leases::v1;

constexpr char kProcessSpecType[] = "types.containerd.io/opencontainers/runtime-spec/1/Process";
// Calls that create something run to their end even after Ctrl-C: a cancelled create leaves it
// unknown whether the thing exists, and the destroy must know. They are bounded instead (the
// shim's Create makes the sandbox: netns, uplink, policy).
constexpr CallOptions kCreateCall{.timeout = absl::Seconds(60), .uncancellable = true};

}  // namespace

absl::StatusOr<api::version::VersionResponse> GetVersion(Connection& c, absl::Duration timeout) {
  google::protobuf::Empty request;
  api::version::VersionResponse response;
  absl::Status s = c.Call("/containerd.services.version.v1.Version/Version", request, &response, {.timeout = timeout});
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<api::images::Image> GetImage(Connection& c, const std::string& name) {
  api::images::GetImageRequest request;
  request.set_name(name);
  api::images::GetImageResponse response;
  absl::Status s = c.Call("/containerd.services.images.v1.Images/Get", request, &response);
  if (!s.ok()) return s;
  if (!response.has_image()) return absl::NotFoundError(absl::StrCat("image \"", name, "\": not found"));
  return response.image();
}

absl::StatusOr<std::string> ReadContent(Connection& c, const std::string& digest, int64_t max_bytes) {
  content::InfoRequest info_request;
  info_request.set_digest(digest);
  content::InfoResponse info;
  if (absl::Status s = c.Call("/containerd.services.content.v1.Content/Info", info_request, &info); !s.ok()) return s;
  if (info.info().size() > max_bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("blob ", digest, " holds ", info.info().size(), " bytes, more than the ", max_bytes, " expected"));
  }
  content::ReadContentRequest request;
  request.set_digest(digest);
  std::string blob;
  absl::Status s = c.ReadStream("/containerd.services.content.v1.Content/Read", request, [&](const std::string& bytes) {
    content::ReadContentResponse chunk;
    if (!chunk.ParseFromString(bytes)) return absl::DataLossError("content read: bad chunk");
    if (chunk.offset() != static_cast<int64_t>(blob.size())) {
      return absl::DataLossError(absl::StrCat("content read: chunk at ", chunk.offset(), ", expected ", blob.size()));
    }
    if (static_cast<int64_t>(blob.size() + chunk.data().size()) > max_bytes) {
      return absl::FailedPreconditionError(absl::StrCat("blob ", digest, " is larger than ", max_bytes, " bytes"));
    }
    blob += chunk.data();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return blob;
}

absl::Status CreateLease(Connection& c, const std::string& id, const std::map<std::string, std::string>& labels) {
  leases::CreateRequest request;
  request.set_id(id);
  for (const auto& [k, v] : labels) (*request.mutable_labels())[k] = v;
  leases::CreateResponse response;
  return c.Call("/containerd.services.leases.v1.Leases/Create", request, &response, kCreateCall);
}

absl::Status DeleteLease(Connection& c, const std::string& id, const CallOptions& options) {
  leases::DeleteRequest request;
  request.set_id(id);
  request.set_sync(true);  // the snapshot goes with it before we check for leftovers
  google::protobuf::Empty response;
  return c.Call("/containerd.services.leases.v1.Leases/Delete", request, &response, options);
}

absl::StatusOr<bool> LeaseExists(Connection& c, const std::string& id) {
  leases::ListRequest request;
  request.add_filters(absl::StrCat("id==", id));
  leases::ListResponse response;
  if (absl::Status s = c.Call("/containerd.services.leases.v1.Leases/List", request, &response, {.uncancellable = true});
      !s.ok()) {
    return s;
  }
  for (const auto& lease : response.leases()) {
    if (lease.id() == id) return true;
  }
  return false;
}

absl::StatusOr<std::vector<LeaseInfo>> ListLeases(Connection& c, const std::string& filter) {
  leases::ListRequest request;
  if (!filter.empty()) request.add_filters(filter);
  leases::ListResponse response;
  if (absl::Status s = c.Call("/containerd.services.leases.v1.Leases/List", request, &response); !s.ok()) return s;
  std::vector<LeaseInfo> found;
  for (const auto& lease : response.leases()) {
    LeaseInfo info;
    info.id = lease.id();
    info.created = absl::FromUnixSeconds(lease.created_at().seconds()) + absl::Nanoseconds(lease.created_at().nanos());
    info.labels.insert(lease.labels().begin(), lease.labels().end());
    found.push_back(std::move(info));
  }
  return found;
}

absl::StatusOr<api::snapshots::Info> StatSnapshot(Connection& c, const std::string& snapshotter, const std::string& key) {
  api::snapshots::StatSnapshotRequest request;
  request.set_snapshotter(snapshotter);
  request.set_key(key);
  api::snapshots::StatSnapshotResponse response;
  absl::Status s = c.Call("/containerd.services.snapshots.v1.Snapshots/Stat", request, &response, {.uncancellable = true});
  if (!s.ok()) return s;
  return response.info();
}

absl::StatusOr<Mounts> PrepareSnapshot(Connection& c, const std::string& snapshotter, const std::string& key,
                                       const std::string& parent, const std::optional<std::string>& lease) {
  api::snapshots::PrepareSnapshotRequest request;
  request.set_snapshotter(snapshotter);
  request.set_key(key);
  request.set_parent(parent);
  api::snapshots::PrepareSnapshotResponse response;
  CallOptions options = kCreateCall;
  options.lease = lease;
  absl::Status s = c.Call("/containerd.services.snapshots.v1.Snapshots/Prepare", request, &response, options);
  if (!s.ok()) return s;
  return Mounts(response.mounts().begin(), response.mounts().end());
}

absl::Status RemoveSnapshot(Connection& c, const std::string& snapshotter, const std::string& key,
                            const CallOptions& options) {
  api::snapshots::RemoveSnapshotRequest request;
  request.set_snapshotter(snapshotter);
  request.set_key(key);
  google::protobuf::Empty response;
  return c.Call("/containerd.services.snapshots.v1.Snapshots/Remove", request, &response, options);
}

absl::StatusOr<Mounts> ViewSnapshot(Connection& c, const std::string& snapshotter, const std::string& key,
                                    const std::string& parent, const CallOptions& options) {
  api::snapshots::ViewSnapshotRequest request;
  request.set_snapshotter(snapshotter);
  request.set_key(key);
  request.set_parent(parent);
  api::snapshots::ViewSnapshotResponse response;
  CallOptions create = options;
  create.uncancellable = true;
  absl::Status s = c.Call("/containerd.services.snapshots.v1.Snapshots/View", request, &response, create);
  if (!s.ok()) return s;
  return Mounts(response.mounts().begin(), response.mounts().end());
}

absl::Status CommitSnapshot(Connection& c, const std::string& snapshotter, const std::string& name,
                            const std::string& key, const std::map<std::string, std::string>& labels,
                            const CallOptions& options) {
  api::snapshots::CommitSnapshotRequest request;
  request.set_snapshotter(snapshotter);
  request.set_name(name);
  request.set_key(key);
  for (const auto& [k, v] : labels) (*request.mutable_labels())[k] = v;
  google::protobuf::Empty response;
  CallOptions commit = options;
  commit.uncancellable = true;  // it happened or not: the caller must know which
  commit.timeout = absl::Minutes(5);  // the snapshotter counts the layer's bytes
  return c.Call("/containerd.services.snapshots.v1.Snapshots/Commit", request, &response, commit);
}

absl::Status UpdateSnapshotLabels(Connection& c, const std::string& snapshotter, const std::string& name,
                                  const std::map<std::string, std::string>& labels) {
  api::snapshots::UpdateSnapshotRequest request;
  request.set_snapshotter(snapshotter);
  request.mutable_info()->set_name(name);
  for (const auto& [k, v] : labels) {
    if (!v.empty()) (*request.mutable_info()->mutable_labels())[k] = v;
    request.mutable_update_mask()->add_paths(absl::StrCat("labels.", k));
  }
  api::snapshots::UpdateSnapshotResponse response;
  return c.Call("/containerd.services.snapshots.v1.Snapshots/Update", request, &response);
}

absl::StatusOr<std::vector<api::snapshots::Info>> ListSnapshots(Connection& c, const std::string& snapshotter,
                                                                const std::string& filter) {
  api::snapshots::ListSnapshotsRequest request;
  request.set_snapshotter(snapshotter);
  if (!filter.empty()) request.add_filters(filter);
  std::vector<api::snapshots::Info> found;
  absl::Status s = c.ReadStream("/containerd.services.snapshots.v1.Snapshots/List", request, [&](const std::string& bytes) {
    api::snapshots::ListSnapshotsResponse chunk;
    if (!chunk.ParseFromString(bytes)) return absl::DataLossError("snapshot list: bad message");
    if (found.size() + chunk.info_size() > 100000) return absl::ResourceExhaustedError("snapshot list: over 100000 entries");
    found.insert(found.end(), chunk.info().begin(), chunk.info().end());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return found;
}

absl::StatusOr<int64_t> SnapshotUsage(Connection& c, const std::string& snapshotter, const std::string& key) {
  api::snapshots::UsageRequest request;
  request.set_snapshotter(snapshotter);
  request.set_key(key);
  api::snapshots::UsageResponse response;
  absl::Status s = c.Call("/containerd.services.snapshots.v1.Snapshots/Usage", request, &response,
                          {.timeout = absl::Minutes(2)});
  if (!s.ok()) return s;
  return response.size();
}

absl::Status CreateContainer(Connection& c, const api::containers::Container& container) {
  api::containers::CreateContainerRequest request;
  *request.mutable_container() = container;
  api::containers::CreateContainerResponse response;
  return c.Call("/containerd.services.containers.v1.Containers/Create", request, &response, kCreateCall);
}

absl::Status DeleteContainer(Connection& c, const std::string& id, const CallOptions& options) {
  api::containers::DeleteContainerRequest request;
  request.set_id(id);
  google::protobuf::Empty response;
  return c.Call("/containerd.services.containers.v1.Containers/Delete", request, &response, options);
}

absl::StatusOr<api::containers::Container> GetContainer(Connection& c, const std::string& id) {
  api::containers::GetContainerRequest request;
  request.set_id(id);
  api::containers::GetContainerResponse response;
  absl::Status s = c.Call("/containerd.services.containers.v1.Containers/Get", request, &response, {.uncancellable = true});
  if (!s.ok()) return s;
  return response.container();
}

absl::StatusOr<uint32_t> CreateTask(Connection& c, const std::string& id, const Mounts& rootfs, const TaskIoPaths& io) {
  api::tasks::CreateTaskRequest request;
  request.set_container_id(id);
  for (const auto& m : rootfs) *request.add_rootfs() = m;
  request.set_stdout(io.stdout_path);
  request.set_stderr(io.stderr_path);
  api::tasks::CreateTaskResponse response;
  // The shim's Create makes the sandbox (netns, uplink, policy): allow it time.
  absl::Status s = c.Call("/containerd.services.tasks.v1.Tasks/Create", request, &response, kCreateCall);
  if (!s.ok()) return s;
  return response.pid();
}

absl::StatusOr<uint32_t> StartProcess(Connection& c, const std::string& id, const std::string& exec_id) {
  api::tasks::StartRequest request;
  request.set_container_id(id);
  request.set_exec_id(exec_id);
  api::tasks::StartResponse response;
  absl::Status s = c.Call("/containerd.services.tasks.v1.Tasks/Start", request, &response, kCreateCall);
  if (!s.ok()) return s;
  return response.pid();
}

absl::Status ExecProcess(Connection& c, const std::string& id, const std::string& exec_id, const std::string& process_json,
                         const TaskIoPaths& io) {
  api::tasks::ExecProcessRequest request;
  request.set_container_id(id);
  request.set_exec_id(exec_id);
  request.set_stdout(io.stdout_path);
  request.set_stderr(io.stderr_path);
  request.mutable_spec()->set_type_url(kProcessSpecType);
  request.mutable_spec()->set_value(process_json);
  google::protobuf::Empty response;
  return c.Call("/containerd.services.tasks.v1.Tasks/Exec", request, &response, kCreateCall);
}

absl::StatusOr<ExitStatus> WaitProcess(Connection& c, const std::string& id, const std::string& exec_id) {
  api::tasks::WaitRequest request;
  request.set_container_id(id);
  request.set_exec_id(exec_id);
  api::tasks::WaitResponse response;
  absl::Status s = c.Call("/containerd.services.tasks.v1.Tasks/Wait", request, &response,
                          {.timeout = absl::InfiniteDuration()});
  if (!s.ok()) return s;
  return ExitStatus{response.exit_status()};
}

absl::Status KillProcess(Connection& c, const std::string& id, const std::string& exec_id, uint32_t signal, bool all,
                         const CallOptions& options) {
  api::tasks::KillRequest request;
  request.set_container_id(id);
  request.set_exec_id(exec_id);
  request.set_signal(signal);
  request.set_all(all);
  google::protobuf::Empty response;
  return c.Call("/containerd.services.tasks.v1.Tasks/Kill", request, &response, options);
}

absl::Status DeleteProcess(Connection& c, const std::string& id, const std::string& exec_id, const CallOptions& options) {
  api::tasks::DeleteProcessRequest request;
  request.set_container_id(id);
  request.set_exec_id(exec_id);
  api::tasks::DeleteResponse response;
  return c.Call("/containerd.services.tasks.v1.Tasks/DeleteProcess", request, &response, options);
}

absl::StatusOr<ExitStatus> DeleteTask(Connection& c, const std::string& id, const CallOptions& options) {
  api::tasks::DeleteTaskRequest request;
  request.set_container_id(id);
  api::tasks::DeleteResponse response;
  absl::Status s = c.Call("/containerd.services.tasks.v1.Tasks/Delete", request, &response, options);
  if (!s.ok()) return s;
  return ExitStatus{response.exit_status()};
}

absl::StatusOr<::containerd::v1::types::Process> GetTask(Connection& c, const std::string& id,
                                                          const CallOptions& options) {
  api::tasks::GetRequest request;
  request.set_container_id(id);
  api::tasks::GetResponse response;
  absl::Status s = c.Call("/containerd.services.tasks.v1.Tasks/Get", request, &response, options);
  if (!s.ok()) return s;
  return response.process();
}

}  // namespace airlock::containerd
