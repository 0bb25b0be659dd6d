// The airlock of one shim: a Sandbox per container, plugged into the task service's lifecycle
// (task::SandboxHooks), and the airlock.v1.Control API on the shim's socket.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "policy/sandbox/sandbox.h"
#include "shim/rpc/registry.h"
#include "shim/task/sandbox_hooks.h"

namespace airlock::sandbox {

class SandboxManager : public task::SandboxHooks {
 public:
  explicit SandboxManager(SandboxEnv env) : env_(std::move(env)) {}
  ~SandboxManager() override;

  // airlock.v1.Control: Seal, Status, Audit, Verify, List.
  void Register(rpc::Registry& registry);

  absl::StatusOr<Prepared> Prepare(const containerd::task::v2::CreateTaskRequest& request, const std::string& ns) override;
  void Created(const std::string& id, pid_t pid) override;
  void CreateFailed(const std::string& id) override;
  absl::StatusOr<task::ExecRewrite> RewriteExec(const std::string& id, const std::string& spec_json) override;
  void InitExited(const std::string& id, int status) override;
  void Deleted(const std::string& id) override;

  absl::StatusOr<airlock::v1::SandboxStatus> Seal(const std::string& id);
  absl::StatusOr<airlock::v1::SandboxStatus> Status(const std::string& id);
  absl::StatusOr<airlock::v1::VerifyResponse> Verify(const std::string& id);

 private:
  std::shared_ptr<Sandbox> Find(const std::string& id) const;
  // Removes the sandbox from the map and hands it over (nullptr when unknown).
  std::shared_ptr<Sandbox> Take(const std::string& id);

  SandboxEnv env_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Sandbox>> sandboxes_;
};

// Where airlock-init is: AIRLOCK_INIT, else next to the shim binary, else the install's libexec.
std::string FindInitBinary();

}  // namespace airlock::sandbox
