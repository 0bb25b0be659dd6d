#include "shim/reaper/reaper.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <cerrno>
#include <vector>

#include "shim/base/errno_status.h"
#include "shim/base/log.h"

namespace airlock {

int ExitCodeFromWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 255;
}

Reaper& Reaper::Get() {
  static Reaper* reaper = new Reaper();  // never destroyed: exits may arrive until the very end
  return *reaper;
}

absl::Status Reaper::BlockSigchld() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  if (int err = pthread_sigmask(SIG_BLOCK, &set, nullptr); err != 0) return ErrnoStatus(err, "block SIGCHLD");
  return absl::OkStatus();
}

absl::Status Reaper::BecomeSubreaper() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return ErrnoStatus("PR_SET_CHILD_SUBREAPER");
  return absl::OkStatus();
}

absl::Status Reaper::Start(Reactor& reactor) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  UniqueFd fd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) return ErrnoStatus("signalfd");
  int raw = fd.get();
  {
    std::lock_guard lock(mu_);
    reactor_ = &reactor;
    signal_fd_ = std::move(fd);
  }
  absl::Status added = reactor.Add(raw, EPOLLIN, [this, raw](uint32_t) {
    struct signalfd_siginfo info[16];
    while (::read(raw, info, sizeof info) > 0) {
    }
    ReapAll();
  });
  if (!added.ok()) return added;
  // Children that exited before the signalfd existed.
  ReapAll();
  return absl::OkStatus();
}

bool Reaper::started() const {
  std::lock_guard lock(mu_);
  return reactor_ != nullptr;
}

void Reaper::Stop() {
  std::lock_guard lock(mu_);
  if (reactor_ != nullptr && signal_fd_) reactor_->Remove(signal_fd_.get());
  reactor_ = nullptr;
  signal_fd_.reset();
  watchers_.clear();
  unclaimed_.clear();
  unclaimed_order_.clear();
}

absl::StatusOr<pid_t> Reaper::SpawnAndWatch(absl::FunctionRef<absl::StatusOr<pid_t>()> spawn, OnExit on_exit) {
  std::lock_guard lock(mu_);  // ReapAll waits here, so the exit finds its watcher
  absl::StatusOr<pid_t> pid = spawn();
  if (!pid.ok()) return pid;
  unclaimed_.erase(*pid);  // a stale exit of an earlier process with this pid
  watchers_[*pid] = std::move(on_exit);
  return pid;
}

void Reaper::Watch(pid_t pid, OnExit on_exit) {
  std::unique_lock lock(mu_);
  auto it = unclaimed_.find(pid);
  if (it == unclaimed_.end()) {
    watchers_[pid] = std::move(on_exit);
    return;
  }
  ExitInfo exit = it->second;
  unclaimed_.erase(it);
  Reactor* reactor = reactor_;
  lock.unlock();
  if (reactor != nullptr) {
    reactor->Post([on_exit = std::move(on_exit), exit] { on_exit(exit); });
  } else {
    on_exit(exit);
  }
}

void Reaper::Forget(pid_t pid) {
  std::lock_guard lock(mu_);
  watchers_.erase(pid);
}

void Reaper::ReapAll() {
  std::vector<std::pair<OnExit, ExitInfo>> ready;
  {
    std::lock_guard lock(mu_);
    for (int i = 0; i < 4096; ++i) {  // bounded: a fork bomb must not starve the reactor
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG | __WALL);
      if (pid <= 0) break;
      ExitInfo exit{pid, ExitCodeFromWaitStatus(status), absl::Now()};
      auto it = watchers_.find(pid);
      if (it != watchers_.end()) {
        ready.emplace_back(std::move(it->second), exit);
        watchers_.erase(it);
        continue;
      }
      // Keep it for a Watch() that may come; bounded in count and age.
      unclaimed_[pid] = exit;
      unclaimed_order_.emplace_back(pid, exit.exited_at);
      while (!unclaimed_order_.empty() && (unclaimed_order_.size() > kMaxUnclaimed ||
                                           exit.exited_at - unclaimed_order_.front().second > kUnclaimedTtl)) {
        auto [old_pid, old_time] = unclaimed_order_.front();
        unclaimed_order_.pop_front();
        auto u = unclaimed_.find(old_pid);
        if (u != unclaimed_.end() && u->second.exited_at == old_time) unclaimed_.erase(u);
      }
    }
  }
  for (auto& [callback, exit] : ready) callback(exit);
}

}  // namespace airlock
