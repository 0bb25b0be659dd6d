#include "shim/task/service.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "containerd/events/task.pb.h"
#include "google/protobuf/empty.pb.h"
#include "nlohmann/json.hpp"
#include "shim/base/errno_status.h"
#include "shim/base/files.h"
#include "shim/base/log.h"
#include "shim/task/rootfs.h"
#include "shim/task/runtime_options.h"
#include "shim/task/spec_facts.h"

namespace airlock::task {
namespace {

namespace ev = ::containerd::events;
using ::containerd::v1::types::Status;

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  timespec ts = absl::ToTimespec(t);
  out->set_seconds(ts.tv_sec);
  out->set_nanos(static_cast<int32_t>(ts.tv_nsec));
}

Status ToApiStatus(const Container& container, const Process& process) {
  switch (process.state) {
    case ProcessState::kCreated:
      return Status::CREATED;
    case ProcessState::kRunning:
    case ProcessState::kExiting:  // the exit is not reported yet
      return process.is_init && container.paused ? Status::PAUSED : Status::RUNNING;
    case ProcessState::kStopped:
      return Status::STOPPED;
  }
  return Status::UNKNOWN;
}

absl::Status ProcessNotFound(const std::string& container_id, const std::string& exec_id) {
  return absl::NotFoundError(absl::StrCat("process ", exec_id, " does not exist in container ", container_id));
}

}  // namespace

TaskService::TaskService(Reactor& reactor, WorkerPool& pool, ServiceConfig config, ServiceHooks hooks)
    : reactor_(reactor), pool_(pool), config_(std::move(config)), hooks_(std::move(hooks)) {}

TaskService::~TaskService() = default;

std::shared_ptr<Container> TaskService::FindContainer(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = containers_.find(id);
  return it == containers_.end() ? nullptr : it->second;
}

void TaskService::PublishLocked(absl::string_view topic, const google::protobuf::MessageLite& event) {
  if (hooks_.publish) hooks_.publish(topic, event);
}

void TaskService::WatchExit(const std::string& container_id, const std::string& exec_id, pid_t pid) {
  Reaper::Get().Watch(pid, [this, container_id, exec_id](const ExitInfo& exit) { OnExit(container_id, exec_id, exit); });
}

// ---------------------------------------------------------------------------------------------
// Create / Start / Exec

absl::StatusOr<api::CreateTaskResponse> TaskService::Create(const api::CreateTaskRequest& request) {
  const std::string& id = request.id();
  if (id.empty()) return absl::InvalidArgumentError("create: container id must not be empty");
  if (request.bundle().empty() || request.bundle()[0] != '/') {
    return absl::InvalidArgumentError("create: bundle must be an absolute path");
  }
  if (!request.checkpoint().empty()) {
    return absl::UnimplementedError("create from checkpoint is not supported by the airlock runtime");
  }
  {
    std::lock_guard lock(mu_);
    if (containers_.count(id) || creating_.count(id)) return absl::AlreadyExistsError(absl::StrCat("container ", id));
    creating_[id] = true;
  }
  auto release_reservation = [&] {
    std::lock_guard lock(mu_);
    creating_.erase(id);
  };

  auto container = std::make_shared<Container>();
  container->id = id;
  container->bundle = request.bundle();

  absl::StatusOr<runc::Config> runc_config = ParseRuntimeOptions(request.options(), config_.runc, config_.ns);
  if (!runc_config.ok()) {
    release_reservation();
    return runc_config.status();
  }
  if (absl::Status saved = SaveRuntimeConfig(container->bundle, *runc_config); !saved.ok()) {
    release_reservation();
    return saved;
  }
  container->runc = std::make_unique<runc::Runc>(*runc_config, container->bundle + "/log.json");

  if (request.rootfs_size() > 0) {
    container->rootfs = container->bundle + "/rootfs";
    if (mkdir(container->rootfs.c_str(), 0711) != 0 && errno != EEXIST) {
      release_reservation();
      return ErrnoStatus(absl::StrCat("mkdir ", container->rootfs));
    }
    std::vector<containerd::types::Mount> mounts(request.rootfs().begin(), request.rootfs().end());
    if (absl::Status mounted = MountAll(mounts, container->rootfs); !mounted.ok()) {
      release_reservation();
      return mounted;
    }
  }

  SandboxHooks::Prepared prepared;
  if (hooks_.sandbox != nullptr) {
    absl::StatusOr<SandboxHooks::Prepared> p = hooks_.sandbox->Prepare(request, config_.ns);
    if (!p.ok()) {
      (void)UnmountAll(container->rootfs);
      release_reservation();
      return p.status();
    }
    prepared = std::move(*p);
  }
  // From the spec runc will run: the sandbox may have rewritten it (its own pid namespace).
  SpecFacts facts = ReadSpecFacts(container->bundle);
  container->kill_all_on_exit = facts.kill_all_on_exit;
  container->poststart_hooks = facts.poststart_hooks;

  Process& init = container->init;
  init.id = id;
  init.is_init = true;
  init.stdio = io::StdioConfig{request.stdin(), request.stdout(), request.stderr(), request.terminal(), id, config_.ns,
                               runc_config->io_uid, runc_config->io_gid};

  auto fail = [&](absl::Status status) {
    init.io.reset();
    (void)container->runc->Delete(id, /*force=*/true);
    (void)UnmountAll(container->rootfs);
    if (hooks_.sandbox != nullptr) hooks_.sandbox->CreateFailed(id);
    release_reservation();
    return status;
  };

  absl::StatusOr<std::unique_ptr<io::ProcessIo>> process_io = io::ProcessIo::Create(reactor_, init.stdio, container->bundle);
  if (!process_io.ok()) return fail(process_io.status());
  init.io = std::move(*process_io);

  const std::string pid_file = container->bundle + "/init.pid";
  runc::ProcessFds fds{init.io->child_stdin(), init.io->child_stdout(), init.io->child_stderr(),
                       prepared.preserved_fds};
  if (absl::Status created = container->runc->Create(id, container->bundle, pid_file, init.io->console_socket_path(), fds);
      !created.ok()) {
    return fail(created);
  }
  if (absl::Status console = init.io->ReceiveConsole(absl::Seconds(10)); !console.ok()) return fail(console);
  absl::StatusOr<pid_t> pid = runc::ReadPidFile(pid_file);
  if (!pid.ok()) return fail(pid.status());
  init.io->CloseChildEnds();
  init.pid = *pid;
  // Before start, so no OOM of the user's process goes unseen.
  if (hooks_.track_cgroups) hooks_.track_cgroups(id, init.pid);
  if (hooks_.sandbox != nullptr) hooks_.sandbox->Created(id, init.pid);
  init.state = ProcessState::kCreated;
  init.starting = true;  // hold an early exit until TaskCreate is out

  {
    std::lock_guard lock(mu_);
    creating_.erase(id);
    containers_[id] = container;
    ev::TaskCreate event;
    event.set_container_id(id);
    event.set_bundle(request.bundle());
    *event.mutable_rootfs() = request.rootfs();
    event.mutable_io()->set_stdin(request.stdin());
    event.mutable_io()->set_stdout(request.stdout());
    event.mutable_io()->set_stderr(request.stderr());
    event.mutable_io()->set_terminal(request.terminal());
    event.set_checkpoint(request.checkpoint());
    event.set_pid(static_cast<uint32_t>(init.pid));
    PublishLocked("/tasks/create", event);
  }
  WatchExit(id, "", init.pid);
  {
    std::lock_guard lock(mu_);
    init.starting = false;
    EndStartLocked(*container, init);
  }

  // The shim idles for the rest of the task's life: hand back the free heap pages that building the
  // container took (spec JSON, policy, seccomp filter) instead of keeping them dirty.
  malloc_trim(0);
  api::CreateTaskResponse response;
  response.set_pid(static_cast<uint32_t>(init.pid));
  return response;
}

absl::StatusOr<api::StartResponse> TaskService::Start(const api::StartRequest& request) {
  std::shared_ptr<Container> container = FindContainer(request.id());
  if (!container) return absl::NotFoundError(absl::StrCat("container ", request.id(), " not found"));
  Process* process;
  {
    std::lock_guard lock(mu_);
    process = container->FindProcess(request.exec_id());
    if (process == nullptr) return ProcessNotFound(request.id(), request.exec_id());
  }
  absl::Status started = request.exec_id().empty() ? StartInit(*container) : StartExec(*container, *process);
  if (!started.ok()) return started;
  api::StartResponse response;
  std::lock_guard lock(mu_);
  response.set_pid(static_cast<uint32_t>(process->pid));
  return response;
}

absl::Status TaskService::StartInit(Container& container) {
  std::lock_guard op(container.op_mu);
  Process& init = container.init;
  {
    std::lock_guard lock(mu_);
    if (init.state != ProcessState::kCreated || init.starting) {
      return absl::FailedPreconditionError(absl::StrCat("container ", container.id, " is not in created state"));
    }
    init.starting = true;
  }
  absl::Status status = container.runc->Start(container.id, init.pid, container.poststart_hooks);
  std::lock_guard lock(mu_);
  init.starting = false;
  if (status.ok()) {
    init.state = ProcessState::kRunning;
    ev::TaskStart event;
    event.set_container_id(container.id);
    event.set_pid(static_cast<uint32_t>(init.pid));
    PublishLocked("/tasks/start", event);
  } else {
    init.start_failed = true;
  }
  EndStartLocked(container, init);
  return status;
}

absl::Status TaskService::Exec(const api::ExecProcessRequest& request) {
  if (request.exec_id().empty()) return absl::InvalidArgumentError("exec: exec id must not be empty");
  std::shared_ptr<Container> container = FindContainer(request.id());
  if (!container) return absl::NotFoundError(absl::StrCat("container ", request.id(), " not found"));
  nlohmann::json spec = nlohmann::json::parse(request.spec().value(), nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object()) return absl::InvalidArgumentError("exec: spec is not an OCI process (JSON object)");
  // The request decides whether the process gets a terminal, as in containerd's runc shim
  // (pkg/process: spec.Terminal = r.Terminal): a client may ask for a tty with a process spec
  // taken from the container's, which says none.
  const auto terminal = spec.find("terminal");
  const bool rewrite_terminal =
      terminal == spec.end() ? request.terminal() : !(terminal->is_boolean() && *terminal == request.terminal());
  if (rewrite_terminal) spec["terminal"] = request.terminal();

  std::lock_guard lock(mu_);
  if (container->execs.count(request.exec_id())) {
    return absl::AlreadyExistsError(absl::StrCat("id ", request.exec_id()));
  }
  if (container->init.exited()) {
    return absl::FailedPreconditionError(absl::StrCat("container ", container->id, " is not running"));
  }
  auto process = std::make_unique<Process>();
  process->id = request.exec_id();
  // Re-serialized only when the request changed it: the spec is the client's bytes otherwise.
  process->spec_json = rewrite_terminal ? spec.dump() : request.spec().value();
  const runc::Config& runc_config = container->runc->config();
  process->stdio = io::StdioConfig{request.stdin(), request.stdout(), request.stderr(), request.terminal(),
                                   container->id, config_.ns, runc_config.io_uid, runc_config.io_gid};
  container->execs[request.exec_id()] = std::move(process);
  ev::TaskExecAdded event;
  event.set_container_id(container->id);
  event.set_exec_id(request.exec_id());
  PublishLocked("/tasks/exec-added", event);
  return absl::OkStatus();
}

absl::Status TaskService::StartExec(Container& container, Process& process) {
  unsigned file_id;
  {
    std::lock_guard lock(mu_);
    if (process.state != ProcessState::kCreated || process.starting) {
      return absl::FailedPreconditionError(absl::StrCat("exec ", process.id, " is not in created state"));
    }
    if (container.init.state != ProcessState::kRunning) {
      return absl::FailedPreconditionError(absl::StrCat("container ", container.id, " is not running"));
    }
    process.starting = true;
    file_id = container.next_file_id++;
  }
  // Exec ids come from the client: never let one name a file.
  const std::string spec_path = absl::StrCat(container.bundle, "/.exec-", file_id, ".json");
  const std::string pid_file = absl::StrCat(container.bundle, "/.exec-", file_id, ".pid");
  auto cleanup_files = [&] {
    unlink(spec_path.c_str());
    unlink(pid_file.c_str());
  };
  auto fail = [&](absl::Status status) {
    cleanup_files();
    std::lock_guard lock(mu_);
    process.starting = false;
    process.start_failed = true;
    if (process.pid == 0) {
      // Nothing runs: the process is over before it began. No exit event, as containerd expects.
      process.state = ProcessState::kStopped;
      process.exit = ExitInfo{0, 255, absl::Now()};
      process.io.reset();
    }
    EndStartLocked(container, process);
    return status;
  };

  // Read once, here: the exec's spec is not needed after its start.
  std::string spec_json = std::move(process.spec_json);
  std::vector<UniqueFd> exec_fds;  // the sandbox's, for the exec's fd 3 on
  if (hooks_.sandbox != nullptr) {
    absl::StatusOr<ExecRewrite> rewritten = hooks_.sandbox->RewriteExec(container.id, spec_json);
    if (!rewritten.ok()) return fail(rewritten.status());
    spec_json = std::move(rewritten->spec_json);
    exec_fds = std::move(rewritten->preserved_fds);
  }
  if (absl::Status written = WriteFileAtomically(spec_path, spec_json); !written.ok()) return fail(written);
  absl::StatusOr<std::unique_ptr<io::ProcessIo>> process_io = io::ProcessIo::Create(reactor_, process.stdio, container.bundle);
  if (!process_io.ok()) return fail(process_io.status());
  process.io = std::move(*process_io);
  runc::ProcessFds fds{process.io->child_stdin(), process.io->child_stdout(), process.io->child_stderr(), {}};
  for (const UniqueFd& fd : exec_fds) fds.preserved.push_back(fd.get());
  if (absl::Status ran = container.runc->Exec(container.id, spec_path, pid_file, process.io->console_socket_path(), fds);
      !ran.ok()) {
    return fail(ran);
  }
  if (absl::Status console = process.io->ReceiveConsole(absl::Seconds(10)); !console.ok()) return fail(console);
  absl::StatusOr<pid_t> pid = runc::ReadPidFile(pid_file);
  if (!pid.ok()) return fail(pid.status());
  cleanup_files();
  process.io->CloseChildEnds();
  {
    std::lock_guard lock(mu_);
    process.pid = *pid;
  }
  WatchExit(container.id, process.id, *pid);
  std::lock_guard lock(mu_);
  process.state = ProcessState::kRunning;
  ev::TaskExecStarted event;
  event.set_container_id(container.id);
  event.set_exec_id(process.id);
  event.set_pid(static_cast<uint32_t>(*pid));
  PublishLocked("/tasks/exec-started", event);
  process.starting = false;
  EndStartLocked(container, process);
  return absl::OkStatus();
}

void TaskService::EndStartLocked(Container& container, Process& process) {
  if (!process.pending_exit) return;
  ExitInfo exit = *process.pending_exit;
  process.pending_exit.reset();
  BeginExitLocked(container, process, exit);
}

// ---------------------------------------------------------------------------------------------
// Exits

void TaskService::OnExit(const std::string& container_id, const std::string& exec_id, const ExitInfo& exit) {
  std::lock_guard lock(mu_);
  auto it = containers_.find(container_id);
  if (it == containers_.end()) return;  // deleted meanwhile
  Process* process = it->second->FindProcess(exec_id);
  if (process == nullptr || process->pid != exit.pid || process->exited()) return;
  if (process->starting) {
    process->pending_exit = exit;
    return;
  }
  BeginExitLocked(*it->second, *process, exit);
}

void TaskService::BeginExitLocked(Container& container, Process& process, const ExitInfo& exit) {
  process.state = ProcessState::kExiting;
  if (process.is_init && hooks_.sandbox != nullptr) hooks_.sandbox->InitExited(container.id, exit.status);
  std::shared_ptr<Container> owner = containers_.count(container.id) ? containers_[container.id] : nullptr;
  if (!owner) return;
  if (process.is_init && container.kill_all_on_exit) {
    // As containerd's runc shim: the init's children do not die with it here (no pid namespace of
    // its own), so `runc kill --all` runs, and is waited for, before the exit is reported.
    runc::Runc* runc = container.runc.get();
    pool_.Submit([this, owner, runc, exit] {
      if (absl::Status killed = runc->Kill(owner->id, SIGKILL, /*all=*/true); !killed.ok()) {
        log::Warn("container ", owner->id, ": kill the init's children: ", killed.message());
      }
      std::lock_guard lock(mu_);
      ContinueExitLocked(owner, owner->init, exit);
    });
    return;
  }
  ContinueExitLocked(owner, process, exit);
}

void TaskService::ContinueExitLocked(const std::shared_ptr<Container>& owner, Process& process, const ExitInfo& exit) {
  Container& container = *owner;
  if (process.is_init) {
    if (container.RunningExecs() > 0) {
      // Report the execs' exits first (their pid namespace dies with the init), bounded in time.
      container.init_exit_waits_for_execs = true;
      process.pending_exit = exit;
      reactor_.Post([this, owner] {
        reactor_.RunAfter(config_.init_waits_for_execs, [this, owner] {
          std::lock_guard lock(mu_);
          FinishInitIfReadyLocked(*owner, /*force=*/true);
        });
      });
      return;
    }
  }
  // Drain outside the lock: it may complete at once and take the lock itself.
  reactor_.Post([this, owner, p = &process, exit] { DrainThenFinish(owner, p, exit); });
}

void TaskService::DrainThenFinish(std::shared_ptr<Container> container, Process* process, ExitInfo exit) {
  io::ProcessIo* process_io;
  {
    std::lock_guard lock(mu_);
    process_io = process->io.get();
  }
  if (process_io == nullptr) {
    FinishExit(std::move(container), process, exit);
    return;
  }
  process_io->Drain(config_.drain_timeout, [this, container, process, exit] { FinishExit(container, process, exit); });
}

void TaskService::FinishExit(std::shared_ptr<Container> container, Process* process, ExitInfo exit) {
  std::vector<Process::Waiter> waiters;
  {
    std::lock_guard lock(mu_);
    if (process->state == ProcessState::kStopped) return;
    process->state = ProcessState::kStopped;
    process->exit = exit;
    waiters.swap(process->waiters);
    if (process->is_init && hooks_.poll_oom) hooks_.poll_oom(container->id);  // TaskOOM before TaskExit
    if (!process->start_failed) {
      ev::TaskExit event;
      event.set_container_id(container->id);
      event.set_id(process->id);
      event.set_pid(static_cast<uint32_t>(exit.pid));
      event.set_exit_status(static_cast<uint32_t>(exit.status));
      SetTimestamp(exit.exited_at, event.mutable_exited_at());
      PublishLocked("/tasks/exit", event);
    }
    if (!process->is_init) FinishInitIfReadyLocked(*container, /*force=*/false);
  }
  for (auto& waiter : waiters) waiter(exit);
}

void TaskService::FinishInitIfReadyLocked(Container& container, bool force) {
  if (!container.init_exit_waits_for_execs) return;
  if (!force && container.RunningExecs() > 0) return;
  container.init_exit_waits_for_execs = false;
  ExitInfo exit = *container.init.pending_exit;
  container.init.pending_exit.reset();
  auto it = containers_.find(container.id);
  if (it == containers_.end()) return;
  reactor_.Post([this, owner = it->second, exit] { DrainThenFinish(owner, &owner->init, exit); });
}

void TaskService::Wait(const api::WaitRequest& request, std::function<void(absl::StatusOr<api::WaitResponse>)> done) {
  auto respond = [done](const ExitInfo& exit) {
    api::WaitResponse response;
    response.set_exit_status(static_cast<uint32_t>(exit.status));
    SetTimestamp(exit.exited_at, response.mutable_exited_at());
    done(response);
  };
  std::optional<ExitInfo> ready;
  {
    std::lock_guard lock(mu_);
    auto it = containers_.find(request.id());
    if (it == containers_.end()) {
      done(absl::NotFoundError(absl::StrCat("container ", request.id(), " not found")));
      return;
    }
    Process* process = it->second->FindProcess(request.exec_id());
    if (process == nullptr) {
      done(ProcessNotFound(request.id(), request.exec_id()));
      return;
    }
    if (process->state == ProcessState::kStopped) {
      ready = *process->exit;
    } else {
      process->waiters.push_back(respond);
    }
  }
  if (ready) respond(*ready);
}

// ---------------------------------------------------------------------------------------------
// Delete

absl::StatusOr<api::DeleteResponse> TaskService::Delete(const api::DeleteRequest& request) {
  std::shared_ptr<Container> container = FindContainer(request.id());
  if (!container) return absl::NotFoundError(absl::StrCat("container ", request.id(), " not found"));
  api::DeleteResponse response;

  if (!request.exec_id().empty()) {
    std::unique_ptr<Process> removed;
    {
      std::lock_guard lock(mu_);
      auto it = container->execs.find(request.exec_id());
      if (it == container->execs.end()) return ProcessNotFound(request.id(), request.exec_id());
      Process& process = *it->second;
      if (process.starting || process.state == ProcessState::kRunning || process.state == ProcessState::kExiting) {
        return absl::FailedPreconditionError(absl::StrCat("cannot delete a running process ", process.id));
      }
      response.set_pid(static_cast<uint32_t>(process.pid));
      if (process.exit) {
        response.set_exit_status(static_cast<uint32_t>(process.exit->status));
        SetTimestamp(process.exit->exited_at, response.mutable_exited_at());
      }
      removed = std::move(it->second);
      container->execs.erase(it);
    }
    ExitInfo never_started{removed->pid, 0, absl::Now()};
    for (auto& waiter : removed->waiters) waiter(removed->exit.value_or(never_started));
    return response;
  }

  std::lock_guard op(container->op_mu);
  bool was_created;
  {
    std::lock_guard lock(mu_);
    Process& init = container->init;
    if (init.starting || init.state == ProcessState::kRunning || init.state == ProcessState::kExiting) {
      return absl::FailedPreconditionError(absl::StrCat("cannot delete running task ", container->id));
    }
    was_created = init.state == ProcessState::kCreated;
  }
  if (absl::Status deleted = container->runc->Delete(container->id, /*force=*/was_created); !deleted.ok()) {
    return deleted;
  }
  if (absl::Status unmounted = UnmountAll(container->rootfs); !unmounted.ok()) {
    log::Warn("delete ", container->id, ": ", unmounted.message());
  }
  if (hooks_.untrack_cgroups) hooks_.untrack_cgroups(container->id);
  if (hooks_.sandbox != nullptr) hooks_.sandbox->Deleted(container->id);

  std::vector<Process::Waiter> waiters;
  ExitInfo exit;
  {
    std::lock_guard lock(mu_);
    Process& init = container->init;
    exit = init.exit.value_or(ExitInfo{init.pid, 0, absl::Time()});
    waiters.swap(init.waiters);
    for (auto& [id, p] : container->execs) {
      for (auto& w : p->waiters) waiters.push_back(std::move(w));
      p->waiters.clear();
    }
    containers_.erase(container->id);
    ev::TaskDelete event;
    event.set_container_id(container->id);
    event.set_pid(static_cast<uint32_t>(init.pid));
    event.set_exit_status(static_cast<uint32_t>(exit.status));
    if (init.exit) SetTimestamp(exit.exited_at, event.mutable_exited_at());
    PublishLocked("/tasks/delete", event);
    response.set_pid(static_cast<uint32_t>(init.pid));
    response.set_exit_status(static_cast<uint32_t>(exit.status));
    if (init.exit) SetTimestamp(exit.exited_at, response.mutable_exited_at());
  }
  for (auto& waiter : waiters) waiter(exit);
  // The stdio goes with the container (its destructor unregisters from the reactor).
  return response;
}

// ---------------------------------------------------------------------------------------------
// Queries and control

absl::StatusOr<api::StateResponse> TaskService::State(const api::StateRequest& request) {
  std::shared_ptr<Container> container = FindContainer(request.id());
  if (!container) return absl::NotFoundError(absl::StrCat("container ", request.id(), " not found"));
  std::lock_guard lock(mu_);
  Process* process = container->FindProcess(request.exec_id());
  if (process == nullptr) return ProcessNotFound(request.id(), request.exec_id());
  api::StateResponse response;
  response.set_id(process->id);
  response.set_bundle(container->bundle);
  response.set_pid(static_cast<uint32_t>(process->pid));
  response.set_status(ToApiStatus(*container, *process));
  response.set_stdin(process->stdio.stdin_path);
  response.set_stdout(process->stdio.stdout_path);
  response.set_stderr(process->stdio.stderr_path);
  response.set_terminal(process->stdio.terminal);
  if (process->state == ProcessState::kStopped && process->exit) {
    response.set_exit_status(static_cast<uint32_t>(process->exit->status));
    SetTimestamp(process->exit->exited_at, response.mutable_exited_at());
  }
  response.set_exec_id(request.exec_id());
  return response;
}

absl::StatusOr<api::PidsResponse> TaskService::Pids(const api::PidsRequest& request) {
  std::shared_ptr<Container> container = FindContainer(request.id());
  if (!container) return absl::NotFoundError(absl::StrCat("container ", request.id(), " not found"));
  absl::StatusOr<std::vector<pid_t>> pids = container->runc->Ps(container->id);
  if (!pids.ok()) return pids.status();
  api::PidsResponse response;
  std::lock_guard lock(mu_);
  for (pid_t pid : *pids) {
    auto* info = response.add_processes();
    info->set_pid(static_cast<uint32_t>(pid));
    for (const auto& [exec_id, process] : container->execs) {
      if (process->pid == pid) {
        *info->mutable_info() = ProcessDetailsAny(exec_id);
        break;
      }
    }
  }
  return response;
}

absl::Status TaskService::Kill(const api::KillRequest& request) {
  std::shared_ptr<Container> container = FindContainer(request.id());
  if (!container) return absl::NotFoundError(absl::StrCat("container ", request.id(), " not found"));
  pid_t pid;
  bool is_init;
  {
    std::lock_guard lock(mu_);
    Process* process = container->FindProcess(request.exec_id());
    if (process == nullptr) return ProcessNotFound(request.id(), request.exec_id());
    pid = process->pid;
    is_init = process->is_init;
    // `--all` reaches whatever is left in the container even after the init is gone (as runc does).
    if (!(request.all() && is_init) && (process->exited() || process->pid <= 0)) {
      return absl::NotFoundError("process already finished");
    }
  }
  int signal = static_cast<int>(request.signal());
  // A container deleted behind the shim's back (`runc delete`): runc-v2's `runc kill` says it does
  // not exist, whether or not its init's exit has been reaped yet.
  if (is_init && container->runc->StateMissing(container->id)) return absl::NotFoundError("no such container");
  if (request.all() && is_init) return container->runc->Kill(container->id, signal, /*all=*/true);
  // The pid cannot have been reused: the shim reaps it, and it has not been reaped yet.
  if (::kill(pid, signal) != 0) {
    if (errno == ESRCH) return absl::NotFoundError("process already finished");
    return ErrnoStatus(absl::StrCat("kill ", pid));
  }
  return absl::OkStatus();
}

absl::Status TaskService::Pause(const api::PauseRequest& request) {
  std::shared_ptr<Container> container = FindContainer(request.id());
  if (!container) return absl::NotFoundError(absl::StrCat("container ", request.id(), " not found"));
  std::lock_guard op(container->op_mu);
  {
    std::lock_guard lock(mu_);
    if (container->init.state != ProcessState::kRunning) {
      return absl::FailedPreconditionError(absl::StrCat("container ", container->id, " is not running"));
    }
    if (container->paused) return absl::OkStatus();
  }
  if (absl::Status paused = container->runc->Pause(container->id); !paused.ok()) return paused;
  std::lock_guard lock(mu_);
  container->paused = true;
  ev::TaskPaused event;
  event.set_container_id(container->id);
  PublishLocked("/tasks/paused", event);
  return absl::OkStatus();
}

absl::Status TaskService::Resume(const api::ResumeRequest& request) {
  std::shared_ptr<Container> container = FindContainer(request.id());
  if (!container) return absl::NotFoundError(absl::StrCat("container ", request.id(), " not found"));
  std::lock_guard op(container->op_mu);
  {
    std::lock_guard lock(mu_);
    if (!container->paused) {
      return absl::FailedPreconditionError(absl::StrCat("container ", container->id, " is not paused"));
    }
  }
  if (absl::Status resumed = container->runc->Resume(container->id); !resumed.ok()) return resumed;
  std::lock_guard lock(mu_);
  container->paused = false;
  ev::TaskResumed event;
  event.set_container_id(container->id);
  PublishLocked("/tasks/resumed", event);
  return absl::OkStatus();
}

absl::Status TaskService::ResizePty(const api::ResizePtyRequest& request) {
  std::shared_ptr<Container> container = FindContainer(request.id());
  if (!container) return absl::NotFoundError(absl::StrCat("container ", request.id(), " not found"));
  std::lock_guard lock(mu_);
  Process* process = container->FindProcess(request.exec_id());
  if (process == nullptr) return ProcessNotFound(request.id(), request.exec_id());
  if (!process->io) return absl::FailedPreconditionError("process has no stdio yet");
  return process->io->Resize(request.width(), request.height());
}

absl::Status TaskService::CloseIO(const api::CloseIORequest& request) {
  std::shared_ptr<Container> container = FindContainer(request.id());
  if (!container) return absl::NotFoundError(absl::StrCat("container ", request.id(), " not found"));
  std::lock_guard lock(mu_);
  Process* process = container->FindProcess(request.exec_id());
  if (process == nullptr) return ProcessNotFound(request.id(), request.exec_id());
  if (request.stdin() && process->io) process->io->CloseStdin();
  return absl::OkStatus();
}

absl::Status TaskService::Update(const api::UpdateTaskRequest& request) {
  std::shared_ptr<Container> container = FindContainer(request.id());
  if (!container) return absl::NotFoundError(absl::StrCat("container ", request.id(), " not found"));
  if (request.resources().value().empty()) return absl::OkStatus();
  std::lock_guard op(container->op_mu);
  unsigned file_id;
  {
    std::lock_guard lock(mu_);
    if (container->init.exited()) return absl::FailedPreconditionError("container is not running");
    file_id = container->next_file_id++;
  }
  const std::string path = absl::StrCat(container->bundle, "/.resources-", file_id, ".json");
  if (absl::Status written = WriteFileAtomically(path, request.resources().value()); !written.ok()) return written;
  absl::Status updated = container->runc->Update(container->id, path);
  unlink(path.c_str());
  return updated;
}

absl::StatusOr<api::StatsResponse> TaskService::Stats(const api::StatsRequest& request) {
  std::shared_ptr<Container> container = FindContainer(request.id());
  if (!container) return absl::NotFoundError(absl::StrCat("container ", request.id(), " not found"));
  if (!hooks_.stats) return absl::UnimplementedError("stats are not available");
  absl::StatusOr<google::protobuf::Any> stats = hooks_.stats(container->id);
  if (!stats.ok()) return stats.status();
  api::StatsResponse response;
  *response.mutable_stats() = std::move(*stats);
  return response;
}

absl::StatusOr<api::ConnectResponse> TaskService::Connect(const api::ConnectRequest& request) {
  api::ConnectResponse response;
  response.set_shim_pid(static_cast<uint32_t>(getpid()));
  response.set_version(AIRLOCK_VERSION);
  std::lock_guard lock(mu_);
  auto it = containers_.find(request.id());
  if (it != containers_.end()) response.set_task_pid(static_cast<uint32_t>(it->second->init.pid));
  return response;
}

bool TaskService::Shutdown(const api::ShutdownRequest&) {
  std::lock_guard lock(mu_);
  return containers_.empty() && creating_.empty();  // otherwise still serving containers
}

}  // namespace airlock::task
