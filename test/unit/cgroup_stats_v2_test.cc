#include <catch2/catch.hpp>

#include <limits>

#include "containerd/cgroups/v2/metrics.pb.h"
#include "shim/cgroups/stats.h"
#include "shim/cgroups/stats_v2.h"
#include "test/unit/cgroup_test_support.h"

namespace airlock::cgroups {
namespace {

using testing::TempDir;
namespace v2 = io::containerd::cgroups::v2;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// The unified mount of this (hybrid) machine has no controllers, so v2 parsing is tested on
// files laid out as a cgroup2 directory of a container would be.
void WriteV2Fixture(const TempDir& tmp) {
  tmp.Write("cg/cgroup.controllers", "cpu io memory pids\n");
  tmp.Write("cg/pids.current", "4\n");
  tmp.Write("cg/pids.max", "max\n");
  tmp.Write("cg/cpu.stat",
            "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 7\nnr_throttled 1\n"
            "throttled_usec 30\nnr_bursts 2\nburst_usec 40\n");
  tmp.Write("cg/cpu.pressure", "some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n");
  tmp.Write("cg/memory.stat",
            "anon 1048576\nfile 4096\nkernel_stack 16384\nslab 2048\nsock 0\nshmem 0\nfile_mapped 0\nfile_dirty 0\n"
            "file_writeback 0\nanon_thp 0\ninactive_anon 1000\nactive_anon 2000\ninactive_file 3000\n"
            "active_file 4000\nunevictable 0\nslab_reclaimable 1024\nslab_unreclaimable 1024\npgfault 300\n"
            "pgmajfault 2\nworkingset_refault_anon 5\nworkingset_refault_file 6\nworkingset_activate_anon 7\n"
            "workingset_activate_file 8\nworkingset_nodereclaim 0\npgrefill 0\npgscan 11\npgsteal 12\n"
            "pgactivate 0\npgdeactivate 0\npglazyfree 0\npglazyfreed 0\nthp_fault_alloc 0\nthp_collapse_alloc 0\n");
  tmp.Write("cg/memory.current", "1110016\n");
  tmp.Write("cg/memory.max", "67108864\n");
  tmp.Write("cg/memory.peak", "2000000\n");
  tmp.Write("cg/memory.swap.current", "0\n");
  tmp.Write("cg/memory.swap.max", "max\n");
  tmp.Write("cg/memory.events", "low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\noom_group_kill 0\n");
  tmp.Write("cg/io.stat", "254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n");
  tmp.Write("cg/rdma.current", "mlx4_0 hca_handle=2 hca_object=2000\n");
  tmp.Write("cg/rdma.max", "mlx4_0 hca_handle=max hca_object=max\n");
  tmp.Write("hugepages/hugepages-2048kB/nr_hugepages", "0\n");
  tmp.Write("cg/hugetlb.2MB.current", "0\n");
  tmp.Write("cg/hugetlb.2MB.max", "max\n");
  tmp.Write("cg/hugetlb.2MB.events", "max 3\n");
}

TEST_CASE("v2 stats from fixture files mean what containerd's cgroups library makes of them", "[cgroup]") {
  TempDir tmp;
  REQUIRE_FALSE(tmp.path().empty());
  WriteV2Fixture(tmp);
  auto metrics = CollectV2Metrics(tmp.path() + "/cg", {tmp.path() + "/hugepages"});
  REQUIRE(metrics.ok());

  CHECK(metrics->pids().current() == 4);
  CHECK(metrics->pids().limit() == kMax);
  CHECK(metrics->cpu().usage_usec() == 2500);
  CHECK(metrics->cpu().user_usec() == 2000);
  CHECK(metrics->cpu().system_usec() == 500);
  CHECK(metrics->cpu().nr_periods() == 7);
  CHECK(metrics->cpu().nr_throttled() == 1);
  CHECK(metrics->cpu().throttled_usec() == 30);
  CHECK(metrics->cpu().nr_bursts() == 2);
  CHECK(metrics->cpu().burst_usec() == 40);
  CHECK(metrics->cpu().psi().some().avg10() == Approx(1.5));
  CHECK(metrics->cpu().psi().some().avg60() == Approx(0.25));
  CHECK(metrics->cpu().psi().some().total() == 12345);
  CHECK(metrics->cpu().psi().full().total() == 7);
  CHECK_FALSE(metrics->memory().has_psi());  // no memory.pressure file

  const v2::MemoryStat& memory = metrics->memory();
  CHECK(memory.anon() == 1048576);
  CHECK(memory.kernel_stack() == 16384);
  CHECK(memory.pgfault() == 300);
  CHECK(memory.workingset_refault_anon() == 5);
  CHECK(memory.workingset_activate_file() == 8);
  CHECK(memory.pgscan() == 11);
  CHECK(memory.usage() == 1110016);
  CHECK(memory.usage_limit() == 67108864);
  CHECK(memory.max_usage() == 2000000);
  CHECK(memory.swap_usage() == 0);
  CHECK(memory.swap_limit() == kMax);
  CHECK(memory.swap_max_usage() == 0);  // absent file

  CHECK(metrics->memory_events().max() == 9);
  CHECK(metrics->memory_events().oom() == 2);
  CHECK(metrics->memory_events().oom_kill() == 1);

  REQUIRE(metrics->io().usage_size() == 2);
  CHECK(metrics->io().usage(0).major() == 254);
  CHECK(metrics->io().usage(0).rbytes() == 4096);
  CHECK(metrics->io().usage(0).wbytes() == 8192);
  CHECK(metrics->io().usage(0).wios() == 2);
  CHECK(metrics->io().usage(1).minor() == 16);

  REQUIRE(metrics->rdma().current_size() == 1);
  CHECK(metrics->rdma().current(0).device() == "mlx4_0");
  CHECK(metrics->rdma().current(0).hca_objects() == 2000);
  CHECK(metrics->rdma().limit(0).hca_handles() == std::numeric_limits<uint32_t>::max());

  REQUIRE(metrics->hugetlb_size() == 1);
  CHECK(metrics->hugetlb(0).pagesize() == "2MB");
  CHECK(metrics->hugetlb(0).max() == kMax);
  CHECK(metrics->hugetlb(0).failcnt() == 3);
}

TEST_CASE("v2 stats of a cgroup without memory controller files", "[cgroup]") {
  TempDir tmp;
  tmp.Write("cg/cgroup.controllers", "\n");
  tmp.Write("cg/cpu.stat", "usage_usec 10\nuser_usec 5\nsystem_usec 5\n");
  auto metrics = CollectV2Metrics(tmp.path() + "/cg", {tmp.path() + "/no-hugepages"});
  REQUIRE(metrics.ok());
  CHECK(metrics->cpu().usage_usec() == 10);
  CHECK(metrics->pids().current() == 0);
  CHECK_FALSE(metrics->has_memory_events());
  CHECK(metrics->io().usage_size() == 0);
}

TEST_CASE("v2 stats are packed as io.containerd.cgroups.v2.Metrics", "[cgroup]") {
  TempDir tmp;
  WriteV2Fixture(tmp);
  CgroupLocation location;
  location.unified = true;
  location.unified_dir = tmp.path() + "/cg";
  auto any = CollectStats(location);
  REQUIRE(any.ok());
  CHECK(any->type_url() == "io.containerd.cgroups.v2.Metrics");
  v2::Metrics metrics;
  REQUIRE(metrics.ParseFromString(any->value()));
  CHECK(metrics.memory().usage_limit() == 67108864);
}

TEST_CASE("a malformed v2 file is an error", "[cgroup]") {
  TempDir tmp;
  tmp.Write("cg/memory.stat", "anon\n");
  auto metrics = CollectV2Metrics(tmp.path() + "/cg");
  REQUIRE_FALSE(metrics.ok());
  CHECK(metrics.status().message().find("memory") != absl::string_view::npos);
}

}  // namespace
}  // namespace airlock::cgroups
