// containerd's task service (containerd.task.v2.Task, and v3 with the same messages) on runc.
// One implementation behind every transport. Blocking work (runc, mounts) runs on the caller's
// worker thread and never under the service lock; exits arrive from the reaper on the reactor
// thread and are reported in containerd's order: start before exit, execs' exits before the init's.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "containerd/task/v2/shim.pb.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/message_lite.h"
#include "shim/base/reactor.h"
#include "shim/base/worker_pool.h"
#include "shim/rpc/registry.h"
#include "shim/runc/runc.h"
#include "shim/task/container.h"
#include "shim/task/sandbox_hooks.h"

namespace airlock::task {

namespace api = ::containerd::task::v2;

struct ServiceConfig {
  std::string ns;             // containerd namespace
  runc::Config runc;          // defaults; runtime options in Create may override binary/root
  absl::Duration drain_timeout = absl::Seconds(2);
  absl::Duration init_waits_for_execs = absl::Seconds(5);
};

struct ServiceHooks {
  // Sends a task event to containerd (never blocks).
  std::function<void(absl::string_view topic, const google::protobuf::MessageLite& event)> publish;
  // The container's cgroups: located after `runc create` (`track`), metrics for Stats, OOM
  // notifications pending at the init's exit delivered before TaskExit (`poll_oom`, reactor
  // thread), forgotten at Delete (`untrack`).
  std::function<void(const std::string& id, pid_t pid)> track_cgroups;
  std::function<absl::StatusOr<google::protobuf::Any>(const std::string& id)> stats;
  std::function<void(const std::string& id)> poll_oom;
  std::function<void(const std::string& id)> untrack_cgroups;
  // The shim may exit: no container is left and containerd asked it to shut down. Called after the
  // Shutdown reply was handed to its transport (containerd 1.6 waits for the connection to close
  // before it cleans up, so the shim should go at once).
  std::function<void()> shutdown;
  // The airlock (optional; not owned).
  SandboxHooks* sandbox = nullptr;
};

class TaskService {
 public:
  TaskService(Reactor& reactor, WorkerPool& pool, ServiceConfig config, ServiceHooks hooks);
  ~TaskService();

  // Registers every method under containerd.task.v2.Task and containerd.task.v3.Task.
  void Register(rpc::Registry& registry);

  absl::StatusOr<api::CreateTaskResponse> Create(const api::CreateTaskRequest& request);
  absl::StatusOr<api::StartResponse> Start(const api::StartRequest& request);
  absl::StatusOr<api::DeleteResponse> Delete(const api::DeleteRequest& request);
  absl::Status Exec(const api::ExecProcessRequest& request);
  absl::StatusOr<api::StateResponse> State(const api::StateRequest& request);
  absl::StatusOr<api::PidsResponse> Pids(const api::PidsRequest& request);
  absl::Status Pause(const api::PauseRequest& request);
  absl::Status Resume(const api::ResumeRequest& request);
  absl::Status Kill(const api::KillRequest& request);
  absl::Status ResizePty(const api::ResizePtyRequest& request);
  absl::Status CloseIO(const api::CloseIORequest& request);
  absl::Status Update(const api::UpdateTaskRequest& request);
  absl::StatusOr<api::StatsResponse> Stats(const api::StatsRequest& request);
  absl::StatusOr<api::ConnectResponse> Connect(const api::ConnectRequest& request);
  // Whether the shim may exit now (no container left).
  bool Shutdown(const api::ShutdownRequest& request);
  void Wait(const api::WaitRequest& request, std::function<void(absl::StatusOr<api::WaitResponse>)> done);

 private:
  std::shared_ptr<Container> FindContainer(const std::string& id) const;
  absl::Status StartInit(Container& container);
  absl::Status StartExec(Container& container, Process& process);
  void WatchExit(const std::string& container_id, const std::string& exec_id, pid_t pid);

  // Exit path (reactor thread for the first two).
  void OnExit(const std::string& container_id, const std::string& exec_id, const ExitInfo& exit);
  void BeginExitLocked(Container& container, Process& process, const ExitInfo& exit);
  // The rest of an exit once the init's children are dead (kill_all_on_exit): execs first, then drain.
  void ContinueExitLocked(const std::shared_ptr<Container>& owner, Process& process, const ExitInfo& exit);
  void DrainThenFinish(std::shared_ptr<Container> container, Process* process, ExitInfo exit);
  void FinishExit(std::shared_ptr<Container> container, Process* process, ExitInfo exit);
  void FinishInitIfReadyLocked(Container& container, bool force);
  // Start finished (or failed): deliver an exit that arrived meanwhile.
  void EndStartLocked(Container& container, Process& process);

  void PublishLocked(absl::string_view topic, const google::protobuf::MessageLite& event);

  Reactor& reactor_;
  WorkerPool& pool_;
  const ServiceConfig config_;
  const ServiceHooks hooks_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Container>> containers_;
  std::map<std::string, bool> creating_;  // ids reserved by a Create in progress
};

}  // namespace airlock::task
