// What the airlock adds to a container's lifecycle. The task service calls these at fixed points;
// policy/sandbox implements them (the shim core does not depend on the policy layer).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "containerd/task/v2/shim.pb.h"
#include "shim/base/unique_fd.h"

namespace airlock::task {

// What an exec really runs: its OCI process JSON, and fds it gets from 3 on (runc exec
// --preserve-fds), owned here so they outlive whatever happens to the sandbox meanwhile.
struct ExecRewrite {
  std::string spec_json;
  std::vector<UniqueFd> preserved_fds;
};

class SandboxHooks {
 public:
  virtual ~SandboxHooks() = default;

  struct Prepared {
    // Handed to the init as fds 3, 4, ... (runc create --preserve-fds). Owned by the hooks.
    std::vector<int> preserved_fds;
  };

  // Worker thread, before `runc create`; may rewrite <bundle>/config.json. An error fails Create
  // with its message (what the ctr user sees) and must leave nothing behind.
  virtual absl::StatusOr<Prepared> Prepare(const containerd::task::v2::CreateTaskRequest& request,
                                           const std::string& ns) = 0;
  // `runc create` succeeded: the init is `pid` (waiting for start). Worker thread.
  virtual void Created(const std::string& id, pid_t pid) = 0;
  // Create failed after Prepare succeeded: undo Prepare.
  virtual void CreateFailed(const std::string& id) = 0;
  // Before `runc exec`: what the exec really gets. Worker thread; may wait while a seal is under way.
  virtual absl::StatusOr<ExecRewrite> RewriteExec(const std::string& id, const std::string& spec_json) = 0;
  // The init exited (reactor thread; must not block).
  virtual void InitExited(const std::string& id, int status) = 0;
  // The container is gone from runc and its rootfs unmounted: release everything. Worker thread.
  virtual void Deleted(const std::string& id) = 0;
};

}  // namespace airlock::task
