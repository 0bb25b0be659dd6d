// The gRPC transport module (build/lib/airlock-grpc.so), driven by a grpc++ client over adopted
// sockets, with an rpc::Registry as its dispatch.
#include <catch2/catch.hpp>

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "containerd/task/v2/shim.pb.h"
#include "shim/base/unique_fd.h"
#include "shim/base/worker_pool.h"
#include "shim/grpc/plugin_api.h"
#include "shim/rpc/registry.h"
#include "shim/transport/grpc_loader.h"

namespace {

using airlock::UniqueFd;
using airlock::grpc_plugin::Transport;
using airlock::rpc::CallContext;
using airlock::rpc::Reply;

const std::string kModule = std::string(AIRLOCK_BINARY_DIR) + "/lib/airlock-grpc.so";
const char* const kServices[] = {"containerd.task.v2.Task", "containerd.task.v3.Task"};
// Generous bound against hangs, never a performance assertion.
constexpr auto kPatience = std::chrono::seconds(30);

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return bytes;
}

struct CallResult {
  grpc::Status status;
  std::string body;
};

// One unary call through a generic stub; blocks until it completes.
CallResult Call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method, const std::string& body,
                const std::function<void(grpc::ClientContext&)>& setup = nullptr, bool with_deadline = true) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  if (with_deadline) context.set_deadline(std::chrono::system_clock::now() + kPatience);
  if (setup) setup(context);
  grpc::ByteBuffer request = ToBuffer(body);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  CallResult result;
  result.status = done.get_future().get();
  if (result.status.ok()) result.body = FromBuffer(response);
  return result;
}

// Waits (bounded) until `predicate` holds.
bool Eventually(const std::function<bool()>& predicate) {
  auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return predicate();
}

// Reads `fd` until EOF, discarding data; false if EOF does not come in time.
bool ReadsToEof(int fd) {
  auto deadline = std::chrono::steady_clock::now() + kPatience;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return errno == ECONNRESET;
  }
  return false;
}

// Replies held back by the "Hang" handler until the test releases them.
class HeldReplies {
 public:
  void Add(Reply reply) {
    std::lock_guard<std::mutex> lock(mu_);
    replies_.push_back(std::move(reply));
    cv_.notify_all();
  }
  bool WaitFor(size_t count) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] { return replies_.size() >= count; });
  }
  std::vector<Reply> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(replies_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Reply> replies_;
};

// A transport from the built module with a registry that knows a few test methods under both
// task service names.
class TestServer {
 public:
  explicit TestServer(size_t max_message_bytes = 0) {
    for (const char* service : kServices) Register(service);
    auto create = airlock::transport::OpenGrpcModule(kModule);
    REQUIRE(create.ok());
    airlock::grpc_plugin::Options options;
    options.dispatch = [this](CallContext context, std::string payload, Reply reply) {
      registry_.Dispatch(std::move(context), std::move(payload), std::move(reply));
    };
    options.max_message_bytes = max_message_bytes;
    options.log = [this](airlock::grpc_plugin::LogLevel, const std::string& line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.push_back(line);
    };
    std::string error;
    transport_.reset((*create)(&options, &error));
    REQUIRE(transport_ != nullptr);
  }

  ~TestServer() {
    transport_->Shutdown();
    transport_.reset();
    std::lock_guard<std::mutex> lock(threads_mu_);
    for (std::thread& t : threads_) t.join();
  }

  Transport& transport() { return *transport_; }
  HeldReplies& held() { return held_; }
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> lock(log_mu_);
    return log_;
  }

  // A client channel over one end of a socketpair whose other end the transport adopted.
  // `peer` (optional) receives a duplicate of the client's end.
  std::shared_ptr<grpc::Channel> Connect(UniqueFd* peer = nullptr) {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    REQUIRE(transport_->Adopt(sv[0]).ok());
    if (peer != nullptr) *peer = UniqueFd(dup(sv[1]));
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);  // the server's limits are under test, not the client's
    args.SetMaxSendMessageSize(-1);
    return grpc::CreateCustomInsecureChannelFromFd("airlock-test", sv[1], args);
  }

 private:
  void Register(const std::string& service) {
    using airlock::rpc::Unary;
    namespace task = containerd::task::v2;
    registry_.Add(service, "Connect",
                  Unary<task::ConnectRequest, task::ConnectResponse>(
                      [](const CallContext& ctx, const task::ConnectRequest& request) {
                        task::ConnectResponse response;
                        response.set_shim_pid(static_cast<uint32_t>(getpid()));
                        response.set_version(absl::StrCat(ctx.service, "/", ctx.method, "/", request.id()));
                        return absl::StatusOr<task::ConnectResponse>(response);
                      }));
    registry_.Add(service, "Echo", [](const CallContext&, std::string payload, Reply reply) { reply(payload); });
    registry_.Add(service, "Metadata", [](const CallContext& ctx, std::string payload, Reply reply) {
      reply(std::string(ctx.Metadata(payload)));
    });
    registry_.Add(service, "Deadline", [](const CallContext& ctx, std::string, Reply reply) {
      if (ctx.deadline == absl::InfiniteFuture()) {
        reply(std::string("none"));
      } else {
        reply(absl::StrCat(absl::ToInt64Seconds(ctx.deadline - absl::Now())));
      }
    });
    registry_.Add(service, "Deferred", [this](const CallContext&, std::string payload, Reply reply) {
      std::lock_guard<std::mutex> lock(threads_mu_);
      threads_.emplace_back([payload = std::move(payload), reply = std::move(reply)] {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        reply(payload + "-later");
      });
    });
    registry_.Add(service, "Fail", [](const CallContext&, std::string payload, Reply reply) {
      reply(absl::Status(static_cast<absl::StatusCode>(std::stoi(payload)), "failed with " + payload));
    });
    registry_.Add(service, "Size", [](const CallContext&, std::string payload, Reply reply) {
      reply(std::string(std::stoul(payload), 'x'));
    });
    registry_.Add(service, "Hang", [this](const CallContext&, std::string, Reply reply) { held_.Add(std::move(reply)); });
  }

  airlock::WorkerPool pool_{8};
  airlock::rpc::Registry registry_{&pool_};
  HeldReplies held_;
  std::mutex threads_mu_;
  std::vector<std::thread> threads_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
  std::unique_ptr<Transport> transport_;  // last: goes first, while the rest is still alive
};

}  // namespace

TEST_CASE("gRPC serves the v2 and v3 task services with our lite messages", "[grpc][transport]") {
  TestServer server;
  auto channel = server.Connect();
  for (const char* service : kServices) {
    containerd::task::v2::ConnectRequest request;
    request.set_id("box-1");
    CallResult result = Call(channel, absl::StrCat("/", service, "/Connect"), request.SerializeAsString());
    REQUIRE(result.status.ok());
    containerd::task::v2::ConnectResponse response;
    REQUIRE(response.ParseFromString(result.body));
    CHECK(response.shim_pid() == static_cast<uint32_t>(getpid()));
    CHECK(response.version() == absl::StrCat(service, "/Connect/box-1"));
  }
  CHECK(Eventually([&] { return server.transport().ActiveCalls() == 0; }));
  std::vector<std::string> log = server.log();
  CHECK(std::any_of(log.begin(), log.end(),
                    [](const std::string& line) { return line.find("serving connection fd") != std::string::npos; }));
}

TEST_CASE("gRPC answers UNIMPLEMENTED for unknown services, methods and malformed names", "[grpc][transport]") {
  TestServer server;
  auto channel = server.Connect();
  CallResult method = Call(channel, "/containerd.task.v3.Task/Nope", "");
  CHECK(method.status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(method.status.error_message() == "method Nope");
  CallResult service = Call(channel, "/containerd.runtime.sandbox.v1.Sandbox/CreateSandbox", "");
  CHECK(service.status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK(service.status.error_message() == "service containerd.runtime.sandbox.v1.Sandbox");
  CallResult malformed = Call(channel, "/a/b/c", "");
  CHECK(malformed.status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  // A request that is not the declared message is InvalidArgument (from the registry).
  CallResult garbage = Call(channel, "/containerd.task.v3.Task/Connect", "\xff\xff\xff");
  CHECK(garbage.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("gRPC status codes equal absl status codes", "[grpc][transport]") {
  TestServer server;
  auto channel = server.Connect();
  for (int code = 1; code <= 16; ++code) {
    CallResult result = Call(channel, "/containerd.task.v3.Task/Fail", std::to_string(code));
    CHECK(static_cast<int>(result.status.error_code()) == code);
    CHECK(result.status.error_message() == "failed with " + std::to_string(code));
  }
}

TEST_CASE("gRPC passes client metadata and the deadline to the dispatch", "[grpc][transport]") {
  TestServer server;
  auto channel = server.Connect();
  auto with_namespace = [](grpc::ClientContext& context) { context.AddMetadata("containerd-namespace", "airlock"); };
  CHECK(Call(channel, "/containerd.task.v3.Task/Metadata", "containerd-namespace", with_namespace).body == "airlock");
  CHECK(Call(channel, "/containerd.task.v3.Task/Metadata", "absent", with_namespace).body.empty());

  CallResult bounded = Call(channel, "/containerd.task.v3.Task/Deadline", "");
  REQUIRE(bounded.status.ok());
  long remaining = std::stol(bounded.body);
  CHECK(remaining >= 0);
  CHECK(remaining <= 31);
  CallResult unbounded = Call(channel, "/containerd.task.v3.Task/Deadline", "", nullptr, /*with_deadline=*/false);
  CHECK(unbounded.body == "none");
}

TEST_CASE("gRPC replies may come later from another thread", "[grpc][transport]") {
  TestServer server;
  auto channel = server.Connect();
  CallResult result = Call(channel, "/containerd.task.v2.Task/Deferred", "wait");
  REQUIRE(result.status.ok());
  CHECK(result.body == "wait-later");
}

TEST_CASE("gRPC serves 100 concurrent calls on one connection and frees them all", "[grpc][transport]") {
  TestServer server;
  auto channel = server.Connect();
  grpc::GenericStub stub(channel);
  struct Pending {
    grpc::ClientContext context;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
    grpc::Status status;
    std::string expected;
  };
  constexpr int kCalls = 100;
  std::vector<std::unique_ptr<Pending>> calls;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto call = std::make_unique<Pending>();
    call->context.set_deadline(std::chrono::system_clock::now() + kPatience);
    std::string body = absl::StrCat("call-", i);
    bool deferred = i % 2 == 1;
    call->expected = deferred ? body + "-later" : body;
    call->request = ToBuffer(body);
    Pending* p = call.get();
    stub.UnaryCall(&p->context, deferred ? "/containerd.task.v3.Task/Deferred" : "/containerd.task.v2.Task/Echo",
                   grpc::StubOptions(), &p->request, &p->response, [&, p](grpc::Status status) {
                     std::lock_guard<std::mutex> lock(mu);
                     p->status = std::move(status);
                     ++done;
                     cv.notify_all();
                   });
    calls.push_back(std::move(call));
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, kPatience, [&] { return done == kCalls; }));
  }
  for (const auto& call : calls) {
    REQUIRE(call->status.ok());
    CHECK(FromBuffer(call->response) == call->expected);
  }
  CHECK(Eventually([&] { return server.transport().ActiveCalls() == 0; }));
}

TEST_CASE("gRPC carries messages up to the limit and refuses larger ones", "[grpc][transport]") {
  SECTION("default limit: 16 MiB like containerd") {
    TestServer server;
    auto channel = server.Connect();
    std::string big(12u << 20, 'a');
    for (size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>('a' + i % 26);
    CallResult result = Call(channel, "/containerd.task.v3.Task/Echo", big);
    REQUIRE(result.status.ok());
    CHECK(result.body == big);
    CHECK(Call(channel, "/containerd.task.v3.Task/Echo", std::string(17u << 20, 'b')).status.error_code() ==
          grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  SECTION("a configured limit applies to requests and responses") {
    TestServer server(1u << 20);
    auto channel = server.Connect();
    CHECK(Call(channel, "/containerd.task.v3.Task/Echo", std::string((1u << 20) - 64, 'c')).status.ok());
    CHECK(Call(channel, "/containerd.task.v3.Task/Echo", std::string((1u << 20) + 1, 'c')).status.error_code() ==
          grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(Call(channel, "/containerd.task.v3.Task/Size", std::to_string(2u << 20)).status.error_code() ==
          grpc::StatusCode::RESOURCE_EXHAUSTED);
    // The connection survives refused messages.
    CHECK(Call(channel, "/containerd.task.v3.Task/Echo", "still-here").body == "still-here");
    CHECK(Eventually([&] { return server.transport().ActiveCalls() == 0; }));
  }
}

TEST_CASE("gRPC survives a client that goes away mid-call", "[grpc][transport]") {
  TestServer server;
  UniqueFd client_end;
  auto channel = server.Connect(&client_end);
  std::future<CallResult> pending =
      std::async(std::launch::async, [&] { return Call(channel, "/containerd.task.v3.Task/Hang", ""); });
  REQUIRE(server.held().WaitFor(1));
  CHECK(server.transport().ActiveCalls() == 1);

  // The client stops writing: the server sees EOF, drops the connection and closes its end.
  REQUIRE(shutdown(client_end.get(), SHUT_WR) == 0);
  CHECK(ReadsToEof(client_end.get()));
  REQUIRE(pending.wait_for(kPatience) == std::future_status::ready);
  CHECK_FALSE(pending.get().status.ok());

  // The handler finishes later: its reply goes nowhere and the call is freed.
  for (Reply& reply : server.held().Take()) reply(std::string("too late"));
  CHECK(Eventually([&] { return server.transport().ActiveCalls() == 0; }));

  // Other connections are unaffected.
  CHECK(Call(server.Connect(), "/containerd.task.v3.Task/Echo", "next").body == "next");
}

TEST_CASE("gRPC closes a connection that does not speak HTTP/2", "[grpc][transport]") {
  TestServer server;
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd peer(sv[1]);
  REQUIRE(server.transport().Adopt(sv[0]).ok());
  const char garbage[] = "this is not an HTTP/2 connection preface at all\r\n\r\n";
  REQUIRE(write(peer.get(), garbage, sizeof(garbage)) == static_cast<ssize_t>(sizeof(garbage)));
  CHECK(ReadsToEof(peer.get()));
}

TEST_CASE("gRPC Adopt refuses what is not a socket", "[grpc][transport]") {
  TestServer server;
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  UniqueFd write_end(pipe_fds[1]);
  CHECK(server.transport().Adopt(pipe_fds[0]).code() == absl::StatusCode::kInvalidArgument);
  CHECK(server.transport().Adopt(-1).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("gRPC shutdown finishes waiting calls and refuses new connections", "[grpc][transport]") {
  std::vector<Reply> late;
  {
    TestServer server;
    auto channel = server.Connect();
    std::future<CallResult> pending =
        std::async(std::launch::async, [&] { return Call(channel, "/containerd.task.v3.Task/Hang", ""); });
    REQUIRE(server.held().WaitFor(1));

    server.transport().Shutdown();
    REQUIRE(pending.wait_for(kPatience) == std::future_status::ready);
    CallResult result = pending.get();
    CHECK(result.status.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK(server.transport().ActiveCalls() == 0);
    server.transport().Shutdown();  // idempotent

    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    UniqueFd peer(sv[1]);
    CHECK(server.transport().Adopt(sv[0]).code() == absl::StatusCode::kFailedPrecondition);
    CHECK(ReadsToEof(peer.get()));  // the refused fd was closed
    late = server.held().Take();
  }
  // A reply after the transport is gone is dropped without harm.
  for (Reply& reply : late) reply(std::string("after the end"));
}

TEST_CASE("gRPC on a listening socket: peek the preface, then adopt", "[grpc][transport]") {
  TestServer server;
  char dir_template[] = "/tmp/airlock-grpc-test-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  std::string dir = dir_template;
  std::string path = dir + "/shim.sock";
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(listener.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  REQUIRE(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(listen(listener.get(), 8) == 0);

  // What the ttrpc accept path does: peek (the bytes stay queued), decide, hand over.
  constexpr int kConnections = 2;
  std::vector<airlock::transport::PrefaceMatch> seen;
  std::thread acceptor([&] {
    for (int i = 0; i < kConnections; ++i) {
      pollfd p{listener.get(), POLLIN, 0};
      if (poll(&p, 1, 30000) <= 0) return;
      int fd = accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      char buf[32];
      airlock::transport::PrefaceMatch match = airlock::transport::PrefaceMatch::kPartial;
      for (int tries = 0; tries < 3000 && match == airlock::transport::PrefaceMatch::kPartial; ++tries) {
        pollfd q{fd, POLLIN, 0};
        if (poll(&q, 1, 10) <= 0) continue;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK);
        if (n <= 0) break;
        match = airlock::transport::MatchHttp2Preface(absl::string_view(buf, static_cast<size_t>(n)));
      }
      seen.push_back(match);
      if (match != airlock::transport::PrefaceMatch::kYes || !server.transport().Adopt(fd).ok()) {
        close(fd);
        return;
      }
    }
  });

  auto first = grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials());
  auto second = grpc::CreateChannel("unix://" + path, grpc::InsecureChannelCredentials());
  containerd::task::v2::ConnectRequest request;
  request.set_id("sock");
  CallResult a = Call(first, "/containerd.task.v3.Task/Connect", request.SerializeAsString());
  CallResult b = Call(second, "/containerd.task.v3.Task/Connect", request.SerializeAsString());
  acceptor.join();
  CHECK(a.status.ok());
  CHECK(b.status.ok());
  CHECK(seen == std::vector<airlock::transport::PrefaceMatch>(kConnections, airlock::transport::PrefaceMatch::kYes));
  std::filesystem::remove_all(dir);
}
