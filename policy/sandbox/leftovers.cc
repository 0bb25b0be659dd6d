#include "policy/sandbox/leftovers.h"

#include <signal.h>

#include <fstream>
#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "shim/base/errno_status.h"
#include "shim/base/log.h"
#include "shim/cgroups/cgroup_location.h"

namespace airlock::sandbox {
namespace {

std::set<pid_t> ReadProcs(const std::string& dir) {
  std::set<pid_t> pids;
  std::ifstream in(dir + "/cgroup.procs");
  std::string line;
  while (std::getline(in, line)) {
    int pid = 0;
    if (absl::SimpleAtoi(line, &pid) && pid > 0) pids.insert(pid);
  }
  return pids;
}

bool WriteValue(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  return static_cast<bool>(out);
}

std::string ReadValue(const std::string& path) {
  std::ifstream in(path);
  std::string value;
  std::getline(in, value);
  return value;
}

// Freezes (or thaws) the cgroup; true once the kernel reports the state reached (bounded).
bool SetFrozen(const cgroups::CgroupLocation& location, bool frozen) {
  if (location.unified) {
    std::string dir = location.unified_dir;
    if (!WriteValue(dir + "/cgroup.freeze", frozen ? "1" : "0")) return false;
    for (int i = 0; i < 500; ++i) {
      std::ifstream events(dir + "/cgroup.events");
      std::string line;
      while (std::getline(events, line)) {
        if (line == (frozen ? "frozen 1" : "frozen 0")) return true;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    return false;
  }
  std::string dir = location.V1Dir("freezer");
  if (dir.empty()) return false;
  if (!WriteValue(dir + "/freezer.state", frozen ? "FROZEN" : "THAWED")) return false;
  for (int i = 0; i < 500; ++i) {
    if (ReadValue(dir + "/freezer.state") == (frozen ? "FROZEN" : "THAWED")) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return false;
}

}  // namespace

absl::StatusOr<int> KillAllButInit(pid_t init, const cgroups::CgroupLocation& location, absl::Duration timeout) {
  std::string procs_dir = location.ProcsDir();
  if (procs_dir.empty()) return absl::FailedPreconditionError("no cgroup to list the container's processes from");

  // Only the init left (setup cleaned up after itself, the common case): nothing can fork, since
  // the init is our own helper waiting for the seal and execs wait for the seal too. Freezing and
  // thawing would only cost the seal time (the v1 freezer is polled at 1 ms steps).
  {
    std::set<pid_t> pids = ReadProcs(procs_dir);
    // Never kill by a cgroup the init is not in: it would not be the container's.
    if (pids.count(init) == 0) {
      return absl::FailedPreconditionError(absl::StrCat("the container's init (pid ", init, ") is not in ", procs_dir));
    }
    if (pids.size() == 1) return 0;
  }
  // Frozen, nothing forks; the kill lands when it thaws. Without a freezer, repeat until quiet.
  bool frozen = SetFrozen(location, true);
  int killed = 0;
  absl::Time deadline = absl::Now() + timeout;
  for (int round = 0; round < 1000; ++round) {
    std::set<pid_t> pids = ReadProcs(procs_dir);
    pids.erase(init);
    if (pids.empty()) break;
    for (pid_t pid : pids) {
      if (::kill(pid, SIGKILL) == 0) ++killed;
    }
    if (frozen) {
      SetFrozen(location, false);
      frozen = false;
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(pids.size(), " setup process(es) did not die"));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  if (frozen) SetFrozen(location, false);
  return killed;
}

}  // namespace airlock::sandbox
