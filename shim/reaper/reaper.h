// The shim is a child subreaper: every child it spawns (runc, loggers) and every container process
// reparented to it is reaped here, once, from the Reactor (signalfd on SIGCHLD). Exits are routed to
// whoever watches the pid; exits nobody watches yet are kept briefly, because a container process
// can die before the shim has read its pid from runc's pid file.
#pragma once

#include <sys/types.h>

#include <deque>
#include <functional>
#include <map>
#include <mutex>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shim/base/reactor.h"
#include "shim/base/unique_fd.h"

namespace airlock {

struct ExitInfo {
  pid_t pid = 0;
  int status = 0;  // exit code, or 128 + signal number
  absl::Time exited_at;
};

// Decodes a waitpid() status the way containerd reports it.
int ExitCodeFromWaitStatus(int wait_status);

class Reaper {
 public:
  using OnExit = std::function<void(const ExitInfo&)>;

  // Process-wide: SIGCHLD is.
  static Reaper& Get();

  // Blocks SIGCHLD in the calling thread. Call in main() before any thread starts, so that every
  // thread inherits the mask and signalfd sees every SIGCHLD.
  static absl::Status BlockSigchld();
  // Marks this process a child subreaper (PR_SET_CHILD_SUBREAPER).
  static absl::Status BecomeSubreaper();

  // From now on reaps on `reactor`. Before Start (short-lived CLI actions), callers wait for their
  // own children with waitpid(pid).
  absl::Status Start(Reactor& reactor);
  bool started() const;
  // Stops reaping (tests). Call on the reactor thread or when the reactor is not running.
  void Stop();

  // Runs `spawn` (which creates a child and returns its pid) with reaping held off, then registers
  // `on_exit` for that pid, so the exit cannot be lost. `on_exit` runs on the reactor thread.
  absl::StatusOr<pid_t> SpawnAndWatch(absl::FunctionRef<absl::StatusOr<pid_t>()> spawn, OnExit on_exit);

  // Watches a pid learned after the fact (a container's init from runc's pid file). If it has
  // already been reaped, `on_exit` is posted to the reactor at once.
  void Watch(pid_t pid, OnExit on_exit);
  // Stops watching; a later exit of that pid is kept as unclaimed.
  void Forget(pid_t pid);

  // The reactor callback: reaps everything that has exited.
  void ReapAll();

 private:
  Reaper() = default;
  void Deliver(const ExitInfo& exit);

  static constexpr size_t kMaxUnclaimed = 1024;
  static constexpr absl::Duration kUnclaimedTtl = absl::Seconds(60);

  mutable std::mutex mu_;
  Reactor* reactor_ = nullptr;
  UniqueFd signal_fd_;
  std::map<pid_t, OnExit> watchers_;
  std::map<pid_t, ExitInfo> unclaimed_;
  std::deque<std::pair<pid_t, absl::Time>> unclaimed_order_;
};

}  // namespace airlock
