#include "shim/bootstrap/server.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "shim/base/log.h"
#include "shim/base/reactor.h"
#include "shim/base/worker_pool.h"
#include "shim/bootstrap/address.h"
#include "shim/cgroups/container_cgroups.h"
#include "containerd/events/task.pb.h"
#include "shim/events/publisher.h"
#include "shim/reaper/reaper.h"
#include "shim/rpc/registry.h"
#include "shim/task/service.h"
#include "shim/transport/grpc_loader.h"
#include "shim/ttrpc/server.h"

namespace airlock::bootstrap {
namespace {

// Logs go to the bundle's `log` fifo, which containerd copies into its own log.
void SetUpStdio(const Flags& flags) {
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(null, STDIN_FILENO);
  dup2(null, STDOUT_FILENO);
  int log_fd = open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (log_fd >= 0) {
    int flags_now = fcntl(log_fd, F_GETFL);
    fcntl(log_fd, F_SETFL, flags_now & ~O_NONBLOCK);
    dup2(log_fd, STDERR_FILENO);
    close(log_fd);
  } else {
    dup2(null, STDERR_FILENO);
  }
  if (null > STDERR_FILENO) close(null);
  log::SetOutput(STDERR_FILENO);
  log::SetLevel(flags.debug ? log::Level::kDebug : log::Level::kInfo);
  log::SetFields(absl::StrCat("namespace=", flags.ns, " runtime=io.containerd.airlock.v2"));
}

[[noreturn]] void Die(absl::string_view what, const absl::Status& status) {
  log::Error(what, ": ", status.message());
  _exit(1);
}

}  // namespace

void ServerMain(const Flags& flags, const Extensions& extensions, const std::string& address, UniqueFd listener,
                UniqueFd ready, bool load_grpc) {
  setsid();
  // One malloc arena for all threads: the shim's threads allocate little and rarely at the same
  // time, and every extra arena keeps its own dirty pages for the life of the sandbox.
  mallopt(M_ARENA_MAX, 1);
  SetUpStdio(flags);
  // A hostile client's malformed strings must not flood containerd's log through protobuf's logger.
  google::protobuf::SetLogHandler(nullptr);
  // Before any thread exists: every thread inherits the mask and signalfd sees each SIGCHLD.
  if (absl::Status s = Reaper::BlockSigchld(); !s.ok()) Die("block SIGCHLD", s);
  // The same for the signals the shim answers (below): blocked in every thread from the start, so
  // none of them ever takes its default action (end the shim without its cleanup) on some thread.
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) sigaddset(&handled, sig);
  if (pthread_sigmask(SIG_BLOCK, &handled, nullptr) != 0) Die("block SIGTERM", absl::InternalError("pthread_sigmask"));
  signal(SIGPIPE, SIG_IGN);
  if (absl::Status s = Reaper::BecomeSubreaper(); !s.ok()) Die("subreaper", s);
  if (chdir("/") != 0) log::Warn("chdir /: ", strerror(errno));

  absl::StatusOr<std::unique_ptr<Reactor>> reactor_or = Reactor::Create();
  if (!reactor_or.ok()) Die("reactor", reactor_or.status());
  Reactor& reactor = **reactor_or;
  if (absl::Status s = Reaper::Get().Start(reactor); !s.ok()) Die("reaper", s);

  auto* pool = new WorkerPool(16);  // lives until _exit: workers may still finish late replies
  auto* registry = new rpc::Registry(pool);
  const char* ttrpc_address = std::getenv("TTRPC_ADDRESS");
  auto* publisher = new events::Publisher(ttrpc_address ? ttrpc_address : "", flags.ns);

  auto* container_cgroups = new cgroups::ContainerCgroups(reactor, [publisher](const std::string& id) {
    containerd::events::TaskOOM event;
    event.set_container_id(id);
    publisher->Publish("/tasks/oom", event);
  });

  task::ServiceHooks hooks;
  hooks.publish = [publisher](absl::string_view topic, const google::protobuf::MessageLite& event) {
    publisher->Publish(topic, event);
  };
  hooks.track_cgroups = [container_cgroups](const std::string& id, pid_t pid) { container_cgroups->Add(id, pid); };
  hooks.stats = [container_cgroups](const std::string& id) { return container_cgroups->Stats(id); };
  hooks.poll_oom = [container_cgroups](const std::string& id) { container_cgroups->PollOom(id); };
  hooks.untrack_cgroups = [container_cgroups](const std::string& id) { container_cgroups->Remove(id); };
  hooks.shutdown = [&reactor] {
    // Posted after the Shutdown reply's flush (the reactor runs posted tasks in order), so the reply
    // is written before the server closes its connections; gRPC finishes answered calls in Shutdown.
    reactor.Post([&reactor] { reactor.Stop(); });
  };
  // What the runtime's main adds (the airlock: a sandbox per container, its control service).
  if (extensions.sandboxes) {
    hooks.sandbox = extensions.sandboxes(ServerParts{
        .reactor = reactor,
        .pool = *pool,
        .registry = *registry,
        .ns = flags.ns,
        .cgroup_of = [container_cgroups](const std::string& id) { return container_cgroups->Location(id); }});
  }

  task::ServiceConfig config{.ns = flags.ns, .runc = RuncDefaults(extensions, flags.ns)};
  auto* service = new task::TaskService(reactor, *pool, config, std::move(hooks));
  service->Register(*registry);

  auto* server = new ttrpc::Server(reactor, *registry);
  // gRPC (containerd 2.x) shares the socket: its connections open with the HTTP/2 preface and go to
  // the gRPC transport, loaded on first use so a ttrpc-only shim never maps grpc++.
  static grpc_plugin::Transport* grpc_transport = nullptr;  // loaded on the first gRPC connection
  server->SetForeignProtocol(
      [](absl::string_view first) { return transport::MatchHttp2Preface(first) != transport::PrefaceMatch::kNo; }, transport::kHttp2Preface.size(),
      [registry](UniqueFd connection) {
        grpc_plugin::Options options;
        options.dispatch = [registry](rpc::CallContext ctx, std::string payload, rpc::Reply reply) {
          registry->Dispatch(std::move(ctx), std::move(payload), std::move(reply));
        };
        options.log = [](grpc_plugin::LogLevel level, const std::string& message) {
          log::Write(static_cast<log::Level>(static_cast<int>(level)), absl::StrCat("grpc: ", message));
        };
        absl::StatusOr<grpc_plugin::Transport*> transport = transport::LoadGrpcTransport(options);
        if (!transport.ok()) {
          log::Error("gRPC connection refused: ", transport.status().message());
          return;
        }
        grpc_transport = *transport;
        if (absl::Status s = grpc_transport->Adopt(connection.release()); !s.ok()) log::Error("gRPC: ", s.message());
      });
  if (absl::Status s = server->Serve(std::move(listener)); !s.ok()) Die("serve", s);

  // As containerd's runc shim: SIGTERM/SIGINT stop serving and clean up the socket, with the
  // containers left running (containerd's `<shim> delete` ends them, now or after its restart);
  // SIGUSR1 (runc-v2 dumps its stacks then) only says the shim is alive.
  UniqueFd signal_fd(signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd) Die("signalfd", absl::InternalError(strerror(errno)));
  (void)reactor.Add(signal_fd.get(), EPOLLIN, [&reactor, &signal_fd, address](uint32_t) {
    signalfd_siginfo info;
    while (read(signal_fd.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      if (info.ssi_signo == SIGUSR1) {
        log::Info("SIGUSR1: serving ", address);
        continue;
      }
      log::Info("terminated by signal ", info.ssi_signo);
      reactor.Stop();
    }
  });

  std::string ready_message(1, kReady);
  if (load_grpc) {
    if (absl::StatusOr<grpc_plugin::CreateFn> module = transport::LoadGrpcModule(); !module.ok()) {
      log::Warn("gRPC not available, serving ttrpc only: ", module.status().message());
      ready_message = std::string(1, kReadyWithoutGrpc) + std::string(module.status().message()).substr(0, 3000);
    }
  }
  if (write(ready.get(), ready_message.data(), ready_message.size()) != static_cast<ssize_t>(ready_message.size())) {
    _exit(1);
  }
  ready.reset();
  log::Info("serving ", address);

  reactor.Run();

  server->Shutdown();
  if (grpc_transport != nullptr) grpc_transport->Shutdown();
  std::string path = SocketPath(address);
  if (!path.empty() && path[0] == '/') unlink(path.c_str());
  publisher->Flush(absl::Seconds(2));
  log::Info("shim exits");
  _exit(0);
}

}  // namespace airlock::bootstrap
