// airlock-init: PID 1 of an airlock container (see AIRLOCK_POLICY_DESIGN.md).
//
//   airlock-init                  run setup (under the setup seccomp filter), wait for the shim's
//                                 seal, apply the execution seccomp filter, drop the secrets and
//                                 exec the entrypoint
//   airlock-init exec -- ARGS...  for execs after the seal: filter, drop secrets, exec ARGS
//   airlock-init probe ...        check from inside the sandbox that the airlock holds (probe_mode.h)
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "cmd/airlock-init/exec_util.h"
#include "cmd/airlock-init/filter_install.h"
#include "cmd/airlock-init/init_config.h"
#include "cmd/airlock-init/init_payload.h"
#include "cmd/airlock-init/probe_mode.h"
#include "cmd/airlock-init/setup_phase.h"
#include "cmd/airlock-init/shim_channel.h"
#include "cmd/airlock-init/stop_signals.h"
#include "policy/sandbox/init_payload_format.h"

namespace airlock::init {
namespace {

constexpr int kShimFd = 3;

[[noreturn]] void Die(int code, const std::string& message) {
  std::string line = "airlock-init: " + message + "\n";
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
  _exit(code);
}

// Reads the shim's payload up front: a broken airlock fails before anything runs.
Airlock LoadAirlock(int fd) {
  Airlock airlock;
  std::string error;
  if (!ReadInitPayload(fd, &airlock, &error)) Die(1, error);
  return airlock;
}

[[noreturn]] void FilterAndExec(const std::vector<sock_filter>& filter, const std::vector<std::string>& args,
                                const std::vector<std::string>& env) {
  std::string error;
  if (!InstallFilter(filter, &error)) Die(1, error);
  ExecWithPathLookup(args, env);
  int err = errno;
  Die(ExecFailureExitCode(err), "exec " + args[0] + ": " + strerror(err));
}

[[noreturn]] void RunInit() {
  // First of all: a stop signal from now on is kept, never dropped (stop_signals.h).
  sigset_t saved_mask;
  if (!BlockSupervisedSignals(&saved_mask)) Die(1, std::string("sigprocmask: ") + strerror(errno));
  Airlock airlock = LoadAirlock(init_payload::kInitFd);
  const InitConfig& config = airlock.config;
  ShimChannel channel(kShimFd);
  std::string error;
  if (!channel.Prepare(&error)) Die(1, error);
  // Orphans of setup must come back to the helper even when it is not PID 1 (tests).
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  SetupOutcome outcome = RunSetupPhase(config, airlock.setup_filter, channel, saved_mask);
  if (!outcome.sealed) Die(outcome.exit_code, outcome.message);

  channel.Close();
  EndOnStopSignalsUntilExec(saved_mask);
  if (chdir(config.entrypoint_cwd.c_str()) != 0) Die(1, "chdir " + config.entrypoint_cwd + ": " + strerror(errno));
  FilterAndExec(airlock.filter, config.entrypoint_args, WithoutSecrets(config.entrypoint_env, config.secrets));
}

[[noreturn]] void RunExec(int argc, char** argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) Die(2, "usage: airlock-init exec -- COMMAND [ARGS...]");
  Airlock airlock = LoadAirlock(init_payload::kExecFd);
  std::vector<std::string> args(argv + 3, argv + argc);
  FilterAndExec(airlock.filter, args, WithoutSecrets(CurrentEnvironment(), airlock.config.secrets));
}

}  // namespace
}  // namespace airlock::init

int main(int argc, char** argv) {
  // Nothing in the container may ptrace or read the helper's memory (it holds the secrets).
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (argc >= 2 && strcmp(argv[1], "exec") == 0) airlock::init::RunExec(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "probe") == 0) {
    return airlock::init::RunProbeMode(std::vector<std::string>(argv + 2, argv + argc));
  }
  if (argc != 1) {
    airlock::init::Die(2, "usage: airlock-init | airlock-init exec -- COMMAND [ARGS...] | airlock-init probe ...");
  }
  airlock::init::RunInit();
}
