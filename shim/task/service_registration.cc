// The task service on the wire: every method under containerd.task.v2.Task and, with the same
// messages (containerd 2.x defines v3 as v2 under a new package), containerd.task.v3.Task.
#include "google/protobuf/empty.pb.h"
#include "shim/task/service.h"

namespace airlock::task {

void TaskService::Register(rpc::Registry& registry) {
  using google::protobuf::Empty;
  auto empty = [](absl::Status status) -> absl::StatusOr<Empty> {
    if (!status.ok()) return status;
    return Empty();
  };
  for (const char* service : {"containerd.task.v2.Task", "containerd.task.v3.Task"}) {
    registry.Add(service, "Create", rpc::Unary<api::CreateTaskRequest, api::CreateTaskResponse>(
                                        [this](const rpc::CallContext&, const auto& r) { return Create(r); }));
    registry.Add(service, "Start", rpc::Unary<api::StartRequest, api::StartResponse>(
                                       [this](const rpc::CallContext&, const auto& r) { return Start(r); }));
    registry.Add(service, "Delete", rpc::Unary<api::DeleteRequest, api::DeleteResponse>(
                                        [this](const rpc::CallContext&, const auto& r) { return Delete(r); }));
    registry.Add(service, "Exec", rpc::Unary<api::ExecProcessRequest, Empty>(
                                      [this, empty](const rpc::CallContext&, const auto& r) { return empty(Exec(r)); }));
    registry.Add(service, "State", rpc::Unary<api::StateRequest, api::StateResponse>(
                                       [this](const rpc::CallContext&, const auto& r) { return State(r); }));
    registry.Add(service, "Pids", rpc::Unary<api::PidsRequest, api::PidsResponse>(
                                      [this](const rpc::CallContext&, const auto& r) { return Pids(r); }));
    registry.Add(service, "Pause", rpc::Unary<api::PauseRequest, Empty>(
                                       [this, empty](const rpc::CallContext&, const auto& r) { return empty(Pause(r)); }));
    registry.Add(service, "Resume", rpc::Unary<api::ResumeRequest, Empty>(
                                        [this, empty](const rpc::CallContext&, const auto& r) { return empty(Resume(r)); }));
    registry.Add(service, "Checkpoint",
                 rpc::Unary<api::CheckpointTaskRequest, Empty>([](const rpc::CallContext&, const auto&) {
                   return absl::StatusOr<Empty>(absl::UnimplementedError(
                       "checkpoint is not supported by the airlock runtime: sandboxes are disposable"));
                 }));
    registry.Add(service, "Kill", rpc::Unary<api::KillRequest, Empty>(
                                      [this, empty](const rpc::CallContext&, const auto& r) { return empty(Kill(r)); }));
    registry.Add(service, "ResizePty", rpc::Unary<api::ResizePtyRequest, Empty>([this, empty](const rpc::CallContext&,
                                                                                               const auto& r) {
                   return empty(ResizePty(r));
                 }));
    registry.Add(service, "CloseIO", rpc::Unary<api::CloseIORequest, Empty>(
                                         [this, empty](const rpc::CallContext&, const auto& r) { return empty(CloseIO(r)); }));
    registry.Add(service, "Update", rpc::Unary<api::UpdateTaskRequest, Empty>(
                                        [this, empty](const rpc::CallContext&, const auto& r) { return empty(Update(r)); }));
    registry.Add(service, "Wait",
                 rpc::Deferred<api::WaitRequest, api::WaitResponse>(
                     [this](const rpc::CallContext&, const auto& r, auto done) { Wait(r, std::move(done)); }));
    registry.Add(service, "Stats", rpc::Unary<api::StatsRequest, api::StatsResponse>(
                                       [this](const rpc::CallContext&, const auto& r) { return Stats(r); }));
    registry.Add(service, "Connect", rpc::Unary<api::ConnectRequest, api::ConnectResponse>(
                                         [this](const rpc::CallContext&, const auto& r) { return Connect(r); }));
    // The reply goes first: the hook only posts the shim's end to the reactor, behind the reply.
    registry.Add(service, "Shutdown", [this](const rpc::CallContext&, std::string payload, rpc::Reply reply) {
      api::ShutdownRequest request;
      if (!request.ParseFromString(payload)) {
        reply(absl::InvalidArgumentError("unmarshal request error: malformed " + request.GetTypeName()));
        return;
      }
      bool exit = Shutdown(request);
      reply(Empty().SerializeAsString());
      if (exit && hooks_.shutdown) hooks_.shutdown();
    });
  }
}

}  // namespace airlock::task
