// The helper's life as PID 1 before the seal: runs the setup command, reaps every child, forwards
// termination signals, reports to the shim and waits for its verdict.
#pragma once

#include <linux/filter.h>
#include <signal.h>

#include <string>
#include <vector>

#include "cmd/airlock-init/init_config.h"
#include "cmd/airlock-init/shim_channel.h"

namespace airlock::init {

struct SetupOutcome {
  bool sealed = false;  // true: exec the entrypoint; false: exit with exit_code
  int exit_code = 1;
  std::string message;  // why, when not sealed (printed on stderr unless empty)
};

// With SupervisedSignals() blocked (stop_signals.h; `saved_mask` is the mask before, the setup
// command's), runs setup if configured and returns once the shim sealed, aborted, or went away,
// or setup failed. Never returns sealed while the setup command still runs: a seal that arrives
// mid-setup (deadline, explicit Seal) kills the setup command first. Never returns sealed after a
// stop signal came from outside (stop_signals.h), even one setup survived: the task ends instead.
//
// The setup command runs under `setup_filter` (the setup seccomp filter), installed in its own
// process just before the exec: the helper itself stays unfiltered until the execution filter.
// That process first runs the setup battery (probes.h) under the filter and sends it to the shim.
SetupOutcome RunSetupPhase(const InitConfig& config, const std::vector<sock_filter>& setup_filter,
                           ShimChannel& channel, const sigset_t& saved_mask);

}  // namespace airlock::init
