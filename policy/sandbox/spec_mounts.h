// The mount half of the OCI spec rewrite (spec_rewrite.h): what becomes of the spec's own mounts, the
// mounts the airlock adds, and the order runc mounts them in.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/model.h"

namespace airlock::policy {

// The mounts the airlock owns in a sandbox.
struct SandboxMounts {
  std::string workspace_source;  // host path (or /proc/<pid>/fd/<n>) of the repository; "" = no workspace
  std::string workspace_target;  // container path
  std::vector<TmpfsMount> tmpfs;
  std::string init_binary;  // host file bound read-only at /.airlock
  OtherBinds other_binds = OtherBinds::kReject;
};

// Returns the new `mounts` array. `spec_mounts` is the spec's "mounts" (null when absent).
//  - Bind mounts (type "bind" or option bind/rbind) of the spec: rejected, or made read-only, nosuid,
//    nodev, non-recursive (runc cannot make the submounts of an rbind read-only) and private
//    (rprivate: nothing propagates between host and sandbox), per `other_binds`.
//  - A bind at /dev/shm (CRI shares the pod's shm that way) becomes a private tmpfs: the sandbox's IPC
//    namespace is private, so its POSIX shared memory must be too.
//  - Mounts onto the workspace, a policy tmpfs, or /.airlock and below are replaced by ours; a bind
//    there is an error (it would shadow ours).
//  - Other mounts must be kernel pseudo filesystems (proc, sysfs, devpts, mqueue, tmpfs, cgroup,
//    cgroup2): a disk or overlay mount would hand host storage to the sandbox.
//  - Ours are appended: workspace (bind, rw, nosuid, nodev, rprivate; non-recursive, so host mounts
//    below the repository directory stay out), each tmpfs (nosuid, nodev, mode=1777, size=N), and the
//    helper at /.airlock (a file: bind, ro, nosuid, nodev, rprivate). /.airlock comes last: nothing
//    the spec mounts can shadow the helper.
//  - Finally every mount comes after the mounts on its parent directories (ParentsFirstOrder).
// Errors: InvalidArgument for a malformed mount, FailedPrecondition for one the policy forbids; both
// name the mount. Changes worth auditing are appended to `notes`.
absl::StatusOr<nlohmann::json> RewriteMounts(const nlohmann::json& spec_mounts, const SandboxMounts& ours,
                                             std::vector<std::string>* notes);

// A stable order of `destinations` (clean absolute paths) in which every path comes after all the paths
// that are its strict ancestors; otherwise the given order. Returns indices into `destinations`.
std::vector<size_t> ParentsFirstOrder(const std::vector<std::string>& destinations);

// Whether an OCI mount object is a bind mount (type "bind", or option "bind"/"rbind").
bool IsBindMount(const nlohmann::json& mount);

}  // namespace airlock::policy
