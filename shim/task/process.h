// The state of one container process (the init or an exec) as the shim tracks it, so that State,
// Wait and Kill are answered without asking runc.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shim/io/process_io.h"
#include "shim/reaper/reaper.h"

namespace airlock::task {

enum class ProcessState {
  kCreated,  // runc create / Exec done, not started
  kRunning,  // started, no exit seen yet
  kExiting,  // exit reaped; output being drained or (init) waiting for its execs to finish
  kStopped,  // exit reported
};

struct Process {
  using Waiter = std::function<void(const ExitInfo&)>;

  std::string id;  // the exec id, or the container id for the init process
  bool is_init = false;
  pid_t pid = 0;
  ProcessState state = ProcessState::kCreated;
  io::StdioConfig stdio;
  std::unique_ptr<io::ProcessIo> io;
  std::string spec_json;  // exec: the OCI Process as JSON

  // A Start is between its runc call and its start event: an exit seen meanwhile waits here, so
  // the start event always precedes the exit event.
  bool starting = false;
  std::optional<ExitInfo> pending_exit;
  // Start failed: the exit is recorded for Wait/State but no exit event is sent.
  bool start_failed = false;

  std::optional<ExitInfo> exit;  // set when kStopped
  std::vector<Waiter> waiters;

  bool exited() const { return state == ProcessState::kExiting || state == ProcessState::kStopped; }
};

}  // namespace airlock::task
