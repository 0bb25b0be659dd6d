#include "shim/base/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "shim/base/errno_status.h"

extern char** environ;

namespace airlock {
namespace {

class SpawnAttrs {
 public:
  SpawnAttrs() {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attr_);
  }
  ~SpawnAttrs() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Child>> Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("spawn: empty argv");
  std::unique_ptr<Child> child(new Child());

  UniqueFd out_read, out_write, err_read, err_write;
  if (options.capture_stdout) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus("pipe");
    out_read.reset(p[0]);
    out_write.reset(p[1]);
  }
  if (options.capture_stderr) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus("pipe");
    err_read.reset(p[0]);
    err_write.reset(p[1]);
  }

  std::vector<std::pair<int, int>> fds = options.fds;
  auto has = [&](int child_fd) {
    for (auto& [c, p] : fds)
      if (c == child_fd) return true;
    return false;
  };
  if (options.capture_stdout && !has(1)) fds.emplace_back(1, out_write.get());
  if (options.capture_stderr && !has(2)) fds.emplace_back(2, err_write.get());

  // dup2 in order would clobber a source that is also a later target; move every source to a
  // fresh fd above all targets first. A dup2(fd, fd) would also keep FD_CLOEXEC set.
  int max_target = 2;
  for (auto& [c, p] : fds) max_target = std::max(max_target, c);
  std::vector<UniqueFd> staged;
  for (auto& [c, p] : fds) {
    int moved = fcntl(p, F_DUPFD_CLOEXEC, max_target + 1);
    if (moved < 0) return ErrnoStatus("stage fd for child");
    staged.emplace_back(moved);
    p = moved;
  }

  SpawnAttrs attrs;
  for (int std_fd = 0; std_fd <= 2; ++std_fd) {
    if (!has(std_fd)) posix_spawn_file_actions_addopen(&attrs.actions_, std_fd, "/dev/null", O_RDWR, 0);
  }
  for (auto& [c, p] : fds) posix_spawn_file_actions_adddup2(&attrs.actions_, p, c);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&attrs.actions_, options.cwd.c_str());

  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGCHLD);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_session) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&attrs.attr_, flags);
  posix_spawnattr_setsigmask(&attrs.attr_, &empty);
  posix_spawnattr_setsigdefault(&attrs.attr_, &defaults);

  std::vector<char*> argv = CStrings(options.argv);
  std::vector<char*> envp = options.env.empty() ? std::vector<char*>() : CStrings(options.env);
  char** env = options.env.empty() ? environ : envp.data();

  auto do_spawn = [&]() -> absl::StatusOr<pid_t> {
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &attrs.actions_, &attrs.attr_, argv.data(), env);
    if (err != 0) return ErrnoStatus(err, absl::StrCat("spawn ", options.argv[0]));
    return pid;
  };

  if (absl::Status started = child->Start(do_spawn); !started.ok()) return started;
  child->out_ = std::move(out_read);
  child->err_ = std::move(err_read);
  child->max_capture_bytes_ = options.max_capture_bytes;
  return child;
}

absl::Status Child::Start(absl::FunctionRef<absl::StatusOr<pid_t>()> create) {
  Reaper& reaper = Reaper::Get();
  if (!reaper.started()) {
    absl::StatusOr<pid_t> pid = create();
    if (!pid.ok()) return pid.status();
    pid_ = *pid;
    return absl::OkStatus();
  }
  // The reaper collects every child: register before it can see this one exit.
  auto shared = std::make_shared<Shared>();
  absl::StatusOr<pid_t> pid = reaper.SpawnAndWatch(create, [shared](const ExitInfo& exit) {
    std::lock_guard lock(shared->mu);
    shared->exit = exit;
    shared->cv.notify_all();
  });
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  via_reaper_ = true;
  shared_ = std::move(shared);
  return absl::OkStatus();
}

Child::~Child() {
  if (via_reaper_ && !reaped_) {
    std::lock_guard lock(shared_->mu);
    reaped_ = shared_->exit.has_value();  // already reaped: the pid may belong to someone else now
  }
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    if (via_reaper_) {
      Reaper::Get().Forget(pid_);  // the reaper collects it as unclaimed
    } else {
      waitpid(pid_, nullptr, 0);
    }
  }
}

absl::StatusOr<ExitInfo> Child::WaitExit(absl::Time deadline) {
  if (via_reaper_) {
    std::unique_lock lock(shared_->mu);
    while (!shared_->exit) {
      if (shared_->cv.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout && !shared_->exit) {
        return absl::DeadlineExceededError("timed out");
      }
    }
    return *shared_->exit;
  }
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, deadline == absl::InfiniteFuture() ? 0 : WNOHANG);
    if (r == pid_) return ExitInfo{pid_, ExitCodeFromWaitStatus(status), absl::Now()};
    if (r < 0 && errno != EINTR) return ErrnoStatus("waitpid");
    if (absl::Now() >= deadline) return absl::DeadlineExceededError("timed out");
    absl::SleepFor(absl::Milliseconds(2));
  }
}

absl::StatusOr<ChildResult> Child::Wait(absl::Duration timeout) {
  absl::Time deadline = timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  ChildResult result;
  bool timed_out = false;
  const char* overflowed = nullptr;  // the first stream past max_capture_bytes_
  // Drain both pipes until EOF so a chatty child never blocks on a full pipe.
  bool out_over = false, err_over = false;
  while (out_ || err_) {
    struct pollfd pfds[2];
    int n = 0;
    int out_index = -1, err_index = -1;
    if (out_) {
      out_index = n;
      pfds[n++] = {out_.get(), POLLIN, 0};
    }
    if (err_) {
      err_index = n;
      pfds[n++] = {err_.get(), POLLIN, 0};
    }
    int wait_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      wait_ms = static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    }
    int r = poll(pfds, n, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      timed_out = true;
      break;
    }
    char buf[16384];
    auto pump = [&](int index, UniqueFd& fd, std::string& sink, bool& over, const char* name) {
      if (index < 0 || !(pfds[index].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t got = ::read(fd.get(), buf, sizeof buf);
      if (got > 0) {
        if (over) return;  // past the limit: read on to EOF, keep nothing
        if (static_cast<size_t>(got) > max_capture_bytes_ - sink.size()) {
          over = true;
          if (overflowed == nullptr) overflowed = name;
          std::string().swap(sink);
          return;
        }
        sink.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        fd.reset();
      }
    };
    pump(out_index, out_, result.out, out_over, "stdout");
    pump(err_index, err_, result.err, err_over, "stderr");
  }
  if (timed_out) {
    ::kill(pid_, SIGKILL);
    out_.reset();
    err_.reset();
    (void)WaitExit(absl::Now() + absl::Seconds(5));
    reaped_ = true;
    return absl::DeadlineExceededError(absl::StrCat("pid ", pid_, " timed out"));
  }
  absl::StatusOr<ExitInfo> exit = WaitExit(deadline);
  if (!exit.ok()) {
    ::kill(pid_, SIGKILL);
    (void)WaitExit(absl::Now() + absl::Seconds(5));
    reaped_ = true;
    return exit.status();
  }
  reaped_ = true;
  if (overflowed != nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(overflowed, " over ", max_capture_bytes_, " bytes"));
  }
  result.exit = *exit;
  return result;
}

absl::StatusOr<int> RunInForkedChild(absl::FunctionRef<int()> fn, absl::Duration timeout) {
  auto do_fork = [&]() -> absl::StatusOr<pid_t> {
    pid_t pid = fork();
    if (pid < 0) return ErrnoStatus("fork");
    if (pid == 0) _exit(fn() & 0xff);
    return pid;
  };
  std::unique_ptr<Child> child(new Child());
  if (absl::Status started = child->Start(do_fork); !started.ok()) return started;
  absl::StatusOr<ChildResult> result = child->Wait(timeout);
  if (!result.ok()) return result.status();
  return result->exit.status;
}

absl::StatusOr<ChildResult> Run(const SpawnOptions& options, absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<Child>> child = Spawn(options);
  if (!child.ok()) return child.status();
  absl::StatusOr<ChildResult> result = (*child)->Wait(timeout);
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat(absl::StrJoin(options.argv, " "), ": ", result.status().message()));
  }
  return result;
}

}  // namespace airlock
