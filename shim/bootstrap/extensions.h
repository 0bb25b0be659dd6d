// What a runtime adds to the shim core, handed in by its main (cmd/). containerd's runc shim would
// need none of it; the airlock's main wires the airlock in (cmd/shim_extensions.cc). The core knows
// nothing of what is behind these functions.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "shim/base/reactor.h"
#include "shim/base/worker_pool.h"
#include "shim/bootstrap/address.h"
#include "shim/cgroups/cgroup_location.h"
#include "shim/rpc/registry.h"
#include "shim/runc/runc.h"
#include "shim/task/sandbox_hooks.h"

namespace airlock::bootstrap {

// The server's parts an extension may use (all live until the process ends).
struct ServerParts {
  Reactor& reactor;
  WorkerPool& pool;
  rpc::Registry& registry;
  std::string ns;
  // Where the task service found a container's cgroups when it made it.
  std::function<absl::StatusOr<cgroups::CgroupLocation>(const std::string& id)> cgroup_of;
};

struct Extensions {
  // runc's defaults for a containerd namespace; unset: `runc`, state in containerd's runc-shim layout.
  std::function<runc::Config(const std::string& ns)> runc_defaults;
  // The protocol `start` offers; unset: auto.
  std::function<absl::StatusOr<Protocol>()> protocol;
  // In the server, before the task service exists: registers services of its own and returns the
  // task service's sandbox hooks (nullptr: none). Unset: none.
  std::function<task::SandboxHooks*(const ServerParts& parts)> sandboxes;
  // `delete`, after runc's: what the extension left for a container whose shim is gone.
  std::function<absl::Status(const std::string& ns, const std::string& id)> cleanup_after_crash;
};

// The runc defaults `extensions` give, or the core's own.
runc::Config RuncDefaults(const Extensions& extensions, const std::string& ns);

}  // namespace airlock::bootstrap
