// ProcessIo: from containerd's stdio names to the fds runc gets, and the copies the shim runs.
#include "shim/io/process_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"
#include "shim/base/log.h"
#include "shim/io/console_socket.h"
#include "shim/io/logger.h"
#include "shim/io/pump.h"
#include "shim/io/stdio_files.h"
#include "shim/io/stdio_uri.h"

namespace airlock::io {
namespace {

using Kind = StdioTarget::Kind;

class ProcessIoImpl final : public ProcessIo {
 public:
  ProcessIoImpl(Reactor& reactor, const StdioConfig& config)
      : reactor_(reactor), terminal_(config.terminal), pump_(std::make_shared<Pump>(reactor, config.terminal)) {}

  ~ProcessIoImpl() override {
    CloseChildEnds();
    // The Reactor side is unregistered on its own thread; its fds close with its last reference.
    std::shared_ptr<Pump> pump = std::move(pump_);
    if (reactor_.InReactorThread()) {
      pump->Teardown();
    } else {
      // Released inside the task, so the fds are closed once it has run.
      reactor_.Post([pump]() mutable {
        pump->Teardown();
        pump.reset();
      });
    }
    // logger_ (if any) gets SIGTERM as it goes, after the process' pipes closed.
  }

  absl::Status Init(const StdioConfig& config, const std::string& work_dir);

  int child_stdin() const override { return child_in_.get(); }
  int child_stdout() const override { return child_out_.get(); }
  int child_stderr() const override { return child_err_.get(); }
  const std::string& console_socket_path() const override { return console_.path(); }

  absl::Status ReceiveConsole(absl::Duration timeout) override {
    if (!terminal_) return absl::OkStatus();
    absl::StatusOr<UniqueFd> master = console_.ReceiveMaster(timeout);
    console_.Close();  // runc connects once
    if (!master.ok()) return master.status();
    if (absl::Status status = SetNonBlocking(master->get()); !status.ok()) return status;
    pump_->SetMaster(std::move(*master));
    RunOnReactor([pump = pump_] { pump->AttachConsole(); });
    return absl::OkStatus();
  }

  void CloseChildEnds() override {
    console_.Close();
    std::lock_guard lock(child_mu_);
    child_in_.reset();
    child_out_.reset();
    child_err_.reset();
  }

  absl::Status Resize(uint32_t width, uint32_t height) override {
    if (!terminal_) return absl::OkStatus();  // as containerd: no console, nothing to resize
    return pump_->Resize(width, height);
  }

  void CloseStdin() override {
    RunOnReactor([pump = pump_] { pump->CloseStdin(); });
  }

  void Drain(absl::Duration timeout, std::function<void()> done) override {
    CloseChildEnds();  // normally done already; a failed start may not have
    std::shared_ptr<Pump> pump = pump_;  // `done` may destroy this object
    if (reactor_.InReactorThread()) {
      pump->Drain(timeout, std::move(done));
    } else {
      reactor_.Post([pump, timeout, done = std::move(done)]() mutable { pump->Drain(timeout, std::move(done)); });
    }
  }

 private:
  // Reactor registrations happen on its thread; Post keeps them in call order.
  void RunOnReactor(std::function<void()> task) {
    if (reactor_.InReactorThread()) {
      task();
    } else {
      reactor_.Post(std::move(task));
    }
  }

  absl::Status OpenStdin(const StdioTarget& target);
  absl::Status FeedStdin(UniqueFd source, UniqueFd keepalive);
  absl::Status OpenOutputs(const StdioConfig& config, const StdioTarget& out, const StdioTarget& err);
  absl::Status OpenOutput(const StdioTarget& target, UniqueFd& child_end);
  absl::Status OpenTerminalOutput(const StdioConfig& config, const StdioTarget& out);

  Reactor& reactor_;
  const bool terminal_;
  std::shared_ptr<Pump> pump_;

  std::mutex child_mu_;  // CloseChildEnds (a worker) vs Drain (the reactor)
  UniqueFd child_in_;
  UniqueFd child_out_;
  UniqueFd child_err_;

  ConsoleSocket console_;
  std::unique_ptr<Logger> logger_;
};

absl::Status ProcessIoImpl::Init(const StdioConfig& config, const std::string& work_dir) {
  absl::StatusOr<StdioTarget> in = ParseStdioUri(config.stdin_path);
  if (!in.ok()) return in.status();
  absl::StatusOr<StdioTarget> out = ParseStdioUri(config.stdout_path);
  if (!out.ok()) return out.status();
  absl::StatusOr<StdioTarget> err = ParseStdioUri(config.stderr_path);
  if (!err.ok()) return err.status();

  if (absl::Status status = OpenStdin(*in); !status.ok()) return status;
  if (terminal_) {
    if (absl::Status status = OpenTerminalOutput(config, *out); !status.ok()) return status;
    absl::StatusOr<ConsoleSocket> console = ConsoleSocket::Listen(work_dir);
    if (!console.ok()) return console.status();
    console_ = std::move(*console);
  } else {
    if (absl::Status status = OpenOutputs(config, *out, *err); !status.ok()) return status;
    // As containerd's runc shim: its stdio pipes, never a logger's (binary://) or a console.
    if (!logger_ && (config.io_uid != 0 || config.io_gid != 0)) {
      for (const UniqueFd* end : {&child_in_, &child_out_, &child_err_}) {
        if (*end && fchown(end->get(), config.io_uid, config.io_gid) != 0) {
          return ErrnoStatus(absl::StrCat("chown the stdio pipes to ", config.io_uid, ":", config.io_gid));
        }
      }
    }
  }
  RunOnReactor([pump = pump_] { pump->Start(); });
  return absl::OkStatus();
}

absl::Status ProcessIoImpl::OpenStdin(const StdioTarget& target) {
  switch (target.kind) {
    case Kind::kNull:
      return absl::OkStatus();
    case Kind::kBinary:
      return absl::InvalidArgumentError("stdin cannot be a binary:// URI");
    case Kind::kFile: {
      if (terminal_) return absl::InvalidArgumentError("with a terminal, stdin must be a fifo");
      UniqueFd file(open(target.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
      if (!file) return ErrnoStatus(absl::StrCat("open stdin ", target.path));
      return FeedStdin(std::move(file), UniqueFd());
    }
    case Kind::kFifo:
      break;
  }
  absl::StatusOr<StdinFds> fds = OpenStdinPath(target.path);
  if (!fds.ok()) return fds.status();
  if (fds->plain) {
    if (terminal_) return absl::InvalidArgumentError("with a terminal, stdin must be a fifo");
    return FeedStdin(std::move(fds->plain), UniqueFd());
  }
  if (terminal_) {
    pump_->SetStdin(std::move(fds->fifo), std::move(fds->keepalive), UniqueFd());
    return absl::OkStatus();
  }
  // The process reads a pipe the shim feeds: it never sees EOF before CloseIO, whenever
  // containerd's writer comes and goes.
  return FeedStdin(std::move(fds->fifo), std::move(fds->keepalive));
}

absl::Status ProcessIoImpl::FeedStdin(UniqueFd source, UniqueFd keepalive) {
  // A regular file is fed through a pipe too (read to its end, then EOF): the process holds no
  // host file.
  absl::StatusOr<PipeFds> pipe = MakePipe(/*shim_end_reads=*/false);
  if (!pipe.ok()) return pipe.status();
  child_in_ = std::move(pipe->process_end);
  pump_->SetStdin(std::move(source), std::move(keepalive), std::move(pipe->shim_end));
  return absl::OkStatus();
}

absl::Status ProcessIoImpl::OpenOutputs(const StdioConfig& config, const StdioTarget& out, const StdioTarget& err) {
  if (out.kind == Kind::kBinary) {
    // containerd hands both streams to the logging program, whatever stderr says.
    absl::StatusOr<std::unique_ptr<Logger>> logger = Logger::Start(out, config.container_id, config.ns);
    if (!logger.ok()) return logger.status();
    logger_ = std::move(*logger);
    child_out_ = logger_->TakeStdout();
    child_err_ = logger_->TakeStderr();
    return absl::OkStatus();
  }
  if (err.kind == Kind::kBinary) return absl::InvalidArgumentError("a binary:// logger must be named by stdout");

  // One pipe per place: stdout and stderr that name the same one share it, like a shell's 2>&1,
  // so their order is kept.
  if (absl::Status status = OpenOutput(out, child_out_); !status.ok()) return status;
  if (err.kind == out.kind && err.path == out.path && child_out_) {
    child_err_.reset(fcntl(child_out_.get(), F_DUPFD_CLOEXEC, 3));
    if (!child_err_) return ErrnoStatus("dup stdout");
    return absl::OkStatus();
  }
  return OpenOutput(err, child_err_);
}

absl::Status ProcessIoImpl::OpenOutput(const StdioTarget& target, UniqueFd& child_end) {
  if (target.kind == Kind::kNull) return absl::OkStatus();
  OutputFds dest;
  if (target.kind == Kind::kFile) {
    absl::StatusOr<UniqueFd> file = OpenLogFile(target.path);
    if (!file.ok()) return file.status();
    dest.write = std::move(*file);
  } else {
    absl::StatusOr<OutputFds> fds = OpenOutputPath(target.path, /*nonblocking=*/true);
    if (!fds.ok()) return fds.status();
    dest = std::move(*fds);
  }
  absl::StatusOr<PipeFds> pipe = MakePipe(/*shim_end_reads=*/true);
  if (!pipe.ok()) return pipe.status();
  child_end = std::move(pipe->process_end);
  // A fifo takes the pipe's pages by splice(2); a file (appended to) is copied.
  const bool splice = IsFifo(dest.write.get());
  pump_->AddOutput(std::move(pipe->shim_end), std::move(dest.write), std::move(dest.held_reader), splice);
  return absl::OkStatus();
}

absl::Status ProcessIoImpl::OpenTerminalOutput(const StdioConfig& config, const StdioTarget& out) {
  // A pty has one output stream; stderr is not used (as in containerd).
  UniqueFd sink, sink_reader;
  bool may_sigpipe = false;
  switch (out.kind) {
    case Kind::kNull:
      break;  // read and discarded, so the process never blocks on a full pty
    case Kind::kFile: {
      absl::StatusOr<UniqueFd> file = OpenLogFile(out.path);
      if (!file.ok()) return file.status();
      sink = std::move(*file);
      break;
    }
    case Kind::kFifo: {
      absl::StatusOr<OutputFds> fds = OpenOutputPath(out.path, /*nonblocking=*/true);
      if (!fds.ok()) return fds.status();
      sink = std::move(fds->write);
      sink_reader = std::move(fds->held_reader);
      break;
    }
    case Kind::kBinary: {
      absl::StatusOr<std::unique_ptr<Logger>> logger = Logger::Start(out, config.container_id, config.ns);
      if (!logger.ok()) return logger.status();
      logger_ = std::move(*logger);
      sink = logger_->TakeStdout();
      logger_->TakeStderr().reset();  // unused with a terminal: the program reads EOF on fd 4
      if (absl::Status status = SetNonBlocking(sink.get()); !status.ok()) return status;
      may_sigpipe = true;
      break;
    }
  }
  pump_->SetOutput(std::move(sink), std::move(sink_reader), may_sigpipe);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ProcessIo>> ProcessIo::Create(Reactor& reactor, const StdioConfig& config,
                                                             const std::string& work_dir) {
  auto io = std::make_unique<ProcessIoImpl>(reactor, config);
  if (absl::Status status = io->Init(config, work_dir); !status.ok()) return status;
  return io;
}

}  // namespace airlock::io
