#include "cmd/airlock/run/sandbox_session.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cmd/airlock/control_client.h"
#include "containerd/runtimeoptions/v1/api.pb.h"
#include "containerd/task/v2/shim.pb.h"
#include "policy/net/names.h"
#include "policy/source.h"
#include "shim/ttrpc/client.h"

namespace airlock::run {
namespace {

constexpr char kSpecType[] = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
constexpr char kRuntimeOptionsType[] = "runtimeoptions.v1.Options";
constexpr absl::Duration kPollInterval = absl::Milliseconds(20);
constexpr containerd::CallOptions kCleanupCall{.timeout = absl::Seconds(30), .uncancellable = true};

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return std::string(absl::StripAsciiWhitespace(line));
}

void Pause(absl::Duration d) { std::this_thread::sleep_for(absl::ToChronoNanoseconds(d)); }

}  // namespace

SandboxSession::SandboxSession(containerd::Connection& c, Reporter& reporter, SandboxPlan plan)
    : c_(c), reporter_(reporter), plan_(std::move(plan)) {
  traces_.id = plan_.id;
  traces_.name_space = c_.name_space();
  traces_.snapshotter = plan_.snapshotter;
  traces_.run_dir = cli::RunDir();
  traces_.record_path = absl::StrCat(cli::TasksDir(c_.name_space()), "/", plan_.id);
  traces_.sandbox_name = net::SandboxName(c_.name_space(), plan_.id);
  traces_.upstream_netns = plan_.upstream_netns;
  traces_.paths.push_back(plan_.io_dir);
  if (!plan_.runc_state_parent.empty()) {
    traces_.paths.push_back(absl::StrCat(plan_.runc_state_parent, "/", c_.name_space(), "/", plan_.id));
  }
  traces_.own_tmpfs_mounts = plan_.own_mounts;
}

SandboxSession::~SandboxSession() {
  Destroy();
}

absl::Status SandboxSession::Create() {
  // The lease holds the snapshot for the garbage collector; everything is made under it.
  traces_.lease = "airlock-run-" + plan_.id;
  // Should this process die without its cleanup (SIGKILL), containerd's garbage collector ends
  // the lease after a day; the container itself carries the label airlock.dev/run.
  std::string expire = absl::FormatTime(absl::RFC3339_sec, absl::Now() + absl::Hours(24), absl::UTCTimeZone());
  if (absl::Status s = containerd::CreateLease(c_, traces_.lease,
                                               {{"airlock.dev/run", plan_.id}, {"containerd.io/gc.expire", expire}});
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("create lease: ", s.message()));
  }
  lease_created_ = true;
  c_.SetLease(traces_.lease);
  if (c_.canceller().cancelled()) return absl::CancelledError("interrupted");

  absl::StatusOr<containerd::Mounts> mounts = containerd::PrepareSnapshot(c_, plan_.snapshotter, plan_.id, plan_.chain_id);
  if (!mounts.ok()) return absl::Status(mounts.status().code(), absl::StrCat("prepare snapshot: ", mounts.status().message()));
  snapshot_created_ = true;
  traces_.snapshot_key = plan_.id;
  rootfs_ = *std::move(mounts);
  if (c_.canceller().cancelled()) return absl::CancelledError("interrupted");

  containerd::api::containers::Container container;
  container.set_id(plan_.id);
  container.set_image(plan_.image_name);
  for (const auto& [k, v] : plan_.labels) (*container.mutable_labels())[k] = v;
  container.mutable_runtime()->set_name(plan_.runtime);
  runtimeoptions::v1::Options options;
  options.set_config_path(plan_.policy_path);
  container.mutable_runtime()->mutable_options()->set_type_url(kRuntimeOptionsType);
  container.mutable_runtime()->mutable_options()->set_value(options.SerializeAsString());
  container.mutable_spec()->set_type_url(kSpecType);
  container.mutable_spec()->set_value(plan_.spec_json);
  container.set_snapshotter(plan_.snapshotter);
  container.set_snapshot_key(plan_.id);
  if (absl::Status s = containerd::CreateContainer(c_, container); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("create container: ", s.message()));
  }
  container_created_ = true;
  if (c_.canceller().cancelled()) return absl::CancelledError("interrupted");

  absl::StatusOr<std::unique_ptr<containerd::ProcessIo>> io = containerd::ProcessIo::Create(
      plan_.io_dir, "init", [this](containerd::OutputStream stream, absl::string_view bytes) {
        reporter_.Output(plan_.setup_phase, stream, bytes);
      });
  if (!io.ok()) return io.status();
  init_io_ = *std::move(io);

  absl::StatusOr<uint32_t> pid = containerd::CreateTask(c_, plan_.id, rootfs_, init_io_->paths());
  if (!pid.ok()) {
    // A failed Create may still have left a task record behind; Destroy looks.
    task_created_ = true;
    return absl::Status(pid.status().code(), absl::StrCat("create task: ", pid.status().message()));
  }
  task_created_ = true;
  traces_.pids.push_back(Pin(static_cast<int>(*pid), "container init"));
  traces_.cgroups = CgroupDirsOf(static_cast<int>(*pid));
  traces_.netns_inode = NetnsInodeOf(static_cast<int>(*pid));
  NoteTraces();
  init_waiter_ = std::thread([this] { WatchInit(); });
  return absl::OkStatus();
}

void SandboxSession::NoteTraces() {
  // The shim's own view: its pid and the bundle directory, over its ttrpc socket (the record
  // file names it). Best effort: the leftover check uses whatever was learned.
  std::string address = ReadFirstLine(traces_.record_path);
  if (address.empty()) return;
  if (address.rfind("unix://", 0) == 0) traces_.shim_socket = address.substr(7);
  absl::StatusOr<std::unique_ptr<ttrpc::Client>> client = ttrpc::Client::Connect(address, absl::Seconds(2));
  if (!client.ok()) return;
  ::containerd::task::v2::ConnectRequest connect;
  connect.set_id(plan_.id);
  absl::StatusOr<std::string> answer =
      (*client)->Call("containerd.task.v2.Task", "Connect", connect.SerializeAsString(), absl::Seconds(5));
  ::containerd::task::v2::ConnectResponse connected;
  if (answer.ok() && connected.ParseFromString(*answer) && connected.shim_pid() != 0) {
    traces_.pids.push_back(Pin(static_cast<int>(connected.shim_pid()), "shim"));
  }
  ::containerd::task::v2::StateRequest state_request;
  state_request.set_id(plan_.id);
  answer = (*client)->Call("containerd.task.v2.Task", "State", state_request.SerializeAsString(), absl::Seconds(5));
  ::containerd::task::v2::StateResponse state;
  if (answer.ok() && state.ParseFromString(*answer)) traces_.bundle = state.bundle();
}

void SandboxSession::WatchInit() {
  absl::StatusOr<containerd::ExitStatus> exit = containerd::WaitProcess(c_, plan_.id);
  std::lock_guard lock(init_mu_);
  init_wait_done_ = true;
  if (exit.ok()) init_exit_ = exit->code;
}

std::optional<uint32_t> SandboxSession::init_exit() {
  std::lock_guard lock(init_mu_);
  return init_exit_;
}

absl::Status SandboxSession::Start() {
  if (c_.canceller().cancelled()) return absl::CancelledError("interrupted");
  absl::StatusOr<uint32_t> pid = containerd::StartProcess(c_, plan_.id);
  if (!pid.ok()) return absl::Status(pid.status().code(), absl::StrCat("start task: ", pid.status().message()));
  return absl::OkStatus();
}

absl::Status SandboxSession::OpenControl(absl::Duration timeout) {
  if (control_) return absl::OkStatus();
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    absl::StatusOr<std::unique_ptr<cli::ControlClient>> client = cli::ControlClient::Open(c_.name_space(), plan_.id);
    if (client.ok()) {
      control_ = *std::move(client);
      return absl::OkStatus();
    }
    if (!absl::IsNotFound(client.status()) || absl::Now() >= deadline) return client.status();
    Pause(kPollInterval);
  }
}

SealWait SandboxSession::WaitSealed(absl::Duration limit) {
  SealWait wait;
  if (absl::Status s = OpenControl(absl::Seconds(10)); !s.ok()) {
    wait.message = absl::StrCat("the sandbox's shim: ", s.message());
    return wait;
  }
  absl::Time deadline = absl::Now() + limit;
  for (;;) {
    if (c_.canceller().cancelled()) {
      wait.result = SealWait::Result::kInterrupted;
      return wait;
    }
    bool exited;
    {
      std::lock_guard lock(init_mu_);
      exited = init_exit_.has_value();
      wait.init_exit = init_exit_;
    }
    absl::StatusOr<airlock::v1::SandboxStatus> status = control_->Status();
    if (status.ok()) {
      wait.status = *status;
      const std::string& phase = status->phase();
      if (phase == "sealed") {
        if (status->seal_trigger() == "deadline" && status->setup_ran()) {
          wait.result = SealWait::Result::kSetupTimedOut;
        } else {
          wait.result = status->verified() ? SealWait::Result::kSealed : SealWait::Result::kSealFailed;
        }
        return wait;
      }
      if (phase == "failed") {
        bool setup_failed = status->setup_ran() && status->setup_exit_code() != 0 && status->seal_trigger().empty();
        wait.result = setup_failed ? SealWait::Result::kSetupFailed : SealWait::Result::kSealFailed;
        wait.message = status->failure();
        if (setup_failed && !exited) {
          // The helper exits with the setup's code: wait (bounded) to report it.
          for (int i = 0; i < 250 && !exited; ++i) {
            Pause(kPollInterval);
            std::lock_guard lock(init_mu_);
            exited = init_exit_.has_value();
            wait.init_exit = init_exit_;
          }
        }
        return wait;
      }
    }
    if (exited) {
      wait.result = SealWait::Result::kExited;
      wait.message = status.ok() ? status->failure() : std::string(status.status().message());
      return wait;
    }
    if (absl::Now() >= deadline) {
      wait.result = SealWait::Result::kTimedOut;
      wait.message = status.ok() ? absl::StrCat("still in phase ", status->phase()) : std::string(status.status().message());
      return wait;
    }
    Pause(kPollInterval);
  }
}

absl::StatusOr<ProcessOutcome> SandboxSession::Exec(const std::string& exec_id, const std::string& phase,
                                                    const std::string& process_json, absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<containerd::ProcessIo>> io = containerd::ProcessIo::Create(
      plan_.io_dir, exec_id, [this, phase](containerd::OutputStream stream, absl::string_view bytes) {
        reporter_.Output(phase, stream, bytes);
      });
  if (!io.ok()) return io.status();
  if (c_.canceller().cancelled()) return absl::CancelledError("interrupted");
  absl::Time started = absl::Now();
  if (absl::Status s = containerd::ExecProcess(c_, plan_.id, exec_id, process_json, (*io)->paths()); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("exec ", phase, ": ", s.message()));
  }
  absl::StatusOr<uint32_t> pid = containerd::StartProcess(c_, plan_.id, exec_id);
  if (!pid.ok()) {
    (void)containerd::DeleteProcess(c_, plan_.id, exec_id, kCleanupCall);
    return absl::Status(pid.status().code(), absl::StrCat("start ", phase, ": ", pid.status().message()));
  }
  // The deadline: a watchdog kills the whole container (the exec's children with it) when it passes.
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool finished = false;
  bool timed_out = false;
  std::thread watchdog;
  if (timeout != absl::InfiniteDuration()) {
    watchdog = std::thread([&] {
      std::unique_lock lock(watch_mu);
      if (watch_cv.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return finished; })) return;
      timed_out = true;
      lock.unlock();
      (void)containerd::KillProcess(c_, plan_.id, "", SIGKILL, /*all=*/true, kCleanupCall);
    });
  }
  absl::StatusOr<containerd::ExitStatus> exit = containerd::WaitProcess(c_, plan_.id, exec_id);
  if (watchdog.joinable()) {
    {
      std::lock_guard lock(watch_mu);
      finished = true;
    }
    watch_cv.notify_all();
    watchdog.join();
  }
  absl::Duration took = absl::Now() - started;
  if (!exit.ok()) {
    // Interrupted (or containerd went away): the process is killed with the container.
    (*io)->Finish();
    reporter_.FlushOutput(phase);
    return exit.status();
  }
  (*io)->Finish();
  reporter_.FlushOutput(phase);
  (void)containerd::DeleteProcess(c_, plan_.id, exec_id, kCleanupCall);
  return ProcessOutcome{exit->code, took, timed_out};
}

bool SandboxSession::ExecutionDeadlinePassed() {
  if (!OpenControl(absl::ZeroDuration()).ok()) return false;
  absl::StatusOr<airlock::v1::SandboxStatus> status = control_->Status();
  return status.ok() && status->execution_deadline_passed();
}

absl::StatusOr<airlock::v1::VerifyResponse> SandboxSession::Verify() {
  if (absl::Status s = OpenControl(absl::Seconds(5)); !s.ok()) return s;
  return control_->Verify(absl::Seconds(60));
}

std::vector<std::string> SandboxSession::AuditLines() {
  if (!OpenControl(absl::ZeroDuration()).ok()) return {};  // one try: the record exists or not
  absl::StatusOr<airlock::v1::AuditResponse> audit = control_->Audit();
  if (!audit.ok()) return {};
  return {audit->lines().begin(), audit->lines().end()};
}

std::vector<std::string> SandboxSession::Destroy() {
  std::vector<std::string> problems;
  if (destroyed_) return problems;
  destroyed_ = true;
  control_.reset();
  auto note = [&](const absl::Status& s, const char* what) {
    if (!s.ok() && !absl::IsNotFound(s)) problems.push_back(absl::StrCat(what, ": ", s.message()));
  };
  if (task_created_) {
    // A task that already stopped refuses the kill: only the delete's verdict counts.
    absl::Status killed = containerd::KillProcess(c_, plan_.id, "", SIGKILL, /*all=*/true, kCleanupCall);
    // The init's Wait returns once it is gone; bounded, then polled (the Wait may have been
    // cancelled by Ctrl-C). A Create that failed started no Wait: nothing to wait for (it cost
    // every failed create 10 s).
    for (int i = 0; init_waiter_.joinable() && i < 1000; ++i) {
      {
        std::lock_guard lock(init_mu_);
        if (init_wait_done_) break;
      }
      Pause(absl::Milliseconds(10));
    }
    for (int i = 0; i < 200; ++i) {
      absl::StatusOr<::containerd::v1::types::Process> p = containerd::GetTask(c_, plan_.id, kCleanupCall);
      if (!p.ok() || p->status() == ::containerd::v1::types::STOPPED) break;
      Pause(absl::Milliseconds(50));
    }
    absl::StatusOr<containerd::ExitStatus> deleted = containerd::DeleteTask(c_, plan_.id, kCleanupCall);
    if (!deleted.ok() && !killed.ok()) note(killed, "kill task");
    note(deleted.status(), "delete task");
  }
  if (init_waiter_.joinable()) {
    // After the task delete the Wait has returned; should containerd not have answered it, the
    // call is cancelled (and with it the connection's cancellable calls: none are left).
    bool done = false;
    for (int i = 0; i < 500 && !done; ++i) {
      {
        std::lock_guard lock(init_mu_);
        done = init_wait_done_;
      }
      if (!done) Pause(absl::Milliseconds(10));
    }
    if (!done) c_.canceller().Cancel();
    init_waiter_.join();
  }
  if (init_io_) {
    init_io_->Finish();
    reporter_.FlushOutput(plan_.setup_phase);
    init_io_.reset();
  }
  if (container_created_) note(containerd::DeleteContainer(c_, plan_.id, kCleanupCall), "delete container");
  if (snapshot_created_) note(containerd::RemoveSnapshot(c_, plan_.snapshotter, plan_.id, kCleanupCall), "remove snapshot");
  c_.SetLease("");
  if (lease_created_) note(containerd::DeleteLease(c_, traces_.lease, kCleanupCall), "delete lease");
  std::error_code ec;
  std::filesystem::remove_all(plan_.io_dir, ec);
  return problems;
}

}  // namespace airlock::run
