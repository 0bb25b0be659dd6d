// Spawning helper programs (runc, logging binaries) with exact fd wiring, and waiting for them
// without racing the shim's reaper.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shim/base/unique_fd.h"
#include "shim/reaper/reaper.h"

namespace airlock {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  // Environment; empty means inherit the shim's.
  std::vector<std::string> env;
  std::string cwd;
  // Child fd -> parent fd to install there (dup2). Child fds 0, 1, 2 not listed get /dev/null
  // unless captured below. Every other fd of the shim is close-on-exec and does not leak.
  std::vector<std::pair<int, int>> fds;
  bool capture_stdout = false;
  bool capture_stderr = false;
  bool new_session = false;
  // A captured stream longer than this is drained to its end (the child never blocks on it) and
  // Wait() fails with ResourceExhausted: a cut-off result could be taken for the whole.
  size_t max_capture_bytes = 16u << 20;
};

struct ChildResult {
  ExitInfo exit;
  std::string out;  // captured stdout (if asked)
  std::string err;  // captured stderr (if asked)
};

class Child {
 public:
  ~Child();  // a child still running is killed and left to the reaper
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  // Collects captured output and waits for the exit. Past `timeout` the child is SIGKILLed and the
  // result says DeadlineExceeded. A captured stream over SpawnOptions::max_capture_bytes gives
  // ResourceExhausted once the child is reaped, never a partial result.
  absl::StatusOr<ChildResult> Wait(absl::Duration timeout = absl::InfiniteDuration());

 private:
  friend absl::StatusOr<std::unique_ptr<Child>> Spawn(const SpawnOptions& options);
  friend absl::StatusOr<int> RunInForkedChild(absl::FunctionRef<int()> fn, absl::Duration timeout);
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<ExitInfo> exit;
  };
  Child() = default;
  // Runs `create` (which makes the process and returns its pid) so that its exit reaches Wait().
  absl::Status Start(absl::FunctionRef<absl::StatusOr<pid_t>()> create);
  absl::StatusOr<ExitInfo> WaitExit(absl::Time deadline);

  pid_t pid_ = -1;
  bool reaped_ = false;
  bool via_reaper_ = false;
  std::shared_ptr<Shared> shared_;
  UniqueFd out_;
  UniqueFd err_;
  size_t max_capture_bytes_ = 16u << 20;
};

absl::StatusOr<std::unique_ptr<Child>> Spawn(const SpawnOptions& options);

// Forks a child that runs `fn` (async-signal-safe calls only: the shim is multi-threaded) and
// exits with its return value; waits for it without racing the reaper. Returns the exit status
// (128 + signal if it died). For what must happen in a single-threaded process: setns into a mount
// namespace, chdir-relative mounts.
absl::StatusOr<int> RunInForkedChild(absl::FunctionRef<int()> fn, absl::Duration timeout = absl::Seconds(30));

// Spawn + Wait; the error names the command and carries its stderr when it fails to start.
absl::StatusOr<ChildResult> Run(const SpawnOptions& options, absl::Duration timeout);

}  // namespace airlock
