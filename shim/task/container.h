// One container in the shim: its bundle, its runc, its init and exec processes.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "shim/runc/runc.h"
#include "shim/task/process.h"

namespace airlock::task {

struct Container {
  std::string id;
  std::string bundle;
  std::string rootfs;  // where the request's mounts went; empty when containerd passed none
  std::unique_ptr<runc::Runc> runc;
  bool kill_all_on_exit = false;  // no private pid namespace: init's exit does not end the rest
  bool poststart_hooks = true;    // the spec has some: `runc start` runs them in newer runc
  bool paused = false;

  Process init;
  std::map<std::string, std::unique_ptr<Process>> execs;

  // Serializes lifecycle operations of the init (start, pause, resume, update, delete) so they do
  // not run into each other; never held by the reactor thread.
  std::mutex op_mu;

  // The init exited while execs ran: its exit is reported after theirs.
  bool init_exit_waits_for_execs = false;

  // Per-shim file name counter for exec process specs and pid files in the bundle.
  unsigned next_file_id = 0;

  Process* FindProcess(const std::string& exec_id) {
    if (exec_id.empty()) return &init;
    auto it = execs.find(exec_id);
    return it == execs.end() ? nullptr : it->second.get();
  }

  size_t RunningExecs() const {
    size_t n = 0;
    for (const auto& [id, p] : execs) {
      if (p->state == ProcessState::kRunning || p->state == ProcessState::kExiting || p->starting) ++n;
    }
    return n;
  }
};

}  // namespace airlock::task
