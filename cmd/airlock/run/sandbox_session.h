// The container side of `airlock run`, through containerd's gRPC API only: a lease, a snapshot on
// the image's chain id, the container (runtime io.containerd.airlock.v2, the policy as runtime
// options, the spec with the annotations), the task with its output fifos; the wait for the seal
// (airlock.v1.Control Status on the shim, while the init's exit is watched); execs in the sealed
// sandbox; and the destroy, in reverse order, that runs whatever happened before it.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "airlock/v1/control.pb.h"
#include "cmd/airlock/containerd/connection.h"
#include "cmd/airlock/containerd/process_io.h"
#include "cmd/airlock/containerd/services.h"
#include "cmd/airlock/run/leftovers.h"
#include "cmd/airlock/run/reporter.h"

namespace airlock::cli {
class ControlClient;
}

namespace airlock::run {

inline constexpr char kAirlockRuntime[] = "io.containerd.airlock.v2";

struct SandboxPlan {
  std::string id;
  std::string runtime = kAirlockRuntime;
  std::string snapshotter;
  std::string image_name;
  std::string chain_id;
  std::string policy_path;
  std::string spec_json;
  std::string io_dir;  // for the fifos (exists)
  // airlock run's own mounts the workspace is made of (its tmpfs; from a setup cache, the overlay
  // and its tmpfs): not leftovers of the sandbox while the run holds them.
  std::vector<std::string> own_mounts;
  std::string setup_phase = "setup";  // the phase the init's output (setup's) is reported under
  std::string upstream_netns;
  std::string runc_state_parent;  // the host config's runtime.root: runc's state is <it>/<ns>/<id>
  std::map<std::string, std::string> labels;
};

struct SealWait {
  enum class Result { kSealed, kSetupFailed, kSetupTimedOut, kSealFailed, kExited, kInterrupted, kTimedOut, kError };
  Result result = Result::kError;
  airlock::v1::SandboxStatus status;  // the shim's last answer
  std::optional<uint32_t> init_exit;  // when the container's init exited
  std::string message;
};

struct ProcessOutcome {
  uint32_t exit_code = 0;
  absl::Duration duration;
  bool timed_out = false;  // its deadline passed: the whole container was killed
};

class SandboxSession {
 public:
  SandboxSession(containerd::Connection& c, Reporter& reporter, SandboxPlan plan);
  ~SandboxSession();

  // Lease, snapshot, container, task (with the init's output streamed as phase "setup").
  absl::Status Create();
  // Starts the init: airlock-init runs the setup command.
  absl::Status Start();
  // Until the shim reports the sandbox sealed (or setup fails, the init exits, `limit` passes).
  SealWait WaitSealed(absl::Duration limit);
  // An exec in the sandbox; its output streamed under `phase`. Cancelled on interrupt. Past
  // `timeout` the container is killed (all its processes: the exec's children too) and the
  // outcome says timed_out.
  absl::StatusOr<ProcessOutcome> Exec(const std::string& exec_id, const std::string& phase, const std::string& process_json,
                                      absl::Duration timeout = absl::InfiniteDuration());
  // The shim killed the container at the policy's execution deadline.
  bool ExecutionDeadlinePassed();
  absl::StatusOr<airlock::v1::VerifyResponse> Verify();
  std::vector<std::string> AuditLines();

  // Destroys what exists, in reverse order of creation (uncancellable, bounded). Returns the
  // problems met on the way (the leftover check is separate).
  std::vector<std::string> Destroy();

  // The container's own process's exit status, once it has exited.
  std::optional<uint32_t> init_exit();

  const SandboxTraces& traces() const { return traces_; }
  // The container's rootfs snapshot as prepared (its mounts).
  const containerd::Mounts& rootfs() const { return rootfs_; }
  bool created() const { return container_created_; }

 private:
  void NoteTraces();
  void WatchInit();
  absl::Status OpenControl(absl::Duration timeout);

  containerd::Connection& c_;
  Reporter& reporter_;
  SandboxPlan plan_;
  SandboxTraces traces_;

  bool lease_created_ = false;
  bool snapshot_created_ = false;
  bool container_created_ = false;
  bool task_created_ = false;
  bool destroyed_ = false;
  containerd::Mounts rootfs_;
  std::unique_ptr<containerd::ProcessIo> init_io_;
  std::unique_ptr<cli::ControlClient> control_;

  std::thread init_waiter_;
  std::mutex init_mu_;
  std::optional<uint32_t> init_exit_;
  bool init_wait_done_ = false;
};

}  // namespace airlock::run
