#include <catch2/catch.hpp>

#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "containerd/events/task.pb.h"
#include "containerd/services/ttrpc/events/v1/events.pb.h"
#include "google/protobuf/empty.pb.h"
#include "shim/base/log.h"
#include "shim/events/publisher.h"
#include "test/unit/ttrpc_test_util.h"

namespace airlock::events {
namespace {

namespace eventsv1 = ::containerd::services::events::ttrpc::v1;
using ttrpc::testing::Eventually;
using ttrpc::testing::ServedRegistry;
using ttrpc::testing::TempDir;

// Plays containerd's ttrpc events service: records every forwarded envelope.
struct FakeContainerd {
  struct Received {
    eventsv1::Envelope envelope;
    std::string namespace_header;
  };
  std::mutex mu;
  std::vector<Received> received;
  rpc::Registry registry{nullptr};

  FakeContainerd() {
    registry.Add(kEventsService, kForwardMethod,
                 rpc::Unary<eventsv1::ForwardRequest, google::protobuf::Empty>(
                     [this](const rpc::CallContext& ctx,
                            const eventsv1::ForwardRequest& request) -> absl::StatusOr<google::protobuf::Empty> {
                       std::lock_guard lock(mu);
                       received.push_back({request.envelope(), std::string(ctx.Metadata(kNamespaceHeader))});
                       return google::protobuf::Empty();
                     }));
  }
  size_t count() {
    std::lock_guard lock(mu);
    return received.size();
  }
  std::vector<std::string> ExitedIds() {
    std::lock_guard lock(mu);
    std::vector<std::string> ids;
    for (const auto& r : received) {
      containerd::events::TaskExit exit;
      if (r.envelope.event().type_url() == "containerd.events.TaskExit" && exit.ParseFromString(r.envelope.event().value())) {
        ids.push_back(exit.id());
      }
    }
    return ids;
  }
};

containerd::events::TaskExit Exit(const std::string& id) {
  containerd::events::TaskExit exit;
  exit.set_container_id(id);
  exit.set_id(id);
  exit.set_pid(42);
  exit.set_exit_status(3);
  return exit;
}

PublisherOptions FastRetries() {
  PublisherOptions options;
  options.backoff = absl::Milliseconds(20);
  options.max_attempts = 1000;
  options.connect_timeout = absl::Milliseconds(100);
  options.call_timeout = absl::Seconds(5);
  return options;
}

TEST_CASE("publisher forwards envelopes in order", "[events][publisher]") {
  TempDir dir;
  FakeContainerd containerd;
  ServedRegistry served(containerd.registry, dir.File("containerd.sock.ttrpc"));
  REQUIRE(served.Start());

  Publisher publisher(served.path(), "k8s.io");
  containerd::events::TaskCreate create;
  create.set_container_id("c1");
  create.set_bundle("/run/bundle");
  create.set_pid(42);
  publisher.Publish(kTopicTaskCreate, create);
  containerd::events::TaskStart start;
  start.set_container_id("c1");
  start.set_pid(42);
  publisher.Publish(kTopicTaskStart, start);
  for (int i = 0; i < 50; ++i) publisher.Publish(kTopicTaskExit, Exit(absl::StrCat("e", i)));
  REQUIRE(publisher.Flush(absl::Seconds(30)));

  std::lock_guard lock(containerd.mu);
  REQUIRE(containerd.received.size() == 52);
  const auto& first = containerd.received[0];
  CHECK(first.envelope.topic() == "/tasks/create");
  CHECK(first.envelope.namespace_() == "k8s.io");
  CHECK(first.namespace_header == "k8s.io");
  CHECK(first.envelope.event().type_url() == "containerd.events.TaskCreate");
  CHECK(first.envelope.timestamp().seconds() > 1'600'000'000);
  containerd::events::TaskCreate got_create;
  REQUIRE(got_create.ParseFromString(first.envelope.event().value()));
  CHECK(got_create.bundle() == "/run/bundle");
  CHECK(containerd.received[1].envelope.topic() == "/tasks/start");
  CHECK(containerd.received[1].envelope.event().type_url() == "containerd.events.TaskStart");
  for (int i = 0; i < 50; ++i) {
    const auto& r = containerd.received[static_cast<size_t>(i + 2)];
    CHECK(r.envelope.topic() == "/tasks/exit");
    CHECK(r.envelope.event().type_url() == "containerd.events.TaskExit");
    containerd::events::TaskExit exit;
    REQUIRE(exit.ParseFromString(r.envelope.event().value()));
    CHECK(exit.id() == absl::StrCat("e", i));
    CHECK(exit.exit_status() == 3);
  }
  CHECK(containerd.received[0].envelope.timestamp().seconds() <= containerd.received[51].envelope.timestamp().seconds());
}

TEST_CASE("publisher delivers once containerd comes up", "[events][publisher]") {
  TempDir dir;
  FakeContainerd containerd;
  const std::string path = dir.File("containerd.sock.ttrpc");
  log::SetLevel(log::Level::kError);
  Publisher publisher(path, "default", FastRetries());
  publisher.Publish(kTopicTaskExit, Exit("a"));
  publisher.Publish(kTopicTaskExit, Exit("b"));
  absl::SleepFor(absl::Milliseconds(300));  // a few failed attempts
  publisher.Publish(kTopicTaskExit, Exit("c"));

  ServedRegistry served(containerd.registry, path);
  REQUIRE(served.Start());
  REQUIRE(publisher.Flush(absl::Seconds(30)));
  CHECK(containerd.ExitedIds() == std::vector<std::string>{"a", "b", "c"});

  SECTION("and again after containerd restarts") {
    served.Shutdown();
    publisher.Publish(kTopicTaskExit, Exit("d"));
    absl::SleepFor(absl::Milliseconds(200));
    publisher.Publish(kTopicTaskExit, Exit("e"));
    ServedRegistry restarted(containerd.registry, path);
    REQUIRE(restarted.Start());
    REQUIRE(publisher.Flush(absl::Seconds(30)));
    CHECK(containerd.ExitedIds() == std::vector<std::string>{"a", "b", "c", "d", "e"});
  }
  SECTION("a restart between events is noticed on the next send") {
    served.Shutdown();
    ServedRegistry restarted(containerd.registry, path);
    REQUIRE(restarted.Start());
    publisher.Publish(kTopicTaskExit, Exit("f"));
    REQUIRE(publisher.Flush(absl::Seconds(30)));
    CHECK(containerd.ExitedIds() == std::vector<std::string>{"a", "b", "c", "f"});
  }
  log::SetLevel(log::Level::kInfo);
}

TEST_CASE("publisher gives up after its attempts and moves on", "[events][publisher]") {
  TempDir dir;
  FakeContainerd containerd;
  const std::string path = dir.File("containerd.sock.ttrpc");
  log::SetLevel(log::Level::kError);
  PublisherOptions options = FastRetries();
  options.max_attempts = 3;
  Publisher publisher(path, "default", options);
  publisher.Publish(kTopicTaskExit, Exit("lost"));
  REQUIRE(publisher.Flush(absl::Seconds(30)));  // dropped after 3 attempts

  ServedRegistry served(containerd.registry, path);
  REQUIRE(served.Start());
  publisher.Publish(kTopicTaskExit, Exit("kept"));
  REQUIRE(publisher.Flush(absl::Seconds(30)));
  CHECK(containerd.ExitedIds() == std::vector<std::string>{"kept"});
  log::SetLevel(log::Level::kInfo);
}

TEST_CASE("publisher queue is bounded", "[events][publisher]") {
  TempDir dir;
  FakeContainerd containerd;
  const std::string path = dir.File("containerd.sock.ttrpc");
  log::SetLevel(log::Level::kError);
  PublisherOptions options = FastRetries();
  options.max_queue = 3;
  Publisher publisher(path, "default", options);
  for (int i = 0; i < 10; ++i) publisher.Publish(kTopicTaskExit, Exit(absl::StrCat("q", i)));
  ServedRegistry served(containerd.registry, path);
  REQUIRE(served.Start());
  REQUIRE(publisher.Flush(absl::Seconds(30)));
  std::vector<std::string> ids = containerd.ExitedIds();
  // Three queued, plus possibly one the sender already held when the queue filled; whatever
  // was kept arrives in publishing order.
  CHECK(ids.size() >= 3);
  CHECK(ids.size() <= 4);
  REQUIRE(!ids.empty());
  CHECK(ids[0] == "q0");
  for (size_t i = 1; i < ids.size(); ++i) CHECK(std::stoi(ids[i - 1].substr(1)) < std::stoi(ids[i].substr(1)));
  log::SetLevel(log::Level::kInfo);
}

TEST_CASE("publisher without an address drops events", "[events][publisher]") {
  Publisher publisher("", "default");
  publisher.Publish(kTopicTaskExit, Exit("x"));
  CHECK(publisher.Flush(absl::Milliseconds(10)));
}

TEST_CASE("publisher stops promptly with work outstanding", "[events][publisher]") {
  TempDir dir;
  log::SetLevel(log::Level::kError);
  {
    Publisher publisher(dir.File("nothing.sock"), "default", FastRetries());
    publisher.Publish(kTopicTaskExit, Exit("never"));
    CHECK(!publisher.Flush(absl::Milliseconds(100)));
  }
  log::SetLevel(log::Level::kInfo);
}

}  // namespace
}  // namespace airlock::events
