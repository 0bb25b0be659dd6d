#include <unistd.h>

#include <catch2/catch.hpp>

#include "shim/cgroups/cgroup_files.h"
#include "shim/cgroups/cgroup_location.h"

namespace airlock::cgroups {
namespace {

// This machine's layout: separate v1 hierarchies plus an empty cgroup2 at .../unified.
constexpr const char* kHybridMountinfo =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

TEST_CASE("v1 cgroups are found per controller (cgroupfs driver, hybrid host)", "[cgroup]") {
  const char* proc_cgroup =
      "9:name=systemd:/default/ctr1\n"
      "8:pids:/default/ctr1\n"
      "4:memory:/default/ctr1\n"
      "2:cpuacct:/default/ctr1\n"
      "1:cpu:/default/ctr1\n"
      "0::/default/ctr1\n";
  auto location = ResolveCgroupsFrom(CgroupMode::kHybrid, proc_cgroup, kHybridMountinfo);
  REQUIRE(location.ok());
  CHECK_FALSE(location->unified);
  CHECK(location->V1Dir("memory") == "/sys/fs/cgroup/memory/default/ctr1");
  CHECK(location->V1Dir("cpu") == "/sys/fs/cgroup/cpu/default/ctr1");
  CHECK(location->V1Dir("cpuacct") == "/sys/fs/cgroup/cpuacct/default/ctr1");
  CHECK(location->V1Dir("pids") == "/sys/fs/cgroup/pids/default/ctr1");
  CHECK(location->V1Dir("name=systemd") == "/sys/fs/cgroup/systemd/default/ctr1");
  CHECK(location->V1Dir("blkio").empty());  // not mounted
  CHECK(location->unified_dir.empty());      // hybrid: stats come from v1
}

TEST_CASE("co-mounted controllers, systemd driver paths and sub-tree mounts", "[cgroup]") {
  const char* mountinfo =
      "25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
      "26 24 0:23 /kubepods.slice /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n"
      "27 24 0:24 / /mnt/with\\040space rw - cgroup cgroup rw,pids\n";
  const char* proc_cgroup =
      "3:cpu,cpuacct:/system.slice/docker-abc.scope\n"
      "2:memory:/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope\n"
      "1:pids:/\n";
  auto location = ResolveCgroupsFrom(CgroupMode::kLegacy, proc_cgroup, mountinfo);
  REQUIRE(location.ok());
  CHECK(location->V1Dir("cpu") == "/sys/fs/cgroup/cpu,cpuacct/system.slice/docker-abc.scope");
  CHECK(location->V1Dir("cpuacct") == location->V1Dir("cpu"));
  CHECK(location->V1Dir("memory") == "/sys/fs/cgroup/memory/kubepods-pod1.slice/cri-containerd-abc.scope");
  CHECK(location->V1Dir("pids") == "/mnt/with space");
}

TEST_CASE("a cgroup outside a sub-tree mount is not found there", "[cgroup]") {
  const char* mountinfo = "26 24 0:23 /kubepods /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  auto location = ResolveCgroupsFrom(CgroupMode::kLegacy, "2:memory:/kubepods2/x\n", mountinfo);
  CHECK(absl::IsNotFound(location.status()));
}

TEST_CASE("unified hosts use the 0:: line and the cgroup2 mount", "[cgroup]") {
  const char* mountinfo =
      "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
  auto location =
      ResolveCgroupsFrom(CgroupMode::kUnified, "0::/system.slice/containerd.service/ctr1\n", mountinfo);
  REQUIRE(location.ok());
  CHECK(location->unified);
  CHECK(location->unified_dir == "/sys/fs/cgroup/system.slice/containerd.service/ctr1");
  CHECK(location->v1.empty());

  CHECK(absl::IsNotFound(ResolveCgroupsFrom(CgroupMode::kUnified, "4:memory:/x\n", mountinfo).status()));
  CHECK_FALSE(ResolveCgroupsFrom(CgroupMode::kUnified, "garbage\n", mountinfo).ok());
}

TEST_CASE("this host's mode and this process's cgroups resolve", "[cgroup]") {
  auto mode = DetectCgroupMode();
  REQUIRE(mode.ok());
  auto location = ResolveCgroups(::getpid());
  REQUIRE(location.ok());
  INFO(location->Describe());
  CHECK(location->unified == (*mode == CgroupMode::kUnified));
  if (::access("/sys/fs/cgroup/memory/memory.stat", F_OK) == 0) {
    CHECK(*mode != CgroupMode::kUnified);
    CHECK_FALSE(location->V1Dir("memory").empty());
  }
  CHECK(absl::IsNotFound(ResolveCgroups(-5).status()));
}

TEST_CASE("the standard layout resolves like mountinfo, or says it cannot", "[cgroup]") {
  auto by_mountinfo = ResolveCgroupsByMountinfo(::getpid());
  REQUIRE(by_mountinfo.ok());
  auto by_layout = ResolveCgroupsByStandardLayout(::getpid());
  if (!by_layout.ok()) {
    // A host without the standard layout: the mountinfo way is what ResolveCgroups uses.
    CHECK(absl::IsNotFound(by_layout.status()));
    WARN("no standard cgroup layout here: " << by_layout.status());
    return;
  }
  INFO(by_layout->Describe() << " vs " << by_mountinfo->Describe());
  CHECK(by_layout->unified == by_mountinfo->unified);
  CHECK(by_layout->unified_dir == by_mountinfo->unified_dir);
  CHECK(by_layout->v1 == by_mountinfo->v1);
  // Not believed for a root that is no cgroup mount.
  CHECK(absl::IsNotFound(ResolveCgroupsByStandardLayout(1, "/proc").status()));
  CHECK_FALSE(ResolveCgroupsByStandardLayout(::getpid(), "/tmp").ok());
}

TEST_CASE("cgroup.procs membership is an exact line match", "[cgroup]") {
  CHECK(ProcsListContains("1\n42\n77\n", 42));
  CHECK(ProcsListContains("42", 42));
  CHECK_FALSE(ProcsListContains("1\n420\n77\n", 42));  // no prefix match
  CHECK_FALSE(ProcsListContains("1\n142\n", 42));       // no suffix match
  CHECK_FALSE(ProcsListContains("", 42));
  // The standard layout is only believed where the process is listed: this process is not in the
  // cgroup of PID 1 unless both share one (then there is nothing to tell apart).
  auto mine = ResolveCgroupsByMountinfo(::getpid());
  auto init = ResolveCgroupsByMountinfo(1);
  if (mine.ok() && init.ok() && mine->unified_dir != init->unified_dir) {
    std::string dir = init->unified_dir;
    auto procs = ReadSmallFile(dir + "/cgroup.procs");
    if (procs.ok()) CHECK_FALSE(ProcsListContains(*procs, ::getpid()));
  }
}

}  // namespace
}  // namespace airlock::cgroups
