#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include "containerd/cgroups/v1/metrics.pb.h"
#include "shim/base/reactor.h"
#include "shim/cgroups/oom_watcher.h"
#include "shim/cgroups/stats_v1.h"
#include "test/unit/cgroup_test_support.h"

namespace airlock::cgroups {
namespace {

using testing::TempDir;
using testing::TestCgroupV1;
using testing::TestChild;

// Re-arms itself every 20 ms until `done()` holds or `deadline` passes, then stops the reactor.
void StopWhen(Reactor& reactor, std::function<bool()> done, absl::Time deadline) {
  reactor.RunAfter(absl::Milliseconds(20), [&reactor, done, deadline] {
    if (done() || absl::Now() > deadline) {
      reactor.Stop();
    } else {
      StopWhen(reactor, done, deadline);
    }
  });
}

TEST_CASE("v1 OOM watcher fires when the OOM killer strikes in the cgroup", "[cgroup][root]") {
  if (std::string why = testing::RealV1Unavailable(); !why.empty()) {
    WARN("skipped: " << why);
    return;
  }
  TestCgroupV1 cgroup({"memory"});
  REQUIRE(cgroup.Has("memory"));
  const std::string limit = std::to_string(32ull << 20);
  REQUIRE(cgroup.Set("memory", "memory.limit_in_bytes", limit));
  if (cgroup.Exists("memory", "memory.memsw.limit_in_bytes")) {
    REQUIRE(cgroup.Set("memory", "memory.memsw.limit_in_bytes", limit));  // no escape into swap
  }

  // As in the shim: the process is in its cgroup (runc create), the watcher is registered, and
  // only then does the workload start (runc start).
  TestChild child(TestChild::Job::kAllocateForever);
  REQUIRE(child.pid() > 0);
  REQUIRE(cgroup.Enter(child.pid()));
  auto location = ResolveCgroups(child.pid());
  REQUIRE(location.ok());

  auto reactor = Reactor::Create();
  REQUIRE(reactor.ok());
  int ooms = 0;
  auto watcher = OomWatcher::Create(**reactor, *location, [&] { ++ooms; });
  REQUIRE(watcher.ok());
  REQUIRE((*watcher)->active());

  REQUIRE(child.Go());
  StopWhen(**reactor, [&] { return ooms > 0; }, absl::Now() + absl::Seconds(60));
  (*reactor)->Run();

  CHECK(ooms >= 1);
  int status = child.WaitExit(30000);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  auto metrics = CollectV1Metrics(*location);
  REQUIRE(metrics.ok());
  CHECK(metrics->memory_oom_control().oom_kill() >= 1);
  // The peak reached the limit. (failcnt is not checked: this 6.18 kernel leaves it at 0.)
  CHECK(metrics->memory().usage().max() >= (16ull << 20));
  CHECK(metrics->memory().usage().max() <= (32ull << 20));

  // The shim's exit path: reap the init, then Poll() so TaskOOM goes out before TaskExit.
  (*watcher)->Poll();  // consume anything left from the first OOM
  TestChild second(TestChild::Job::kAllocateForever);
  REQUIRE(second.pid() > 0);
  REQUIRE(cgroup.Enter(second.pid()));
  REQUIRE(second.Go());
  status = second.WaitExit(60000);
  CHECK(WIFSIGNALED(status));
  int before_poll = ooms;
  (*watcher)->Poll();
  CHECK(ooms == before_poll + 1);
  (*watcher)->Poll();  // nothing pending: no callback
  CHECK(ooms == before_poll + 1);
  watcher->reset();  // unregisters on the reactor's thread (this one)
}

TEST_CASE("v1 OOM watcher stops quietly when the cgroup is removed", "[cgroup][root]") {
  if (std::string why = testing::RealV1Unavailable(); !why.empty()) {
    WARN("skipped: " << why);
    return;
  }
  TestCgroupV1 cgroup({"memory"});
  REQUIRE(cgroup.Has("memory"));
  auto reactor = Reactor::Create();
  REQUIRE(reactor.ok());
  int ooms = 0;
  auto watcher = OomWatcher::WatchV1(**reactor, cgroup.Dir("memory"), [&] { ++ooms; });
  REQUIRE(watcher.ok());

  cgroup.Remove();
  StopWhen(**reactor, [&] { return !(*watcher)->active(); }, absl::Now() + absl::Seconds(30));
  (*reactor)->Run();
  CHECK_FALSE((*watcher)->active());
  CHECK(ooms == 0);
}

TEST_CASE("v1 OOM watcher refuses a directory that is not a memory cgroup", "[cgroup]") {
  TempDir tmp;
  auto reactor = Reactor::Create();
  REQUIRE(reactor.ok());
  CHECK(absl::IsNotFound(OomWatcher::WatchV1(**reactor, tmp.path(), [] {}).status()));
  CgroupLocation no_memory;
  no_memory.v1["cpu"] = tmp.path();
  CHECK(absl::IsNotFound(OomWatcher::Create(**reactor, no_memory, [] {}).status()));
}

// cgroup2 has no controllers on this machine: drive the v2 watcher with a plain memory.events
// file, rewritten in place as the kernel does.
TEST_CASE("v2 OOM watcher fires once per oom_kill increase and stops when the cgroup goes", "[cgroup]") {
  TempDir tmp;
  REQUIRE_FALSE(tmp.path().empty());
  std::string events = tmp.Write("cg/memory.events", "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n");

  auto reactor = Reactor::Create();
  REQUIRE(reactor.ok());
  int ooms = 0;
  std::vector<std::string> steps_done;
  auto watcher = OomWatcher::WatchV2(**reactor, tmp.path() + "/cg", [&] { ++ooms; });
  REQUIRE(watcher.ok());

  Reactor& r = **reactor;
  // 1: other counters move (no OOM kill); 2: oom_kill 1 -> 3 (one callback); 3: the file goes.
  r.RunAfter(absl::Milliseconds(10), [&] {
    REQUIRE(testing::WriteFile(events, "low 0\nhigh 4\nmax 2\noom 1\noom_kill 1\n"));
    steps_done.push_back("counters");
    r.RunAfter(absl::Milliseconds(100), [&] {
      REQUIRE(testing::WriteFile(events, "low 0\nhigh 4\nmax 2\noom 3\noom_kill 3\n"));
      steps_done.push_back("kill");
    });
  });
  StopWhen(r, [&] { return ooms >= 1; }, absl::Now() + absl::Seconds(30));
  r.Run();
  CHECK(ooms == 1);
  CHECK(steps_done.size() == 2);
  CHECK((*watcher)->active());

  // Poll() sees the counter at once, without the (deferred) inotify event being handled.
  REQUIRE(testing::WriteFile(events, "low 0\nhigh 4\nmax 2\noom 4\noom_kill 4\n"));
  (*watcher)->Poll();
  CHECK(ooms == 2);
  (*watcher)->Poll();
  CHECK(ooms == 2);

  auto reactor2 = Reactor::Create();  // a stopped reactor does not run again
  REQUIRE(reactor2.ok());
  watcher->reset();
  int ooms2 = 0;
  auto watcher2 = OomWatcher::WatchV2(**reactor2, tmp.path() + "/cg", [&] { ++ooms2; });
  REQUIRE(watcher2.ok());
  REQUIRE(::unlink(events.c_str()) == 0);
  StopWhen(**reactor2, [&] { return !(*watcher2)->active(); }, absl::Now() + absl::Seconds(30));
  (*reactor2)->Run();
  CHECK_FALSE((*watcher2)->active());
  CHECK(ooms2 == 0);
}

TEST_CASE("v2 OOM watcher needs memory.events", "[cgroup]") {
  TempDir tmp;
  auto reactor = Reactor::Create();
  REQUIRE(reactor.ok());
  CHECK_FALSE(OomWatcher::WatchV2(**reactor, tmp.path(), [] {}).ok());
}

}  // namespace
}  // namespace airlock::cgroups
