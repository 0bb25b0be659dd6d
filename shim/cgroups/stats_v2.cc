#include "shim/cgroups/stats_v2.h"

#include <limits>
#include <map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "shim/cgroups/cgroup_files.h"

namespace airlock::cgroups {
namespace {

namespace v2 = io::containerd::cgroups::v2;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// Go's getStatFileContentUint64: absent or unparsable reads as 0, "max" as UINT64_MAX.
uint64_t ReadValue(const std::string& path) {
  absl::StatusOr<std::optional<uint64_t>> value = ReadUintFile(path, kMax);
  return value.ok() && value->has_value() ? **value : 0;
}

// A *.pressure file: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" (and "full ...").
// nullopt when absent or malformed, as in Go.
std::optional<v2::PSIStats> ReadPsi(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return std::nullopt;
  v2::PSIStats psi;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.empty()) continue;
    v2::PSIData* data = fields[0] == "some" ? psi.mutable_some() : fields[0] == "full" ? psi.mutable_full() : nullptr;
    if (data == nullptr) continue;
    for (size_t i = 1; i < fields.size(); ++i) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(fields[i], absl::MaxSplits('=', 1));
      double number;
      uint64_t total;
      if (kv.first == "total") {
        if (!absl::SimpleAtoi(kv.second, &total)) return std::nullopt;
        data->set_total(total);
      } else if (kv.first == "avg10" || kv.first == "avg60" || kv.first == "avg300") {
        if (!absl::SimpleAtod(kv.second, &number)) return std::nullopt;
        if (kv.first == "avg10") data->set_avg10(number);
        if (kv.first == "avg60") data->set_avg60(number);
        if (kv.first == "avg300") data->set_avg300(number);
      }
    }
  }
  return psi;
}

absl::Status ReadCpu(const std::string& dir, v2::Metrics& metrics) {
  v2::CPUStat* cpu = metrics.mutable_cpu();
  absl::StatusOr<std::map<std::string, uint64_t>> stat = ReadKeyValueFile(dir + "/cpu.stat");
  if (!stat.ok()) return stat.status();
  if (stat->empty()) return absl::OkStatus();
  const auto& s = *stat;
  cpu->set_usage_usec(Get(s, "usage_usec"));
  cpu->set_user_usec(Get(s, "user_usec"));
  cpu->set_system_usec(Get(s, "system_usec"));
  cpu->set_nr_periods(Get(s, "nr_periods"));
  cpu->set_nr_throttled(Get(s, "nr_throttled"));
  cpu->set_throttled_usec(Get(s, "throttled_usec"));
  cpu->set_nr_bursts(Get(s, "nr_bursts"));
  cpu->set_burst_usec(Get(s, "burst_usec"));
  if (auto psi = ReadPsi(dir + "/cpu.pressure")) *cpu->mutable_psi() = std::move(*psi);
  return absl::OkStatus();
}

absl::Status ReadMemory(const std::string& dir, v2::Metrics& metrics) {
  v2::MemoryStat* m = metrics.mutable_memory();
  absl::StatusOr<std::map<std::string, uint64_t>> stat = ReadKeyValueFile(dir + "/memory.stat");
  if (!stat.ok()) return stat.status();
  if (stat->empty()) return absl::OkStatus();
  const auto& s = *stat;
  m->set_anon(Get(s, "anon"));
  m->set_file(Get(s, "file"));
  m->set_kernel_stack(Get(s, "kernel_stack"));
  m->set_slab(Get(s, "slab"));
  m->set_sock(Get(s, "sock"));
  m->set_shmem(Get(s, "shmem"));
  m->set_file_mapped(Get(s, "file_mapped"));
  m->set_file_dirty(Get(s, "file_dirty"));
  m->set_file_writeback(Get(s, "file_writeback"));
  m->set_anon_thp(Get(s, "anon_thp"));
  m->set_inactive_anon(Get(s, "inactive_anon"));
  m->set_active_anon(Get(s, "active_anon"));
  m->set_inactive_file(Get(s, "inactive_file"));
  m->set_active_file(Get(s, "active_file"));
  m->set_unevictable(Get(s, "unevictable"));
  m->set_slab_reclaimable(Get(s, "slab_reclaimable"));
  m->set_slab_unreclaimable(Get(s, "slab_unreclaimable"));
  m->set_pgfault(Get(s, "pgfault"));
  m->set_pgmajfault(Get(s, "pgmajfault"));
  m->set_workingset_refault(Get(s, "workingset_refault"));
  m->set_workingset_activate(Get(s, "workingset_activate"));
  m->set_workingset_nodereclaim(Get(s, "workingset_nodereclaim"));
  m->set_pgrefill(Get(s, "pgrefill"));
  m->set_pgscan(Get(s, "pgscan"));
  m->set_pgsteal(Get(s, "pgsteal"));
  m->set_pgactivate(Get(s, "pgactivate"));
  m->set_pgdeactivate(Get(s, "pgdeactivate"));
  m->set_pglazyfree(Get(s, "pglazyfree"));
  m->set_pglazyfreed(Get(s, "pglazyfreed"));
  m->set_thp_fault_alloc(Get(s, "thp_fault_alloc"));
  m->set_thp_collapse_alloc(Get(s, "thp_collapse_alloc"));
  m->set_workingset_refault_anon(Get(s, "workingset_refault_anon"));
  m->set_workingset_refault_file(Get(s, "workingset_refault_file"));
  m->set_workingset_activate_anon(Get(s, "workingset_activate_anon"));
  m->set_workingset_activate_file(Get(s, "workingset_activate_file"));
  m->set_usage(ReadValue(dir + "/memory.current"));
  m->set_usage_limit(ReadValue(dir + "/memory.max"));
  m->set_max_usage(ReadValue(dir + "/memory.peak"));
  m->set_swap_usage(ReadValue(dir + "/memory.swap.current"));
  m->set_swap_limit(ReadValue(dir + "/memory.swap.max"));
  m->set_swap_max_usage(ReadValue(dir + "/memory.swap.peak"));
  if (auto psi = ReadPsi(dir + "/memory.pressure")) *m->mutable_psi() = std::move(*psi);
  return absl::OkStatus();
}

absl::Status ReadMemoryEvents(const std::string& dir, v2::Metrics& metrics) {
  absl::StatusOr<std::map<std::string, uint64_t>> events = ReadKeyValueFile(dir + "/memory.events");
  if (!events.ok()) return events.status();
  if (events->empty()) return absl::OkStatus();
  v2::MemoryEvents* e = metrics.mutable_memory_events();
  e->set_low(Get(*events, "low"));
  e->set_high(Get(*events, "high"));
  e->set_max(Get(*events, "max"));
  e->set_oom(Get(*events, "oom"));
  e->set_oom_kill(Get(*events, "oom_kill"));
  e->set_oom_group_kill(Get(*events, "oom_group_kill"));
  return absl::OkStatus();
}

// io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
void ReadIo(const std::string& dir, v2::Metrics& metrics) {
  v2::IOStat* io = metrics.mutable_io();
  absl::StatusOr<std::string> text = ReadSmallFile(dir + "/io.stat");
  if (text.ok()) {
    for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
      std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (parts.size() < 2) continue;
      std::pair<absl::string_view, absl::string_view> device = absl::StrSplit(parts[0], absl::MaxSplits(':', 1));
      uint64_t major, minor;
      if (!absl::SimpleAtoi(device.first, &major) || !absl::SimpleAtoi(device.second, &minor)) break;
      v2::IOEntry* entry = io->add_usage();
      entry->set_major(major);
      entry->set_minor(minor);
      for (size_t i = 1; i < parts.size(); ++i) {
        std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
        uint64_t value;
        if (!absl::SimpleAtoi(kv.second, &value)) continue;
        if (kv.first == "rbytes") entry->set_rbytes(value);
        if (kv.first == "wbytes") entry->set_wbytes(value);
        if (kv.first == "rios") entry->set_rios(value);
        if (kv.first == "wios") entry->set_wios(value);
      }
    }
  }
  if (auto psi = ReadPsi(dir + "/io.pressure")) *io->mutable_psi() = std::move(*psi);
}

// rdma.current / rdma.max: "mlx4_0 hca_handle=2 hca_object=2000" ("max" is UINT32_MAX).
void ReadRdma(const std::string& path, google::protobuf::RepeatedPtrField<v2::RdmaEntry>* entries) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() != 3) continue;
    v2::RdmaEntry* entry = entries->Add();
    entry->set_device(std::string(parts[0]));
    for (size_t i = 1; i < 3; ++i) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
      uint32_t value;
      if (kv.second == "max") {
        value = std::numeric_limits<uint32_t>::max();
      } else if (!absl::SimpleAtoi(kv.second, &value)) {
        continue;
      }
      if (kv.first == "hca_handle") entry->set_hca_handles(value);
      if (kv.first == "hca_object") entry->set_hca_objects(value);
    }
  }
}

void ReadHugetlb(const std::string& dir, const V2StatsSources& sources, v2::Metrics& metrics) {
  for (const std::string& size : HugePageSizes(sources.hugepages_dir)) {
    std::string base = absl::StrCat(dir, "/hugetlb.", size, ".");
    v2::HugeTlbStat* stat = metrics.add_hugetlb();
    stat->set_pagesize(size);
    stat->set_max(ReadValue(base + "max"));
    stat->set_current(ReadValue(base + "current"));
    absl::StatusOr<std::map<std::string, uint64_t>> events = ReadKeyValueFile(base + "events");
    if (events.ok()) stat->set_failcnt(Get(*events, "max"));
  }
}

absl::Status Annotate(absl::Status status, absl::string_view what) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("cgroup v2 ", what, " stats: ", status.message()));
}

}  // namespace

absl::StatusOr<v2::Metrics> CollectV2Metrics(const std::string& cgroup_dir, const V2StatsSources& sources) {
  v2::Metrics metrics;
  metrics.mutable_pids()->set_current(ReadValue(cgroup_dir + "/pids.current"));
  metrics.mutable_pids()->set_limit(ReadValue(cgroup_dir + "/pids.max"));
  if (absl::Status status = Annotate(ReadCpu(cgroup_dir, metrics), "cpu"); !status.ok()) return status;
  if (absl::Status status = Annotate(ReadMemory(cgroup_dir, metrics), "memory"); !status.ok()) return status;
  if (absl::Status status = Annotate(ReadMemoryEvents(cgroup_dir, metrics), "memory.events"); !status.ok()) {
    return status;
  }
  ReadIo(cgroup_dir, metrics);
  ReadRdma(cgroup_dir + "/rdma.current", metrics.mutable_rdma()->mutable_current());
  ReadRdma(cgroup_dir + "/rdma.max", metrics.mutable_rdma()->mutable_limit());
  ReadHugetlb(cgroup_dir, sources, metrics);
  return metrics;
}

}  // namespace airlock::cgroups
