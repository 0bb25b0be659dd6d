#include <unistd.h>

#include <catch2/catch.hpp>

#include "containerd/cgroups/v1/metrics.pb.h"
#include "shim/cgroups/cgroup_files.h"
#include "shim/cgroups/stats.h"
#include "shim/cgroups/stats_v1.h"
#include "test/unit/cgroup_test_support.h"

namespace airlock::cgroups {
namespace {

using testing::TempDir;
using testing::TestCgroupV1;
using testing::TestChild;
namespace v1 = io::containerd::cgroups::v1;

TEST_CASE("v1 stats from fixture files mean what containerd's cgroups library makes of them", "[cgroup]") {
  TempDir tmp;
  REQUIRE_FALSE(tmp.path().empty());
  tmp.Write("pids/pids.current", "3\n");
  tmp.Write("pids/pids.max", "max\n");
  tmp.Write("cpu/cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\nnr_bursts 0\nburst_time 0\n");
  tmp.Write("cpuacct/cpuacct.usage", "123456789\n");
  tmp.Write("cpuacct/cpuacct.usage_percpu", "100 200 \n");
  tmp.Write("cpuacct/cpuacct.stat", "user 150\nsystem 50\n");
  tmp.Write("memory/memory.stat",
            "cache 4096\nrss 8192\nrss_huge 0\nmapped_file 1\npgpgin 7\npgpgout 8\npgfault 9\npgmajfault 10\n"
            "hierarchical_memory_limit 67108864\nhierarchical_memsw_limit 9223372036854771712\n"
            "total_cache 4096\ntotal_rss 8192\ntotal_pgpgin 70\ntotal_unevictable 3\n");
  tmp.Write("memory/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  tmp.Write("memory/memory.usage_in_bytes", "12288\n");
  tmp.Write("memory/memory.max_usage_in_bytes", "20000\n");
  tmp.Write("memory/memory.failcnt", "5\n");
  tmp.Write("memory/memory.limit_in_bytes", "67108864\n");
  tmp.Write("memory/memory.kmem.usage_in_bytes", "100\n");
  tmp.Write("memory/memory.kmem.max_usage_in_bytes", "200\n");
  tmp.Write("memory/memory.kmem.failcnt", "0\n");
  tmp.Write("memory/memory.kmem.limit_in_bytes", "-1\n");  // a negative reads as 0, as in Go
  // no memsw (swap accounting off), no kmem.tcp: skipped
  tmp.Write("blkio/blkio.throttle.io_serviced", "254:0 Read 10\n254:0 Write 3\n254:0 Total 13\nTotal 13\n");
  tmp.Write("blkio/blkio.throttle.io_service_bytes", "254:0 Read 4096\n254:0 Write 512\nTotal 4608\n");
  std::string partitions = tmp.Write("partitions", "major minor  #blocks  name\n\n 254        0  268435456 vda\n");
  tmp.Write("hugepages/hugepages-2048kB/nr_hugepages", "0\n");
  tmp.Write("hugepages/hugepages-1048576kB/nr_hugepages", "0\n");
  tmp.Write("hugetlb/hugetlb.2MB.usage_in_bytes", "2097152\n");
  tmp.Write("hugetlb/hugetlb.2MB.max_usage_in_bytes", "4194304\n");
  tmp.Write("hugetlb/hugetlb.2MB.failcnt", "1\n");
  // no 1GB files: skipped

  CgroupLocation location;
  for (const char* controller : {"pids", "cpu", "cpuacct", "memory", "blkio", "hugetlb"}) {
    location.v1[controller] = tmp.path() + "/" + controller;
  }
  auto metrics = CollectV1Metrics(location, {partitions, tmp.path() + "/hugepages"});
  REQUIRE(metrics.ok());

  CHECK(metrics->pids().current() == 3);
  CHECK(metrics->pids().limit() == 0);  // "max"
  CHECK(metrics->cpu().throttling().periods() == 10);
  CHECK(metrics->cpu().throttling().throttled_periods() == 2);
  CHECK(metrics->cpu().throttling().throttled_time() == 5000);
  CHECK(metrics->cpu().usage().total() == 123456789);
  REQUIRE(metrics->cpu().usage().per_cpu_size() == 2);
  CHECK(metrics->cpu().usage().per_cpu(1) == 200);
  const uint64_t tick_ns = 1000000000 / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
  CHECK(metrics->cpu().usage().user() == 150 * tick_ns);
  CHECK(metrics->cpu().usage().kernel() == 50 * tick_ns);

  const v1::MemoryStat& memory = metrics->memory();
  CHECK(memory.cache() == 4096);
  CHECK(memory.rss() == 8192);
  CHECK(memory.pg_pg_in() == 7);
  CHECK(memory.pg_maj_fault() == 10);
  CHECK(memory.hierarchical_memory_limit() == 67108864);
  CHECK(memory.hierarchical_swap_limit() == 9223372036854771712ull);
  CHECK(memory.total_pg_pg_in() == 70);
  CHECK(memory.total_unevictable() == 3);
  CHECK(memory.usage().usage() == 12288);
  CHECK(memory.usage().max() == 20000);
  CHECK(memory.usage().failcnt() == 5);
  CHECK(memory.usage().limit() == 67108864);
  CHECK(memory.kernel().usage() == 100);
  CHECK(memory.kernel().limit() == 0);
  CHECK(memory.swap().limit() == 0);
  CHECK(metrics->memory_oom_control().oom_kill() == 2);

  REQUIRE(metrics->blkio().io_serviced_recursive_size() == 3);  // Read, Write, Total (per device)
  CHECK(metrics->blkio().io_serviced_recursive(0).op() == "Read");
  CHECK(metrics->blkio().io_serviced_recursive(0).device() == "/dev/vda");
  CHECK(metrics->blkio().io_serviced_recursive(0).major() == 254);
  CHECK(metrics->blkio().io_serviced_recursive(0).value() == 10);
  REQUIRE(metrics->blkio().io_service_bytes_recursive_size() == 2);
  CHECK(metrics->blkio().io_service_bytes_recursive(1).value() == 512);

  CHECK(HugePageSizes(tmp.path() + "/hugepages") == std::vector<std::string>{"1GB", "2MB"});
  REQUIRE(metrics->hugetlb_size() == 1);  // the 1GB files are absent
  CHECK(metrics->hugetlb(0).pagesize() == "2MB");
  CHECK(metrics->hugetlb(0).usage() == 2097152);
  CHECK(metrics->hugetlb(0).max() == 4194304);
  CHECK(metrics->hugetlb(0).failcnt() == 1);
}

TEST_CASE("cgroup numbers parse as Go's parseUint does", "[cgroup]") {
  CHECK(ParseCgroupUint("42\n") == 42u);
  CHECK(ParseCgroupUint("18446744073709551615") == 18446744073709551615ull);
  CHECK(ParseCgroupUint("-1") == 0u);
  CHECK(ParseCgroupUint("-99999999999999999999999") == 0u);
  CHECK_FALSE(ParseCgroupUint("max").has_value());
  CHECK_FALSE(ParseCgroupUint("1.5").has_value());
  CHECK_FALSE(ParseCgroupUint("").has_value());
}

TEST_CASE("a malformed v1 file is an error naming the controller", "[cgroup]") {
  TempDir tmp;
  tmp.Write("memory/memory.stat", "cache 1 2\n");
  CgroupLocation location;
  location.v1["memory"] = tmp.path() + "/memory";
  auto metrics = CollectV1Metrics(location);
  REQUIRE_FALSE(metrics.ok());
  CHECK(metrics.status().message().find("memory") != absl::string_view::npos);
}

TEST_CASE("v1 stats of a real cgroup: pids, memory limit, cpu usage growing", "[cgroup][root]") {
  if (std::string why = testing::RealV1Unavailable(); !why.empty()) {
    WARN("skipped: " << why);
    return;
  }
  TestCgroupV1 cgroup({"memory", "cpu", "cpuacct", "pids", "blkio"});
  REQUIRE(cgroup.Has("memory"));
  constexpr uint64_t kLimit = 64ull << 20;
  REQUIRE(cgroup.Set("memory", "memory.limit_in_bytes", std::to_string(kLimit)));
  bool memsw = cgroup.Exists("memory", "memory.memsw.limit_in_bytes");
  if (memsw) REQUIRE(cgroup.Set("memory", "memory.memsw.limit_in_bytes", std::to_string(kLimit)));
  if (cgroup.Has("pids")) REQUIRE(cgroup.Set("pids", "pids.max", "64"));

  TestChild child(TestChild::Job::kBurnCpuThenIdle);
  REQUIRE(child.pid() > 0);
  REQUIRE(cgroup.Enter(child.pid()));

  auto location = ResolveCgroups(child.pid());
  REQUIRE(location.ok());
  INFO(location->Describe());
  for (const auto& [controller, dir] : cgroup.dirs()) CHECK(location->V1Dir(controller) == dir);

  auto before_any = CollectStats(*location);
  REQUIRE(before_any.ok());
  CHECK(before_any->type_url() == "io.containerd.cgroups.v1.Metrics");
  v1::Metrics before;
  REQUIRE(before.ParseFromString(before_any->value()));

  REQUIRE(child.Go());
  REQUIRE(child.WaitDone(30000));

  auto after_any = CollectStats(child.pid());  // the resolving overload
  REQUIRE(after_any.ok());
  v1::Metrics after;
  REQUIRE(after.ParseFromString(after_any->value()));

  if (cgroup.Has("pids")) {
    CHECK(after.pids().current() >= 1);
    CHECK(after.pids().limit() == 64);
  }
  CHECK(after.memory().usage().limit() == kLimit);
  CHECK(after.memory().hierarchical_memory_limit() == kLimit);
  CHECK(after.memory().usage().usage() > 0);
  if (memsw) CHECK(after.memory().swap().limit() == kLimit);
  if (cgroup.Has("cpuacct")) {
    CHECK(after.cpu().usage().total() > before.cpu().usage().total());
    CHECK(after.cpu().usage().total() >= 100ull * 1000 * 1000);  // the child burnt ~200 ms
    CHECK(after.cpu().usage().per_cpu_size() >= 1);
    uint64_t per_cpu_sum = 0;
    for (uint64_t v : after.cpu().usage().per_cpu()) per_cpu_sum += v;
    CHECK(per_cpu_sum > 0);
  }
  CHECK(after.has_blkio() == cgroup.Has("blkio"));
}

}  // namespace
}  // namespace airlock::cgroups
