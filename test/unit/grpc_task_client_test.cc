// build/bin/grpc_task_client against the gRPC transport module serving a fake task service on a
// unix socket: the requests it encodes, the JSON lines it prints, its exit codes.
#include <catch2/catch.hpp>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "containerd/task/v2/shim.pb.h"
#include "google/protobuf/empty.pb.h"
#include "shim/base/unique_fd.h"
#include "shim/grpc/plugin_api.h"
#include "shim/rpc/registry.h"
#include "shim/transport/grpc_loader.h"

namespace {

namespace task = containerd::task::v2;
using airlock::rpc::CallContext;
using airlock::rpc::Unary;
using Json = nlohmann::json;

const std::string kModule = std::string(AIRLOCK_BINARY_DIR) + "/lib/airlock-grpc.so";
const std::string kClient = std::string(AIRLOCK_BINARY_DIR) + "/bin/grpc_task_client";

struct Output {
  int exit_code = -1;
  std::string stdout_text;
};

// Runs the client (stderr discarded) and returns its stdout and exit code.
Output RunClient(const std::string& args) {
  Output out;
  FILE* pipe = popen((kClient + " " + args + " 2>/dev/null").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.stdout_text.append(buf, n);
  int status = pclose(pipe);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

Json ParseLine(const Output& out) {
  REQUIRE_FALSE(out.stdout_text.empty());
  REQUIRE(out.stdout_text.back() == '\n');
  return Json::parse(out.stdout_text);
}

// A fake task service (both versions) behind the module, listening on a socket in a temp dir.
class FakeShim {
 public:
  FakeShim() {
    for (const char* service : {"containerd.task.v2.Task", "containerd.task.v3.Task"}) Register(service);
    auto create = airlock::transport::OpenGrpcModule(kModule);
    REQUIRE(create.ok());
    airlock::grpc_plugin::Options options;
    options.dispatch = [this](CallContext context, std::string payload, airlock::rpc::Reply reply) {
      registry_.Dispatch(std::move(context), std::move(payload), std::move(reply));
    };
    std::string error;
    transport_.reset((*create)(&options, &error));
    REQUIRE(transport_ != nullptr);

    char dir_template[] = "/tmp/airlock-grpc-client-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    path_ = dir_ + "/shim.sock";
    listener_ = airlock::UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    REQUIRE(bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(listen(listener_.get(), 8) == 0);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~FakeShim() {
    stop_ = true;
    acceptor_.join();
    transport_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  std::string Args(int version = 3) const {
    return absl::StrCat("--address unix://", path_, " --version ", version, " --namespace airlock-test");
  }

  template <typename Message>
  Message Last(const std::string& method) {
    std::lock_guard<std::mutex> lock(mu_);
    Message m;
    REQUIRE(m.ParseFromString(last_[method]));
    return m;
  }
  std::string LastService(const std::string& method) {
    std::lock_guard<std::mutex> lock(mu_);
    return service_[method];
  }
  std::string LastNamespace() {
    std::lock_guard<std::mutex> lock(mu_);
    return namespace_;
  }

 private:
  void AcceptLoop() {
    // Bounded by the test's lifetime: stop_ is set in the destructor.
    while (!stop_) {
      pollfd p{listener_.get(), POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) (void)transport_->Adopt(fd);
    }
  }

  // Records the request of `method`, then lets `fn` answer it.
  template <typename Req, typename Resp>
  void Add(const std::string& service, const std::string& method,
           std::function<absl::StatusOr<Resp>(const Req&)> fn) {
    registry_.Add(service, method,
                  Unary<Req, Resp>([this, method, fn](const CallContext& ctx, const Req& req) {
                    {
                      std::lock_guard<std::mutex> lock(mu_);
                      last_[method] = req.SerializeAsString();
                      service_[method] = ctx.service;
                      namespace_ = std::string(ctx.Metadata("containerd-namespace"));
                    }
                    return fn(req);
                  }));
  }

  void Register(const std::string& s) {
    using google::protobuf::Empty;
    Add<task::ConnectRequest, task::ConnectResponse>(s, "Connect", [](const task::ConnectRequest&) {
      task::ConnectResponse r;
      r.set_shim_pid(100);
      r.set_task_pid(101);
      r.set_version("fake");
      return absl::StatusOr<task::ConnectResponse>(r);
    });
    Add<task::CreateTaskRequest, task::CreateTaskResponse>(s, "Create", [](const task::CreateTaskRequest&) {
      task::CreateTaskResponse r;
      r.set_pid(4242);
      return absl::StatusOr<task::CreateTaskResponse>(r);
    });
    Add<task::StartRequest, task::StartResponse>(s, "Start", [](const task::StartRequest& req) {
      task::StartResponse r;
      r.set_pid(req.exec_id().empty() ? 4242 : 4343);
      return absl::StatusOr<task::StartResponse>(r);
    });
    Add<task::StateRequest, task::StateResponse>(s, "State", [](const task::StateRequest& req) {
      task::StateResponse r;
      r.set_id(req.id());
      r.set_pid(4242);
      r.set_status(containerd::v1::types::STOPPED);
      r.set_exit_status(3);
      r.mutable_exited_at()->set_seconds(1700000000);
      r.mutable_exited_at()->set_nanos(500000000);
      return absl::StatusOr<task::StateResponse>(r);
    });
    Add<task::ExecProcessRequest, Empty>(s, "Exec", [](const task::ExecProcessRequest&) { return Empty(); });
    Add<task::KillRequest, Empty>(s, "Kill", [](const task::KillRequest& req) -> absl::StatusOr<Empty> {
      if (req.id() != "box") return absl::NotFoundError(absl::StrCat("container ", req.id(), " not found"));
      return Empty();
    });
    Add<task::WaitRequest, task::WaitResponse>(s, "Wait", [](const task::WaitRequest&) {
      task::WaitResponse r;
      r.set_exit_status(7);
      r.mutable_exited_at()->set_seconds(1700000001);
      return absl::StatusOr<task::WaitResponse>(r);
    });
    Add<task::DeleteRequest, task::DeleteResponse>(s, "Delete", [](const task::DeleteRequest&) {
      task::DeleteResponse r;
      r.set_pid(4242);
      r.set_exit_status(7);
      return absl::StatusOr<task::DeleteResponse>(r);
    });
    Add<task::PidsRequest, task::PidsResponse>(s, "Pids", [](const task::PidsRequest&) {
      task::PidsResponse r;
      r.add_processes()->set_pid(4242);
      r.add_processes()->set_pid(4343);
      return absl::StatusOr<task::PidsResponse>(r);
    });
    Add<task::StatsRequest, task::StatsResponse>(s, "Stats", [](const task::StatsRequest&) {
      task::StatsResponse r;
      r.mutable_stats()->set_type_url("io.containerd.cgroups.v2.Metrics");
      r.mutable_stats()->set_value("abc");
      return absl::StatusOr<task::StatsResponse>(r);
    });
    Add<task::ShutdownRequest, Empty>(s, "Shutdown", [](const task::ShutdownRequest&) { return Empty(); });
    Add<task::UpdateTaskRequest, Empty>(s, "Update", [](const task::UpdateTaskRequest&) { return Empty(); });
  }

  airlock::rpc::Registry registry_{nullptr};  // handlers run inline on the module's thread
  std::unique_ptr<airlock::grpc_plugin::Transport> transport_;
  std::string dir_, path_;
  airlock::UniqueFd listener_;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::map<std::string, std::string> last_, service_;
  std::string namespace_;
};

}  // namespace

TEST_CASE("grpc_task_client drives a task lifecycle and prints JSON lines", "[grpc][client]") {
  FakeShim shim;
  const std::string a = shim.Args();

  Json connect = ParseLine(RunClient(a + " connect --id box"));
  CHECK(connect == Json{{"command", "connect"}, {"shim_pid", 100}, {"task_pid", 101}, {"version", "fake"}});
  CHECK(shim.LastService("Connect") == "containerd.task.v3.Task");
  CHECK(shim.LastNamespace() == "airlock-test");

  Output created = RunClient(a + " create --id box --bundle /run/b --stdout /tmp/o --stderr /tmp/e"
                                 " --rootfs overlay:overlay:lowerdir=/l,upperdir=/u --runtime-config-path /etc/p.yaml");
  CHECK(created.exit_code == 0);
  CHECK(ParseLine(created) == Json{{"command", "create"}, {"pid", 4242}});
  auto create = shim.Last<task::CreateTaskRequest>("Create");
  CHECK(create.id() == "box");
  CHECK(create.bundle() == "/run/b");
  CHECK(create.stdout() == "/tmp/o");
  CHECK(create.stderr() == "/tmp/e");
  CHECK(create.stdin().empty());
  CHECK_FALSE(create.terminal());
  REQUIRE(create.rootfs_size() == 1);
  CHECK(create.rootfs(0).type() == "overlay");
  CHECK(create.rootfs(0).source() == "overlay");
  CHECK(create.rootfs(0).options_size() == 2);
  CHECK(create.rootfs(0).options(1) == "upperdir=/u");
  CHECK(create.options().type_url() == "runtimeoptions.v1.Options");
  CHECK(create.options().value() == std::string("\x12\x0b") + "/etc/p.yaml");

  CHECK(ParseLine(RunClient(a + " start --id box")) == Json{{"command", "start"}, {"pid", 4242}});

  Json state = ParseLine(RunClient(a + " state --id box"));
  CHECK(state["status"] == "stopped");
  CHECK(state["exit_status"] == 3);
  CHECK(state["exited_at"] == "2023-11-14T22:13:20.5Z");

  Output exec = RunClient(a + R"( exec --id box --exec-id e1 --spec '{"args":["true"],"cwd":"/"}')");
  CHECK(exec.exit_code == 0);
  auto exec_req = shim.Last<task::ExecProcessRequest>("Exec");
  CHECK(exec_req.exec_id() == "e1");
  CHECK(exec_req.spec().type_url() == "types.containerd.io/opencontainers/runtime-spec/1/Process");
  CHECK(Json::parse(exec_req.spec().value()) == Json{{"args", {"true"}}, {"cwd", "/"}});
  CHECK(ParseLine(RunClient(a + " start --id box --exec-id e1"))["pid"] == 4343);

  CHECK(RunClient(a + " kill --id box --signal 9 --all").exit_code == 0);
  auto kill = shim.Last<task::KillRequest>("Kill");
  CHECK(kill.signal() == 9);
  CHECK(kill.all());

  Json waited = ParseLine(RunClient(a + " wait --id box"));
  CHECK(waited["exit_status"] == 7);
  CHECK(waited["exited_at"] == "2023-11-14T22:13:21Z");
  CHECK(ParseLine(RunClient(a + " pids --id box"))["processes"] == Json::array({{{"pid", 4242}}, {{"pid", 4343}}}));
  CHECK(ParseLine(RunClient(a + " stats --id box"))["stats"] ==
        Json{{"type_url", "io.containerd.cgroups.v2.Metrics"}, {"value_base64", "YWJj"}});
  CHECK(ParseLine(RunClient(a + " delete --id box"))["exit_status"] == 7);
  CHECK(RunClient(a + " update --id box --resources '{\"pids\":{\"limit\":10}}' --annotation a=b").exit_code == 0);
  CHECK(shim.Last<task::UpdateTaskRequest>("Update").annotations().at("a") == "b");
  CHECK(RunClient(a + " shutdown --id box --now").exit_code == 0);
  CHECK(shim.Last<task::ShutdownRequest>("Shutdown").now());
}

TEST_CASE("grpc_task_client speaks task v2 on request and reports errors", "[grpc][client]") {
  FakeShim shim;
  CHECK(RunClient(shim.Args(2) + " connect --id box").exit_code == 0);
  CHECK(shim.LastService("Connect") == "containerd.task.v2.Task");

  Output missing = RunClient(shim.Args() + " kill --id nobody");
  CHECK(missing.exit_code == 1);
  CHECK(ParseLine(missing) ==
        Json{{"command", "kill"},
             {"error", {{"code", 5}, {"name", "NOT_FOUND"}, {"message", "container nobody not found"}}}});

  Output unimplemented = RunClient(shim.Args() + " pause --id box");
  CHECK(unimplemented.exit_code == 1);
  CHECK(ParseLine(unimplemented)["error"]["name"] == "UNIMPLEMENTED");

  CHECK(RunClient(shim.Args() + " frobnicate").exit_code == 2);
  CHECK(RunClient("connect").exit_code == 2);
  CHECK(RunClient(shim.Args() + " exec --id box --spec '{not json'").exit_code == 2);
}

TEST_CASE("grpc_task_client fails cleanly when nothing listens", "[grpc][client]") {
  Output out = RunClient("--address unix:///nonexistent/airlock.sock --timeout 5 connect");
  CHECK(out.exit_code == 1);
  CHECK(ParseLine(out)["error"]["name"] == "UNAVAILABLE");
}
