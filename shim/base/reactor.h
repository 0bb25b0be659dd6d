// Single-threaded epoll event loop. Every socket, pipe, signalfd and timer of the shim is driven
// from here; blocking work (runc, mounts) runs on the WorkerPool and posts results back.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shim/base/unique_fd.h"

namespace airlock {

class Reactor {
 public:
  using FdCallback = std::function<void(uint32_t events)>;
  using Task = std::function<void()>;
  using TimerId = uint64_t;

  static absl::StatusOr<std::unique_ptr<Reactor>> Create();
  ~Reactor();

  // Fd watches. Call only on the reactor thread (or before Run). The fd is not owned.
  // `events` is an EPOLLIN/EPOLLOUT/... mask; level-triggered unless EPOLLET is given.
  absl::Status Add(int fd, uint32_t events, FdCallback callback);
  absl::Status Modify(int fd, uint32_t events);
  // Safe to call from inside any callback, including the fd's own.
  void Remove(int fd);

  // Runs `task` on the reactor thread soon. Callable from any thread, also after Stop (dropped).
  void Post(Task task);
  // Runs `task` on the reactor thread after `delay`. Reactor thread only.
  TimerId RunAfter(absl::Duration delay, Task task);
  void CancelTimer(TimerId id);

  // Serves until Stop(). Returns after the current callback finishes.
  void Run();
  // Callable from any thread.
  void Stop();

  bool InReactorThread() const { return std::this_thread::get_id() == thread_id_.load(); }

 private:
  struct Watch {
    uint32_t generation;
    FdCallback callback;
  };
  Reactor(UniqueFd epoll_fd, UniqueFd wake_fd);
  void DrainPosted();
  int NextTimeoutMs();
  void RunDueTimers();

  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;  // eventfd: Post() and Stop() wake epoll_wait with it
  std::map<int, std::shared_ptr<Watch>> watches_;
  uint32_t next_generation_ = 1;

  std::mutex posted_mu_;
  std::vector<Task> posted_;
  bool stopped_ = false;  // guarded by posted_mu_

  std::multimap<absl::Time, std::pair<TimerId, Task>> timers_;
  TimerId next_timer_ = 1;
  std::atomic<std::thread::id> thread_id_;
};

}  // namespace airlock
