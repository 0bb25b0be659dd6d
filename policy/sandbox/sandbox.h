// One container's airlock, from Create to Delete: its policy, its own network namespace with the
// setup uplink, the rewritten spec, the channel to airlock-init, the seal, and the audit record.
//
// Phases: setup -> sealing -> sealed (one-way), or failed (fail closed: the task is killed). The
// seal is triggered by the setup command's successful exit (airlock-init reports it), by the
// Control API, or by the setup deadline; it kills setup leftovers, removes the uplink and verifies
// over netlink that only loopback is left, remounts the rootfs read-only, and only then tells
// airlock-init to go on (it applies the execution seccomp filter, drops the secrets and execs the
// entrypoint). Setup runs the repository's own code and may be hostile: nothing here waits for its
// cooperation.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "airlock/v1/control.pb.h"
#include "google/protobuf/any.pb.h"
#include "nlohmann/json.hpp"
#include "policy/audit/audit_log.h"
#include "policy/load.h"
#include "policy/model.h"
#include "policy/net/sandbox_network.h"
#include "policy/proxy/proxy_server.h"
#include "policy/sandbox/secret_scan.h"
#include "policy/sandbox/secret_sweep.h"
#include "shim/base/reactor.h"
#include "shim/base/unique_fd.h"
#include "shim/base/worker_pool.h"
#include "shim/cgroups/cgroup_location.h"
#include "shim/task/sandbox_hooks.h"

namespace airlock::sandbox {

enum class Phase { kPassthrough, kSetup, kSealing, kSealed, kFailed };
enum class SealTrigger { kSetupExit, kApi, kDeadline };
absl::string_view ToString(Phase phase);
absl::string_view ToString(SealTrigger trigger);

struct SandboxEnv {
  Reactor* reactor = nullptr;
  WorkerPool* pool = nullptr;
  std::string ns;
  std::string host_config_path;  // AIRLOCK_CONFIG or /etc/airlock/config.yaml
  std::string init_binary;       // the static airlock-init on the host
  std::string run_dir = "/run/airlock";
  // Where the task service found a container's cgroups when it was created (for the seal's kill:
  // reading /proc/<pid>/cgroup again would wait for the cgroup lock every container start holds).
  std::function<absl::StatusOr<cgroups::CgroupLocation>(const std::string& id)> cgroup_of;
};

struct PrepareRequest {
  std::string id;
  std::string bundle;
  google::protobuf::Any options;  // the Create request's runtime options
  std::string rootfs_upper;       // the rootfs overlay's upper directory on the host ("" if none)
};

// `airlock-init probe`'s proxy flags for a policy with network.execution: proxy: an allowed host
// and port, a refused host, a refused method, the HTTPS port (the probes of airlock verify).
std::vector<std::string> ProxyProbeArgs(const policy::Network& network);

class Sandbox {
 public:
  // Before `runc create`: everything the container needs, or an error a ctr user understands, with
  // nothing left behind. May rewrite <bundle>/config.json.
  static absl::StatusOr<std::unique_ptr<Sandbox>> Prepare(const SandboxEnv& env, const PrepareRequest& request);
  ~Sandbox();  // releases everything (Destroy)

  // `delete` after the shim died: what the host may still hold for the sandbox (nat's nft table
  // and ip_forward claim, the record file). The netns went with the container.
  static absl::Status CleanupAfterCrash(const std::string& run_dir, const std::string& ns, const std::string& id);

  // Where the checked repository is bound on the host before runc mounts it into the container.
  static std::string WorkspaceStage(const std::string& run_dir, const std::string& ns, const std::string& id);

  // What the init gets from fd 3 on (runc create --preserve-fds): the channel, then the payload.
  // Empty in passthrough.
  std::vector<int> InitFds() const;
  // A copy of the payload for `airlock-init exec` (its fd 3); an error once destroyed.
  absl::StatusOr<UniqueFd> PayloadForExec();

  // `runc create` succeeded: arms the channel to airlock-init and the setup deadline.
  void Created(pid_t init_pid);
  // Seals now (any thread but the reactor's). Idempotent; returns the status afterwards.
  absl::StatusOr<airlock::v1::SandboxStatus> Seal(SealTrigger trigger, absl::Time triggered_at);
  airlock::v1::SandboxStatus Status() const;
  // The OCI process an exec really gets: within the policy's capabilities and no_new_privileges
  // always; after the seal also under the execution seccomp filter (through airlock-init, which then
  // gets the payload as fd 3) and without the secrets. Waits while a seal is under way.
  absl::StatusOr<task::ExecRewrite> RewriteExec(const std::string& spec_json);
  // Reactor thread.
  void InitExited(int status);
  // Releases the network, the record file and the channel; the audit log says "destroyed".
  void Destroy();

  const std::string& id() const { return id_; }
  const std::string& bundle() const { return bundle_; }
  Phase phase() const;
  audit::AuditLog* audit() const { return audit_.get(); }
  // Probe arguments for Verify (what the sandbox promises).
  std::vector<std::string> ProbeArgs() const;
  // The setup phase's probes for Verify: what airlock-init reported from under the setup filter
  // (setup_report.h), or why there is no such report.
  nlohmann::json SetupProbes() const;

 private:
  Sandbox() = default;
  void OnMessage();                                   // reactor thread
  void Fail(const std::string& reason);               // caller holds seal_mu_
  absl::Status SealSteps(SealTrigger trigger, absl::Time triggered_at);  // caller holds seal_mu_
  void SealOnPool(SealTrigger trigger, absl::Time triggered_at);         // counted, see Destroy
  void SendToInit(const std::string& message);
  void ArmExecutionDeadline();  // after a successful seal
  // The seal's secret sweep (secret_sweep.h): a step of SealSteps; forgets the values either way.
  absl::Status SweepSecrets(pid_t init, int container_root);
  // The airlock proxy's listener inside the sandbox netns and its server (Prepare). Upstream
  // connections leave from `outbound_netns` (the uplink's netns; invalid: the host).
  absl::Status StartProxy(const policy::HostConfig& host, UniqueFd outbound_netns);
  // The seal's proxy step: setup's connections end; the listener serves the execution rules
  // (verified to be the shim's socket) or closes. Adds to `findings`.
  absl::Status SealProxy(pid_t init, std::vector<std::string>& findings);
  // Runs `fn` on the reactor thread and waits for it (bounded); inline when already there.
  void RunOnReactor(const std::function<void()>& fn);
  absl::StatusOr<SweepResult> SweepPlaces(pid_t init, int container_root, bool scrub);
  void ForgetSecretValues();
  absl::StatusOr<UniqueFd> DupPayload() const;  // caller holds seal_mu_
  void WriteRecord();
  void RemoveRecord();

  SandboxEnv env_;
  std::string id_;
  std::string bundle_;
  std::string record_path_;
  std::string pod_netns_record_;  // `uplink: pod`: where the pod's netns is recorded for a crash cleanup
  policy::LoadedPolicy loaded_;
  std::string policy_source_;
  std::string workspace_source_;
  std::vector<std::string> setup_command_;
  absl::Duration setup_timeout_;  // the policy's setup.timeout, or on a cache hit its maintenance_timeout
  std::vector<Secret> secret_values_;  // the policy's secrets as the spec gave them; kept until the seal's sweep
  std::string rootfs_upper_;
  absl::Time created_;                 // Prepare: files of the workspace changed since are setup's
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<net::SandboxNetwork> network_;
  std::unique_ptr<proxy::ProxyServer> proxy_;  // network.execution: proxy or uplink: proxy
  std::string workspace_stage_;  // <run_dir>/workspaces/<name>: the repository, bound by fd
  bool workspace_staged_ = false;
  UniqueFd channel_;   // the shim's end of the SEQPACKET pair
  UniqueFd child_fd_;  // airlock-init's end, until runc create has passed it on
  UniqueFd payload_;   // airlock-init's config and execution filter (init_payload.h), sealed
  Reactor::TimerId deadline_timer_ = 0;
  Reactor::TimerId execution_timer_ = 0;  // the execution deadline, armed at the seal (reactor thread)
  bool channel_watched_ = false;

  std::mutex seal_mu_;  // one seal at a time; exec rewrites wait for a seal in progress
  mutable std::mutex mu_;
  Phase phase_ = Phase::kSetup;
  pid_t init_pid_ = 0;
  bool init_exited_ = false;
  bool setup_ran_ = false;
  int setup_exit_code_ = 0;
  nlohmann::json setup_probes_;  // the setup battery airlock-init reported (null until it did)
  std::string failure_;
  std::optional<SealTrigger> trigger_;
  absl::Time sealed_at_;
  absl::Duration seal_latency_;
  bool verified_ = false;
  bool execution_deadline_passed_ = false;
  std::vector<std::string> findings_;
  bool destroyed_ = false;
  int seals_queued_ = 0;                 // seals submitted to the pool and not yet finished (mu_)
  std::condition_variable seals_done_;   // signalled when seals_queued_ drops
};

}  // namespace airlock::sandbox
