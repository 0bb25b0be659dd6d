#include "cmd/airlock-init/stop_signals.h"

#include <unistd.h>

namespace airlock::init {
namespace {

void EndOnStop(int sig, siginfo_t* info, void*) {
  // Async-signal-safe only: a check and _exit.
  if (getpid() == 1 && info != nullptr && info->si_pid != 0) return;
  _exit(128 + sig);
}

}  // namespace

sigset_t SupervisedSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  for (int sig : kStopSignals) sigaddset(&set, sig);
  return set;
}

bool BlockSupervisedSignals(sigset_t* saved) {
  sigset_t set = SupervisedSignals();
  return sigprocmask(SIG_BLOCK, &set, saved) == 0;
}

bool CountsAsStop(const signalfd_siginfo& info, bool is_pid1) { return !is_pid1 || info.ssi_pid == 0; }

void EndOnStopSignalsUntilExec(const sigset_t& saved) {
  struct sigaction action {};
  action.sa_sigaction = EndOnStop;
  action.sa_flags = SA_SIGINFO;
  sigfillset(&action.sa_mask);
  for (int sig : kStopSignals) sigaction(sig, &action, nullptr);
  sigprocmask(SIG_SETMASK, &saved, nullptr);
}

}  // namespace airlock::init
