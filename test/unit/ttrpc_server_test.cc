#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "google/protobuf/stubs/logging.h"
#include "absl/strings/str_cat.h"
#include "shim/base/log.h"
#include "test/unit/ttrpc_test_util.h"

namespace airlock::ttrpc {
namespace {

using testing::DecodeResponse;
using testing::Dial;
using testing::Eventually;
using testing::FramePeer;
using testing::RequestFrame;
using testing::SendAll;
using testing::ServedRegistry;
using testing::TempDir;
using testing::WaitClosed;

// test.Service: Echo answers at once; Later parks the reply for the test to complete from another
// thread; Meta reports what the call context carried; Fail always fails.
struct TestService {
  std::mutex mu;
  std::vector<std::pair<std::string, rpc::Reply>> parked;
  rpc::Registry registry{nullptr};

  TestService() {
    registry.Add("test.Service", "Echo",
                 [](const rpc::CallContext&, std::string payload, rpc::Reply reply) { reply(std::move(payload)); });
    registry.Add("test.Service", "Later", [this](const rpc::CallContext&, std::string payload, rpc::Reply reply) {
      std::lock_guard lock(mu);
      parked.emplace_back(std::move(payload), std::move(reply));
    });
    registry.Add("test.Service", "Meta", [](const rpc::CallContext& ctx, std::string, rpc::Reply reply) {
      reply(absl::StrCat(ctx.service, "/", ctx.method, " k=", ctx.Metadata("k"),
                         " deadline=", ctx.deadline == absl::InfiniteFuture() ? "none" : "set"));
    });
    registry.Add("test.Service", "Fail", [](const rpc::CallContext&, std::string, rpc::Reply reply) {
      reply(absl::FailedPreconditionError("not now"));
    });
  }

  size_t parked_count() {
    std::lock_guard lock(mu);
    return parked.size();
  }
  std::vector<std::pair<std::string, rpc::Reply>> TakeParked() {
    std::lock_guard lock(mu);
    return std::move(parked);
  }
};

// One call on a fresh raw connection: the decoded result, or DataLoss when no answer came.
absl::StatusOr<std::string> RawCall(const std::string& path, uint32_t stream_id, const std::string& method,
                                    const std::string& payload) {
  UniqueFd fd = Dial(path);
  if (!fd) return absl::UnavailableError("dial");
  if (!SendAll(fd.get(), RequestFrame(stream_id, "test.Service", method, payload))) return absl::UnavailableError("send");
  FramePeer peer(fd.get());
  std::optional<Frame> frame = peer.Read();
  if (!frame) return absl::DataLossError("no answer");
  if (frame->header.stream_id != stream_id || frame->header.type != kTypeResponse) return absl::DataLossError("bad frame");
  return DecodeResponse(frame->body);
}

TEST_CASE("ttrpc server answers a call", "[ttrpc][server]") {
  TempDir dir;
  TestService service;
  ServedRegistry served(service.registry, dir.File("s.sock"));
  REQUIRE(served.Start());

  auto result = RawCall(served.path(), 1, "Echo", "hello");
  REQUIRE(result.ok());
  CHECK(*result == "hello");

  SECTION("several calls on one connection, metadata and deadline reach the handler") {
    UniqueFd fd = Dial(served.path());
    ::ttrpc::Request request;
    request.set_service("test.Service");
    request.set_method("Meta");
    request.set_timeout_nano(5'000'000'000);
    auto* kv = request.add_metadata();
    kv->set_key("k");
    kv->set_value("v");
    std::string bytes;
    AppendFrame(bytes, 3, kTypeRequest, request.SerializeAsString());
    AppendFrame(bytes, 5, kTypeRequest, testing::RequestBody("test.Service", "Fail", ""));
    REQUIRE(SendAll(fd.get(), bytes));
    FramePeer peer(fd.get());
    auto first = peer.Read();
    REQUIRE(first);
    CHECK(first->header.stream_id == 3);
    CHECK(first->header.type == kTypeResponse);
    auto meta = DecodeResponse(first->body);
    REQUIRE(meta.ok());
    CHECK(*meta == "test.Service/Meta k=v deadline=set");
    auto second = peer.Read();
    REQUIRE(second);
    CHECK(second->header.stream_id == 5);
    auto fail = DecodeResponse(second->body);
    CHECK(fail.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(fail.status().message() == "not now");
  }
}

TEST_CASE("ttrpc server keeps many calls in flight and answers them out of order", "[ttrpc][server]") {
  TempDir dir;
  TestService service;
  ServedRegistry served(service.registry, dir.File("s.sock"));
  REQUIRE(served.Start());

  constexpr int kCalls = 64;
  UniqueFd fd = Dial(served.path());
  std::string bytes;
  for (int i = 0; i < kCalls; ++i) {
    AppendFrame(bytes, static_cast<uint32_t>(2 * i + 1), kTypeRequest,
                testing::RequestBody("test.Service", "Later", absl::StrCat("p", i)));
  }
  REQUIRE(SendAll(fd.get(), bytes));
  REQUIRE(Eventually([&] { return service.parked_count() == kCalls; }));

  // An immediate call overtakes all the parked ones.
  REQUIRE(SendAll(fd.get(), RequestFrame(1001, "test.Service", "Echo", "quick")));
  FramePeer peer(fd.get());
  auto quick = peer.Read();
  REQUIRE(quick);
  CHECK(quick->header.stream_id == 1001);

  auto parked = service.TakeParked();
  std::mt19937 rng(1);
  std::shuffle(parked.begin(), parked.end(), rng);
  // Complete from several threads at once.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&parked, t] {
      for (size_t i = static_cast<size_t>(t); i < parked.size(); i += 4) {
        parked[i].second(absl::StrCat("done-", parked[i].first));
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::set<uint32_t> seen;
  for (int i = 0; i < kCalls; ++i) {
    auto frame = peer.Read();
    REQUIRE(frame);
    uint32_t id = frame->header.stream_id;
    REQUIRE(id % 2 == 1);
    REQUIRE(id < 2 * kCalls);
    auto result = DecodeResponse(frame->body);
    REQUIRE(result.ok());
    CHECK(*result == absl::StrCat("done-p", (id - 1) / 2));
    seen.insert(id);
  }
  CHECK(seen.size() == kCalls);
}

TEST_CASE("ttrpc server reports unknown services and methods as ttrpc does", "[ttrpc][server]") {
  TempDir dir;
  TestService service;
  ServedRegistry served(service.registry, dir.File("s.sock"));
  REQUIRE(served.Start());

  UniqueFd fd = Dial(served.path());
  REQUIRE(SendAll(fd.get(), RequestFrame(1, "no.Such", "Thing", "") + RequestFrame(3, "test.Service", "Nope", "")));
  FramePeer peer(fd.get());
  auto a = peer.Read();
  REQUIRE(a);
  auto service_error = DecodeResponse(a->body);
  CHECK(service_error.status().code() == absl::StatusCode::kUnimplemented);
  CHECK(service_error.status().message() == "service no.Such");
  auto b = peer.Read();
  REQUIRE(b);
  auto method_error = DecodeResponse(b->body);
  CHECK(method_error.status().code() == absl::StatusCode::kUnimplemented);
  CHECK(method_error.status().message() == "method Nope");
  // The connection lives on.
  REQUIRE(SendAll(fd.get(), RequestFrame(5, "test.Service", "Echo", "still")));
  auto c = peer.Read();
  REQUIRE(c);
  CHECK(*DecodeResponse(c->body) == "still");
}

TEST_CASE("ttrpc server answers protocol errors on the offending stream", "[ttrpc][server]") {
  TempDir dir;
  TestService service;
  ServedRegistry served(service.registry, dir.File("s.sock"));
  REQUIRE(served.Start());
  UniqueFd fd = Dial(served.path());
  FramePeer peer(fd.get());

  SECTION("a body that is not a Request") {
    std::string bytes;
    AppendFrame(bytes, 7, kTypeRequest, std::string("\xff\xff\xff\xff", 4));
    REQUIRE(SendAll(fd.get(), bytes));
    auto frame = peer.Read();
    REQUIRE(frame);
    CHECK(frame->header.stream_id == 7);
    auto result = DecodeResponse(frame->body);
    CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(result.status().message(), "unmarshal request error: "));
  }
  SECTION("an even stream id") {
    REQUIRE(SendAll(fd.get(), RequestFrame(2, "test.Service", "Echo", "x")));
    auto frame = peer.Read();
    REQUIRE(frame);
    CHECK(frame->header.stream_id == 2);
    auto result = DecodeResponse(frame->body);
    CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(result.status().message() == "StreamID must be odd for client initiated streams");
  }
  // Either way the connection keeps serving.
  REQUIRE(SendAll(fd.get(), RequestFrame(9, "test.Service", "Echo", "after")));
  auto frame = peer.Read();
  REQUIRE(frame);
  CHECK(frame->header.stream_id == 9);
  CHECK(*DecodeResponse(frame->body) == "after");
}

TEST_CASE("ttrpc server closes connections that break framing, and only those", "[ttrpc][server]") {
  TempDir dir;
  TestService service;
  ServedRegistry served(service.registry, dir.File("s.sock"));
  REQUIRE(served.Start());
  UniqueFd bystander = Dial(served.path());
  REQUIRE(SendAll(bystander.get(), RequestFrame(1, "test.Service", "Echo", "before")));
  FramePeer bystander_peer(bystander.get());
  REQUIRE(bystander_peer.Read());

  SECTION("a frame that is not a request") {
    UniqueFd fd = Dial(served.path());
    std::string bytes;
    AppendFrame(bytes, 1, kTypeResponse, testing::RequestBody("test.Service", "Echo", "x"));
    REQUIRE(SendAll(fd.get(), bytes));
    CHECK(WaitClosed(fd.get()));
  }
  SECTION("an unknown frame type") {
    UniqueFd fd = Dial(served.path());
    std::string bytes;
    AppendFrame(bytes, 1, 3, "");
    REQUIRE(SendAll(fd.get(), bytes));
    CHECK(WaitClosed(fd.get()));
  }
  SECTION("an oversized frame is answered, then the connection closed") {
    UniqueFd fd = Dial(served.path());
    char header[kHeaderSize];
    EncodeHeader(FrameHeader{kMaxMessageSize + 1, 11, kTypeRequest, 0}, header);
    REQUIRE(SendAll(fd.get(), std::string(header, kHeaderSize) + std::string(1000, 'x')));
    FramePeer peer(fd.get());
    auto frame = peer.Read();
    REQUIRE(frame);
    CHECK(frame->header.stream_id == 11);
    auto result = DecodeResponse(frame->body);
    CHECK(result.status().code() == absl::StatusCode::kResourceExhausted);
    CHECK(result.status().message() == "message length 4194305 exceed maximum message size of 4194304");
    CHECK(WaitClosed(fd.get()));
  }
  SECTION("a frame cut short by EOF") {
    UniqueFd fd = Dial(served.path());
    std::string frame = RequestFrame(1, "test.Service", "Echo", "truncated");
    REQUIRE(SendAll(fd.get(), frame.substr(0, frame.size() - 3)));
    shutdown(fd.get(), SHUT_WR);
    CHECK(WaitClosed(fd.get()));
  }
  SECTION("a header cut short by EOF") {
    UniqueFd fd = Dial(served.path());
    REQUIRE(SendAll(fd.get(), std::string("\0\0\0", 3)));
    shutdown(fd.get(), SHUT_WR);
    CHECK(WaitClosed(fd.get()));
  }

  REQUIRE(SendAll(bystander.get(), RequestFrame(3, "test.Service", "Echo", "after")));
  auto after = bystander_peer.Read();
  REQUIRE(after);
  CHECK(*DecodeResponse(after->body) == "after");
  CHECK(Eventually([&] { return served.server().connection_count() == 1; }));
}

TEST_CASE("ttrpc server bounds the calls in flight per connection", "[ttrpc][server]") {
  TempDir dir;
  TestService service;
  ServerOptions limits;
  limits.max_in_flight = 4;
  ServedRegistry served(service.registry, dir.File("s.sock"), limits);
  REQUIRE(served.Start());
  UniqueFd fd = Dial(served.path());
  std::string bytes;
  for (uint32_t i = 0; i < 5; ++i) AppendFrame(bytes, 2 * i + 1, kTypeRequest, testing::RequestBody("test.Service", "Later", ""));
  REQUIRE(SendAll(fd.get(), bytes));
  CHECK(WaitClosed(fd.get()));
  // The parked replies complete into a closed connection: dropped quietly.
  REQUIRE(service.parked_count() == 4);
  for (auto& [payload, reply] : service.TakeParked()) reply(payload);
  CHECK(RawCall(served.path(), 1, "Echo", "ok").ok());
}

TEST_CASE("ttrpc server drops a reply whose connection is gone", "[ttrpc][server]") {
  TempDir dir;
  TestService service;
  ServedRegistry served(service.registry, dir.File("s.sock"));
  REQUIRE(served.Start());
  {
    UniqueFd fd = Dial(served.path());
    REQUIRE(SendAll(fd.get(), RequestFrame(1, "test.Service", "Later", "orphan")));
    REQUIRE(Eventually([&] { return service.parked_count() == 1; }));
  }
  REQUIRE(Eventually([&] { return served.server().connection_count() == 0; }));
  auto parked = service.TakeParked();
  std::thread completer([&] { parked[0].second(std::string("too late")); });
  completer.join();
  CHECK(RawCall(served.path(), 1, "Echo", "alive").ok());

  SECTION("also once the server itself is gone") {
    UniqueFd fd = Dial(served.path());
    REQUIRE(SendAll(fd.get(), RequestFrame(1, "test.Service", "Later", "orphan2")));
    REQUIRE(Eventually([&] { return service.parked_count() == 1; }));
    auto late = service.TakeParked();
    served.Shutdown();
    CHECK(WaitClosed(fd.get()));
    late[0].second(std::string("later still"));
  }
}

TEST_CASE("ttrpc server survives random bytes", "[ttrpc][server][fuzz]") {
  TempDir dir;
  TestService service;
  ServerOptions limits;
  limits.drain_timeout = absl::Milliseconds(200);
  ServedRegistry served(service.registry, dir.File("s.sock"), limits);
  REQUIRE(served.Start());
  log::SetLevel(log::Level::kError);
  // Noise often holds invalid UTF-8 in string fields; protobuf would log each one.
  google::protobuf::LogHandler* protobuf_log = google::protobuf::SetLogHandler(nullptr);

  std::mt19937 rng(20261129);
  const std::string valid = RequestFrame(1, "test.Service", "Echo", "payload") +
                            RequestFrame(3, "test.Service", "Later", "parked") +
                            RequestFrame(5, "no.Such", "Thing", "");
  for (int round = 0; round < 300; ++round) {
    std::string bytes;
    switch (round % 3) {
      case 0: {  // pure noise
        bytes.resize(std::uniform_int_distribution<size_t>(0, 200)(rng));
        for (char& c : bytes) c = static_cast<char>(rng());
        break;
      }
      case 1: {  // valid frames with a few bytes flipped
        bytes = valid;
        int flips = std::uniform_int_distribution<int>(1, 4)(rng);
        for (int i = 0; i < flips; ++i) bytes[rng() % bytes.size()] = static_cast<char>(rng());
        break;
      }
      case 2: {  // valid frames cut anywhere
        bytes = valid.substr(0, rng() % (valid.size() + 1));
        break;
      }
    }
    UniqueFd fuzz = Dial(served.path());
    REQUIRE(fuzz);
    SendAll(fuzz.get(), bytes);  // the server may hang up first
    if (rng() % 2 == 0) shutdown(fuzz.get(), SHUT_WR);

    auto good = RawCall(served.path(), 1, "Echo", absl::StrCat("round ", round));
    REQUIRE(good.ok());
    CHECK(*good == absl::StrCat("round ", round));
    fuzz.reset();
    for (auto& [payload, reply] : service.TakeParked()) reply(payload);
  }
  google::protobuf::SetLogHandler(protobuf_log);
  log::SetLevel(log::Level::kInfo);
  CHECK(Eventually([&] { return served.server().connection_count() == 0; }));
}

TEST_CASE("ttrpc server hands foreign protocols over", "[ttrpc][server]") {
  static const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  TempDir dir;
  TestService service;
  ServerOptions limits;
  limits.sniff_timeout = absl::Milliseconds(300);
  ServedRegistry served(service.registry, dir.File("s.sock"), limits);
  std::mutex mu;
  std::vector<UniqueFd> handed;
  served.server().SetForeignProtocol(
      [](absl::string_view seen) { return absl::string_view(kPreface).substr(0, seen.size()) == seen; },
      kPreface.size(), [&](UniqueFd fd) {
        std::lock_guard lock(mu);
        handed.push_back(std::move(fd));
      });
  REQUIRE(served.Start());
  auto handed_count = [&] {
    std::lock_guard lock(mu);
    return handed.size();
  };

  SECTION("the HTTP/2 preface, whole or in pieces, leaves untouched") {
    UniqueFd whole = Dial(served.path());
    REQUIRE(SendAll(whole.get(), kPreface + "more"));
    UniqueFd pieces = Dial(served.path());
    REQUIRE(SendAll(pieces.get(), kPreface.substr(0, 5)));
    absl::SleepFor(absl::Milliseconds(20));
    REQUIRE(SendAll(pieces.get(), kPreface.substr(5, 10)));
    absl::SleepFor(absl::Milliseconds(20));
    REQUIRE(SendAll(pieces.get(), kPreface.substr(15)));
    REQUIRE(Eventually([&] { return handed_count() == 2; }));
    CHECK(Eventually([&] { return served.server().connection_count() == 0; }));
    std::lock_guard lock(mu);
    // Nothing was consumed: the new owner reads the preface itself.
    std::string got(kPreface.size(), '\0');
    REQUIRE(recv(handed[0].get(), got.data(), got.size(), MSG_WAITALL) == static_cast<ssize_t>(got.size()));
    CHECK(got == kPreface);
    // And it owns a live connection.
    REQUIRE(SendAll(handed[0].get(), "reply"));
    char buf[5];
    REQUIRE(recv(whole.get(), buf, sizeof buf, MSG_WAITALL) == 5);
  }
  SECTION("a short ttrpc request is served at once") {
    std::string frame = RequestFrame(1, "t", "e", "");
    REQUIRE(frame.size() < kPreface.size());
    UniqueFd fd = Dial(served.path());
    REQUIRE(SendAll(fd.get(), frame));
    FramePeer peer(fd.get());
    auto answer = peer.Read();
    REQUIRE(answer);
    CHECK(DecodeResponse(answer->body).status().message() == "service t");
    CHECK(RawCall(served.path(), 1, "Echo", "normal").ok());
    CHECK(handed_count() == 0);
  }
  SECTION("a client silent past the sniff timeout is still served as ttrpc") {
    UniqueFd fd = Dial(served.path());
    absl::SleepFor(absl::Milliseconds(500));
    REQUIRE(SendAll(fd.get(), RequestFrame(1, "test.Service", "Echo", "late")));
    FramePeer peer(fd.get());
    auto answer = peer.Read();
    REQUIRE(answer);
    CHECK(*DecodeResponse(answer->body) == "late");
  }
  SECTION("a stalled half preface is closed") {
    UniqueFd fd = Dial(served.path());
    REQUIRE(SendAll(fd.get(), "PRI * HT"));
    CHECK(WaitClosed(fd.get()));
    CHECK(handed_count() == 0);
  }
  SECTION("EOF inside the preface is closed") {
    UniqueFd fd = Dial(served.path());
    REQUIRE(SendAll(fd.get(), "PRI"));
    shutdown(fd.get(), SHUT_WR);
    CHECK(WaitClosed(fd.get()));
    CHECK(handed_count() == 0);
  }
}

// In a forked child: become `uid`, call Echo over `path` (abstract), exit 0 if served, 1 if the
// server hung up, 2 on setup errors. Only async-signal-safe calls after fork.
int CallAsUser(const std::string& path, uid_t uid) {
  const std::string request = RequestFrame(1, "test.Service", "Echo", "x");
  pid_t pid = fork();
  if (pid == 0) {
    if (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) _exit(2);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr),
                static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size())) != 0) {
      _exit(2);
    }
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) _exit(1);
    char buf[64];
    alarm(10);
    _exit(read(fd, buf, sizeof buf) > 0 ? 0 : 1);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST_CASE("ttrpc server refuses peers of another user", "[ttrpc][server]") {
  if (geteuid() != 0) {
    WARN("needs root to connect as another user");
    return;
  }
  TestService service;
  const std::string name = absl::StrCat(std::string(1, '\0'), "airlock-ttrpc-cred-", getpid());
  SECTION("by default") {
    ServedRegistry served(service.registry, name);
    REQUIRE(served.Start());
    CHECK(CallAsUser(name, 0) == 0);
    CHECK(CallAsUser(name, 65534) == 1);
  }
  SECTION("unless told otherwise") {
    ServerOptions options;
    options.require_same_user = false;
    ServedRegistry served(service.registry, name, options);
    REQUIRE(served.Start());
    CHECK(CallAsUser(name, 65534) == 0);
  }
}

TEST_CASE("ttrpc server shutdown closes everything", "[ttrpc][server]") {
  TempDir dir;
  TestService service;
  ServedRegistry served(service.registry, dir.File("s.sock"));
  REQUIRE(served.Start());
  UniqueFd a = Dial(served.path());
  UniqueFd b = Dial(served.path());
  REQUIRE(Eventually([&] { return served.server().connection_count() == 2; }));
  served.Shutdown();
  CHECK(served.server().connection_count() == 0);
  CHECK(WaitClosed(a.get()));
  CHECK(WaitClosed(b.get()));
  CHECK(!Dial(served.path()));
}

}  // namespace
}  // namespace airlock::ttrpc
