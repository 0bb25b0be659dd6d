// Where a container's cgroups are: found from /proc/<pid>/cgroup and where the hierarchies are
// mounted, so it works for runc's cgroupfs and systemd drivers alike and needs no knowledge of the
// OCI spec. The mounts are taken from the standard layout under /sys/fs/cgroup when the filesystem
// magic and the process's membership confirm it, else from the shim's mountinfo (reading that
// waits for the mount namespace's lock, which every container start and stop holds: with many
// sandboxes starting at once it took tens of milliseconds).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace airlock::cgroups {

// As containerd's cgroups.Mode(): hybrid hosts (v1 controllers plus an empty cgroup2 mount at
// /sys/fs/cgroup/unified) are served with v1 statistics, like containerd does.
enum class CgroupMode { kLegacy, kHybrid, kUnified };

// By the filesystem magic of <root> (and <root>/unified).
absl::StatusOr<CgroupMode> DetectCgroupMode(const std::string& root = "/sys/fs/cgroup");

struct CgroupLocation {
  bool unified = false;
  // v1: controller ("memory", "cpu", "cpuacct", "pids", "blkio", "hugetlb", "name=systemd", ...)
  // -> absolute directory. Co-mounted controllers (cpu,cpuacct) share a directory.
  std::map<std::string, std::string> v1;
  // v2: the absolute directory of the cgroup.
  std::string unified_dir;

  // Where the process's members are listed (cgroup.procs): the v2 directory, else v1 pids, else
  // v1 memory; "" when none of them.
  std::string ProcsDir() const;
  // The directory of a v1 controller, or "" when the process has none.
  std::string V1Dir(const std::string& controller) const;
  std::string Describe() const;
};

// The cgroups of `pid` (a container's init) as seen from this process. Resolve it once after
// `runc create` and keep it: /proc/<pid> goes away with the process, the cgroup stays until
// runc deletes it.
absl::StatusOr<CgroupLocation> ResolveCgroups(pid_t pid);

// The two ways ResolveCgroups tries, for tests: the standard layout (NotFound when this host does
// not have it, or it does not show `pid`), and mountinfo.
absl::StatusOr<CgroupLocation> ResolveCgroupsByStandardLayout(pid_t pid, const std::string& root = "/sys/fs/cgroup");
absl::StatusOr<CgroupLocation> ResolveCgroupsByMountinfo(pid_t pid);

// True when a cgroup.procs text lists `pid` (one pid per line).
bool ProcsListContains(absl::string_view procs, pid_t pid);

// The same from the texts of /proc/<pid>/cgroup and /proc/self/mountinfo.
absl::StatusOr<CgroupLocation> ResolveCgroupsFrom(CgroupMode mode, absl::string_view proc_pid_cgroup,
                                                  absl::string_view mountinfo);

}  // namespace airlock::cgroups
