// A small, lazily grown thread pool for blocking work (runc invocations, mounts, cgroup reads).
// Threads start on demand up to `max_threads` and exit after `idle_timeout` without work, so an
// idle shim holds only the threads it needs.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

#include "absl/time/time.h"

namespace airlock {

class WorkerPool {
 public:
  explicit WorkerPool(size_t max_threads = 16, absl::Duration idle_timeout = absl::Seconds(10));
  ~WorkerPool();  // Finishes queued work, then joins.
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::function<void()> work);

 private:
  void Loop();

  const size_t max_threads_;
  const absl::Duration idle_timeout_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable exit_cv_;
  std::deque<std::function<void()>> queue_;
  size_t threads_ = 0;
  size_t idle_ = 0;
  bool stopping_ = false;
};

}  // namespace airlock
