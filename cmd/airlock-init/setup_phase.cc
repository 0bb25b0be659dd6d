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

namespace airlock::init {
namespace {

// Passed on to the setup command; with no setup running they end the helper as their default
// action would (PID 1 gets no default action, so without this `kill` from the shim would do nothing).
constexpr int kForwardedSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

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

  SetupOutcome Run(sigset_t* saved_mask) {
    sigset_t handled;
    sigemptyset(&handled);
    sigaddset(&handled, SIGCHLD);
    for (int sig : kForwardedSignals) sigaddset(&handled, sig);
    if (sigprocmask(SIG_BLOCK, &handled, saved_mask) != 0) return Fail("sigprocmask: " + Errno());
    saved_mask_ = *saved_mask;
    signal_fd_ = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd_ < 0) return Fail("signalfd: " + Errno());

    SetupOutcome outcome = Supervise();
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
      // The kernel spares a namespace's init from signals sent inside the namespace; keep that
      // promise: as PID 1 only signals from outside (the shim, runc: no pid visible here) or from
      // the kernel (a terminal's ^C) count, never setup's leftovers.
      if (is_pid1_ && info.ssi_pid != 0) continue;
      if (setup_pid_ > 0) {
        kill(setup_pid_, sig);
      } else {
        return Fail("terminated by signal " + std::to_string(sig) + " before the seal", 128 + sig);
      }
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
  const bool is_pid1_ = getpid() == 1;
};

}  // namespace

SetupOutcome RunSetupPhase(const InitConfig& config, const std::vector<sock_filter>& setup_filter,
                           ShimChannel& channel, sigset_t* saved_mask) {
  return Supervisor(config, setup_filter, channel).Run(saved_mask);
}

}  // namespace airlock::init
