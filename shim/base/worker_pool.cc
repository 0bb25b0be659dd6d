#include "shim/base/worker_pool.h"

#include <chrono>
#include <thread>

namespace airlock {

WorkerPool::WorkerPool(size_t max_threads, absl::Duration idle_timeout)
    : max_threads_(max_threads), idle_timeout_(idle_timeout) {}

WorkerPool::~WorkerPool() {
  std::unique_lock lock(mu_);
  stopping_ = true;
  work_cv_.notify_all();
  exit_cv_.wait(lock, [this] { return threads_ == 0; });
}

void WorkerPool::Submit(std::function<void()> work) {
  std::lock_guard lock(mu_);
  queue_.push_back(std::move(work));
  if (idle_ > queue_.size() - 1) {
    work_cv_.notify_one();
    return;
  }
  if (threads_ < max_threads_) {
    ++threads_;
    std::thread(&WorkerPool::Loop, this).detach();
  }
  // Otherwise a busy thread picks it up when it is done.
}

void WorkerPool::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (!queue_.empty()) {
      auto work = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      work();
      work = nullptr;  // destroy captures outside the lock
      lock.lock();
      continue;
    }
    if (stopping_) break;
    ++idle_;
    bool woke = work_cv_.wait_for(lock, absl::ToChronoMilliseconds(idle_timeout_),
                                  [this] { return !queue_.empty() || stopping_; });
    --idle_;
    if (!woke) break;  // idle too long
  }
  --threads_;
  exit_cv_.notify_all();
}

}  // namespace airlock
