// "Destroyed, nothing left", checked rather than assumed. While the sandbox lives, the run notes
// where it shows on the host (SandboxTraces); after the destroy every one of those places is
// looked at again, and each thing still there is a line of the answer.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cmd/airlock/containerd/connection.h"

namespace airlock::run {

struct PinnedPid {
  int pid = 0;
  unsigned long long start_time = 0;  // /proc/PID/stat field 22: a reused pid is not ours
  std::string what;
};

// The source name of airlock run's workspace tmpfs mounts (in /proc/self/mountinfo).
inline constexpr char kWorkspaceTmpfsSource[] = "airlock-workspace";
// ... and of the overlay of a workspace laid over a setup-cache entry.
inline constexpr char kWorkspaceOverlaySource[] = "airlock-workspace-cached";

struct SandboxTraces {
  std::string id;
  std::string name_space;
  std::string snapshotter;
  std::string snapshot_key;
  std::string lease;
  std::string run_dir;         // /run/airlock (or $AIRLOCK_RUN_DIR)
  std::string record_path;     // <run dir>/tasks/<ns>/<id>
  std::string shim_socket;     // from the record
  std::string bundle;          // from the shim (task State)
  std::string sandbox_name;    // the shim's name for host objects
  std::string upstream_netns;  // the policy's netns uplink, if any
  std::vector<std::string> cgroups;  // cgroup directories of the init (from /proc/PID/cgroup)
  unsigned long netns_inode = 0;     // the sandbox's network namespace
  std::vector<PinnedPid> pids;       // shim, init
  std::vector<std::string> paths;    // other paths that must be gone (workspace, fifo dir)
  // airlock run's own workspace mounts (mount points: its tmpfs, or a cached workspace's overlay
  // and tmpfs): present until the run unmounts them after collecting, so not a leftover of the
  // sandbox (the sandbox's own mounts live in its namespace).
  std::vector<std::string> own_tmpfs_mounts;
};

// Fills what /proc tells about a live process: start time, cgroups, netns inode.
PinnedPid Pin(int pid, const std::string& what);
std::vector<std::string> CgroupDirsOf(int pid);
unsigned long NetnsInodeOf(int pid);

// Everything of the sandbox still present; empty when clean.
std::vector<std::string> FindLeftovers(containerd::Connection& c, const SandboxTraces& traces);
// Polls FindLeftovers until it is empty or `timeout` passes (shims exit asynchronously).
std::vector<std::string> WaitForNoLeftovers(containerd::Connection& c, const SandboxTraces& traces, absl::Duration timeout);

// What was checked, for the report ("container, task, snapshot, lease, ...").
std::string CheckedPlaces(const SandboxTraces& traces);

}  // namespace airlock::run
