// Ctrl-C, SIGTERM and SIGHUP for `airlock run`: the run must never die between creating the
// sandbox and destroying it. The signals are blocked in every thread (Start() runs before any
// other thread exists) and read from a signalfd by a watcher thread, which records the first one
// and calls the handler (cancel the calls in flight; the flow then destroys the sandbox).
// Later signals are ignored: the cleanup finishes.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "shim/base/unique_fd.h"

namespace airlock::run {

class InterruptWatcher {
 public:
  static absl::StatusOr<std::unique_ptr<InterruptWatcher>> Start(std::function<void(int signal)> on_first);
  ~InterruptWatcher();

  // The first signal received, 0 if none.
  int signal() const { return signal_.load(); }

 private:
  InterruptWatcher() = default;
  void Loop();

  UniqueFd signal_fd_, stop_fd_;
  std::function<void(int)> on_first_;
  std::atomic<int> signal_{0};
  std::thread thread_;
};

}  // namespace airlock::run
