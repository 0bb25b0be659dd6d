#include <catch2/catch.hpp>

#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "shim/base/worker_pool.h"
#include "shim/ttrpc/client.h"
#include "test/unit/ttrpc_test_util.h"

namespace airlock::ttrpc {
namespace {

using testing::Eventually;
using testing::ServedRegistry;
using testing::TempDir;

// Handlers run on a worker pool, so replies come back from many threads in any order.
struct PooledService {
  WorkerPool pool{16};
  rpc::Registry registry{&pool};
  std::mutex mu;
  std::vector<rpc::Reply> parked;
  std::atomic<int> concurrent{0};
  std::atomic<int> max_concurrent{0};

  PooledService() {
    registry.Add("test.Service", "Echo", [this](const rpc::CallContext&, std::string payload, rpc::Reply reply) {
      int now = ++concurrent;
      int seen = max_concurrent.load();
      while (now > seen && !max_concurrent.compare_exchange_weak(seen, now)) {
      }
      // A little jitter makes the answers overtake each other.
      absl::SleepFor(absl::Microseconds(std::hash<std::string>{}(payload) % 3000));
      --concurrent;
      reply(std::move(payload));
    });
    registry.Add("test.Service", "Meta", [](const rpc::CallContext& ctx, std::string, rpc::Reply reply) {
      bool has_deadline = ctx.deadline != absl::InfiniteFuture();
      reply(absl::StrCat(ctx.Metadata("who"), " ", has_deadline ? "deadline" : "none"));
    });
    registry.Add("test.Service", "Fail", [](const rpc::CallContext&, std::string payload, rpc::Reply reply) {
      reply(absl::Status(static_cast<absl::StatusCode>(std::stoi(payload)), "failed on purpose"));
    });
    registry.Add("test.Service", "Never", [this](const rpc::CallContext&, std::string, rpc::Reply reply) {
      std::lock_guard lock(mu);
      parked.push_back(std::move(reply));
    });
  }
  size_t parked_count() {
    std::lock_guard lock(mu);
    return parked.size();
  }
};

TEST_CASE("ttrpc client: concurrent calls on one connection", "[ttrpc][client]") {
  TempDir dir;
  PooledService service;
  ServedRegistry served(service.registry, dir.File("s.sock"));
  REQUIRE(served.Start());
  auto client = Client::Connect("unix://" + served.path(), absl::Seconds(5));
  REQUIRE(client.ok());

  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 40;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        std::string payload = absl::StrCat("thread ", t, " call ", i);
        auto result = (*client)->Call("test.Service", "Echo", payload, absl::Seconds(30));
        if (result.ok() && *result == payload) ++good;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(good == kThreads * kCallsPerThread);
  CHECK(service.max_concurrent > 1);
  CHECK(served.server().connection_count() == 1);
}

TEST_CASE("ttrpc client: statuses, metadata and timeouts", "[ttrpc][client]") {
  TempDir dir;
  PooledService service;
  ServedRegistry served(service.registry, dir.File("s.sock"));
  REQUIRE(served.Start());
  auto client = Client::Connect(served.path(), absl::Seconds(5));
  REQUIRE(client.ok());

  for (int code = 1; code <= 16; ++code) {
    auto result = (*client)->Call("test.Service", "Fail", std::to_string(code), absl::Seconds(10));
    REQUIRE(!result.ok());
    CHECK(static_cast<int>(result.status().code()) == code);
    CHECK(result.status().message() == "failed on purpose");
  }
  auto unknown = (*client)->Call("no.Such", "Thing", "", absl::Seconds(10));
  CHECK(unknown.status().code() == absl::StatusCode::kUnimplemented);
  CHECK(unknown.status().message() == "service no.Such");

  auto meta = (*client)->Call("test.Service", "Meta", "", absl::Seconds(10), {{"who", "me"}});
  REQUIRE(meta.ok());
  CHECK(*meta == "me deadline");
  auto no_deadline = (*client)->Call("test.Service", "Meta", "", absl::InfiniteDuration());
  REQUIRE(no_deadline.ok());
  CHECK(*no_deadline == " none");

  auto slow = (*client)->Call("test.Service", "Never", "", absl::Milliseconds(100));
  CHECK(slow.status().code() == absl::StatusCode::kDeadlineExceeded);
  // The late answer to a call given up on is ignored; the connection works on.
  REQUIRE(Eventually([&] { return service.parked_count() == 1; }));
  {
    std::lock_guard lock(service.mu);
    service.parked[0](std::string("late"));
  }
  auto echo = (*client)->Call("test.Service", "Echo", "fine", absl::Seconds(10));
  REQUIRE(echo.ok());
  CHECK(*echo == "fine");

  auto too_big = (*client)->Call("test.Service", "Echo", std::string(kMaxMessageSize, 'x'), absl::Seconds(10));
  CHECK(too_big.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(!(*client)->broken());
}

TEST_CASE("ttrpc client: losing the server fails pending and later calls", "[ttrpc][client]") {
  TempDir dir;
  PooledService service;
  ServedRegistry served(service.registry, dir.File("s.sock"));
  REQUIRE(served.Start());
  auto client = Client::Connect(served.path(), absl::Seconds(5));
  REQUIRE(client.ok());

  std::vector<std::thread> waiters;
  std::atomic<int> unavailable{0};
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&] {
      auto result = (*client)->Call("test.Service", "Never", "", absl::Seconds(30));
      if (result.status().code() == absl::StatusCode::kUnavailable) ++unavailable;
    });
  }
  REQUIRE(Eventually([&] { return service.parked_count() == 4; }));
  served.Shutdown();
  for (auto& waiter : waiters) waiter.join();
  CHECK(unavailable == 4);
  CHECK((*client)->broken());
  auto after = (*client)->Call("test.Service", "Echo", "x", absl::Seconds(5));
  CHECK(after.status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("ttrpc client: Close fails calls in flight", "[ttrpc][client]") {
  TempDir dir;
  PooledService service;
  ServedRegistry served(service.registry, dir.File("s.sock"));
  REQUIRE(served.Start());
  auto client = Client::Connect(served.path(), absl::Seconds(5));
  REQUIRE(client.ok());
  std::thread waiter([&] {
    auto result = (*client)->Call("test.Service", "Never", "", absl::Seconds(30));
    CHECK(result.status().code() == absl::StatusCode::kUnavailable);
  });
  REQUIRE(Eventually([&] { return service.parked_count() == 1; }));
  (*client)->Close();
  waiter.join();
  CHECK(Eventually([&] { return served.server().connection_count() == 0; }));
}

TEST_CASE("ttrpc client: addresses", "[ttrpc][client]") {
  TempDir dir;
  PooledService service;

  SECTION("abstract names") {
    std::string name = absl::StrCat("airlock-ttrpc-test-", getpid(), "-", std::random_device{}());
    ServedRegistry served(service.registry, std::string(1, '\0') + name);
    REQUIRE(served.Start());
    auto at = Client::Connect("@" + name, absl::Seconds(5));
    REQUIRE(at.ok());
    CHECK(*(*at)->Call("test.Service", "Echo", "a", absl::Seconds(5)) == "a");
    auto nul = Client::Connect(std::string(1, '\0') + name, absl::Seconds(5));
    REQUIRE(nul.ok());
    CHECK(*(*nul)->Call("test.Service", "Echo", "b", absl::Seconds(5)) == "b");
  }
  SECTION("a socket that appears within the timeout") {
    std::string path = dir.File("late.sock");
    std::unique_ptr<ServedRegistry> served;
    std::thread starter([&] {
      absl::SleepFor(absl::Milliseconds(100));
      // Bound elsewhere, then renamed into place: a half-made listener would refuse instead.
      served = std::make_unique<ServedRegistry>(service.registry, dir.File("late.tmp"));
      if (served->Start()) rename(dir.File("late.tmp").c_str(), path.c_str());
    });
    auto client = Client::Connect(path, absl::Seconds(10));
    starter.join();
    REQUIRE(client.ok());
    CHECK(*(*client)->Call("test.Service", "Echo", "c", absl::Seconds(5)) == "c");
  }
  SECTION("nothing there") {
    auto missing = Client::Connect(dir.File("missing.sock"), absl::Milliseconds(50));
    CHECK(missing.status().code() == absl::StatusCode::kUnavailable);
    auto too_long = Client::Connect(std::string(200, 'x'), absl::Milliseconds(50));
    CHECK(too_long.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(Client::Connect("unix://", absl::Milliseconds(50)).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace airlock::ttrpc
