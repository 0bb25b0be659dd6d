// The signals that stop a task (the kubelet's SIGTERM, ^C, ...) before its entrypoint exists: the
// helper stands in for the entrypoint until the exec, so none of them may be lost on the way.
// PID 1 of a pid namespace gets no default action for them (the kernel drops a signal it has no
// handler for), hence: blocked from the helper's first instruction, read from a signalfd while
// setup and the seal run, and once sealed a handler that ends the helper up to the execve itself.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>

namespace airlock::init {

// Passed on to a running setup command; with none running they end the task.
inline constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// The stop signals and SIGCHLD.
sigset_t SupervisedSignals();

// Blocks SupervisedSignals(); the previous mask goes to `saved` (restored before any exec).
bool BlockSupervisedSignals(sigset_t* saved);

// Whether a signal read from the signalfd counts: as PID 1 only signals from outside the
// namespace (the shim, runc: no pid visible here) or from the kernel (a terminal's ^C) do, never
// one sent by a process of the container (the kernel spares a namespace's init the same way).
bool CountsAsStop(const signalfd_siginfo& info, bool is_pid1);

// From now until the execve: a stop signal (from outside, as above) ends the helper at once with
// 128 + the signal, as if it had killed the entrypoint. Restores `saved` afterwards, so a stop
// signal still pending is handled here; execve resets the handlers to the entrypoint's defaults.
void EndOnStopSignalsUntilExec(const sigset_t& saved);

}  // namespace airlock::init
