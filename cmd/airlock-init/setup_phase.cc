#include "cmd/airlock-init/setup_phase.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "cmd/airlock-init/exec_util.h"
#include "cmd/airlock-init/filter_install.h"
#include "cmd/airlock-init/probe_result.h"
#include "cmd/airlock-init/probes.h"
#include "cmd/airlock-init/stop_signals.h"

namespace airlock::init {
namespace {

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

void WriteStderr(const std::string& line) {
  std::string text = "airlock-init: " + line + "\n";
  ssize_t ignored = write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

class Supervisor {
 public:
  Supervisor(const InitConfig& config, const std::vector<sock_filter>& setup_filter, ShimChannel& channel)
      : config_(config), setup_filter_(setup_filter), channel_(channel) {}

  SetupOutcome Run(const sigset_t& saved_mask) {
    saved_mask_ = saved_mask;
    // Signals that came while the payload was read are pending already: the signalfd has them.
    sigset_t handled = SupervisedSignals();
    signal_fd_ = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd_ < 0) return Fail("signalfd: " + Errno());

    SetupOutcome outcome = Supervise();
    // A stop signal that came with the verdict, or while setup was in the middle of ending.
    if (outcome.sealed) {
      if (std::optional<SetupOutcome> stopped = HandleSignals()) outcome = *stopped;
    }
    if (outcome.sealed && stop_signal_ != 0) outcome = Stopped(stop_signal_);
    close(signal_fd_);
    return outcome;
  }

 private:
  static std::string Errno() { return strerror(errno); }

  static SetupOutcome Fail(std::string message, int code = 1) { return {false, code, std::move(message)}; }

  SetupOutcome Supervise() {
    std::string error;
    if (config_.has_setup) {
      if (!StartSetup(&error)) return Fail(error);
      if (!channel_.Send("SETUP_START " + std::to_string(setup_pid_), &error)) return KillSetupAnd(Fail(error));
    } else if (!channel_.Send("SETUP_EXIT 0", &error)) {
      return Fail(error);
    }
    while (true) {
      pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {channel_.fd(), POLLIN, 0}};
      int n = poll(fds, 2, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return KillSetupAnd(Fail("poll: " + Errno()));
      if (fds[0].revents != 0) {
        if (std::optional<SetupOutcome> done = HandleSignals()) return *done;
      }
      if (fds[1].revents != 0) return KillSetupAnd(HandleShimMessage());
    }
  }

  // Forks the setup command: the helper's stdio, the entrypoint's environment (secrets included)
  // and working directory, default signal mask, the setup filter.
  bool StartSetup(std::string* error) {
    pid_t pid = fork();
    if (pid < 0) {
      *error = "fork setup: " + Errno();
      return false;
    }
    if (pid == 0) {
      sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
      if (chdir(config_.entrypoint_cwd.c_str()) != 0) {
        WriteStderr("setup: chdir " + config_.entrypoint_cwd + ": " + Errno());
        _exit(127);
      }
      // Never unfiltered: no filter, no setup (126, as a command that cannot be run).
      std::string filter_error;
      if (!InstallFilter(setup_filter_, &filter_error)) {
        WriteStderr("setup: seccomp filter: " + filter_error);
        _exit(126);
      }
      ReportSetupBattery();
      ExecWithPathLookup(config_.setup_command, SetupEnvironment());
      int err = errno;
      WriteStderr("setup: exec " + config_.setup_command[0] + ": " + strerror(err));
      _exit(ExecFailureExitCode(err));
    }
    setup_pid_ = pid;
    return true;
  }

  // In the setup command's process, under its filter: what the filter promises, as this process
  // sees it, for the shim's record (`airlock verify`). The channel closes at the exec (CLOEXEC). A
  // lost report only costs the record: the shim says it is missing.
  void ReportSetupBattery() {
    std::string ignored;
    channel_.Send("SETUP_FILTER " + ReportJson(RunSetupFilterProbes(config_.setup_mount_allowed)), &ignored);
  }

  // The entrypoint's environment plus the secrets, whose values only the helper's own environment
  // holds (config.json never has them: it stays readable in the container).
  std::vector<std::string> SetupEnvironment() const {
    std::vector<std::string> env = config_.entrypoint_env;
    for (const std::string& name : config_.secrets) {
      if (const char* value = getenv(name.c_str()); value != nullptr) env.push_back(name + "=" + value);
    }
    return env;
  }

  // An outcome when the phase ends here, nothing to carry on.
  std::optional<SetupOutcome> HandleSignals() {
    signalfd_siginfo info;
    while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      int sig = static_cast<int>(info.ssi_signo);
      if (sig == SIGCHLD) continue;  // reaped below, whatever the number of exits it stands for
      if (!CountsAsStop(info, is_pid1_)) continue;
      if (setup_pid_ <= 0) return Stopped(sig);
      // Setup gets it; whatever setup does with it, the entrypoint never starts (Run).
      kill(setup_pid_, sig);
      if (stop_signal_ == 0) stop_signal_ = sig;
    }
    // Reap every exited child: orphans of setup land here because the helper is PID 1.
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid != setup_pid_) continue;
      setup_pid_ = -1;
      int code = ExitCodeOf(status);
      std::string error;
      if (!channel_.Send("SETUP_EXIT " + std::to_string(code), &error)) return Fail(error);
      // The shim decides what follows: SEALED (also when the seal killed setup), or EXIT.
    }
    return std::nullopt;
  }

  static SetupOutcome Stopped(int sig) {
    return Fail("terminated by signal " + std::to_string(sig) + " before the entrypoint started", 128 + sig);
  }

  SetupOutcome HandleShimMessage() {
    ShimChannel::Message message = channel_.Receive();
    switch (message.kind) {
      case ShimChannel::Kind::kSealed:
        return {true, 0, ""};
      case ShimChannel::Kind::kAbort:
        // The shim SIGKILLs the task right after ABORT: ending as killed (128 + SIGKILL) makes the
        // task's status the same whichever of the two lands first.
        return Fail("aborted by the shim: " + message.detail, 128 + SIGKILL);
      case ShimChannel::Kind::kExit:
        return Fail("setup command " + config_.setup_command[0] + " failed with " + std::to_string(message.code),
                    message.code);
      case ShimChannel::Kind::kClosed:
        return Fail(message.detail + " before the seal");
      case ShimChannel::Kind::kInvalid:
        return Fail(message.detail);
    }
    return Fail("unreachable");
  }

  // A setup command still running when the phase ends (seal mid-setup, abort, lost shim) dies
  // first: it holds the secrets and must not see the execution phase.
  SetupOutcome KillSetupAnd(SetupOutcome outcome) {
    if (setup_pid_ > 0) {
      kill(setup_pid_, SIGKILL);
      while (waitpid(setup_pid_, nullptr, 0) < 0 && errno == EINTR) {
      }
      setup_pid_ = -1;
    }
    return outcome;
  }

  const InitConfig& config_;
  const std::vector<sock_filter>& setup_filter_;
  ShimChannel& channel_;
  sigset_t saved_mask_{};
  int signal_fd_ = -1;
  pid_t setup_pid_ = -1;
  int stop_signal_ = 0;  // the first stop signal passed on to setup
  const bool is_pid1_ = getpid() == 1;
};

}  // namespace

SetupOutcome RunSetupPhase(const InitConfig& config, const std::vector<sock_filter>& setup_filter,
                           ShimChannel& channel, const sigset_t& saved_mask) {
  return Supervisor(config, setup_filter, channel).Run(saved_mask);
}

}  // namespace airlock::init
