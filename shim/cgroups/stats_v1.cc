#include "shim/cgroups/stats_v1.h"

#include <unistd.h>

#include <map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "shim/cgroups/cgroup_files.h"

#define AIRLOCK_RETURN_IF_ERROR(expr)                          \
  do {                                                         \
    if (absl::Status status_ = (expr); !status_.ok()) return status_; \
  } while (0)

namespace airlock::cgroups {
namespace {

namespace v1 = io::containerd::cgroups::v1;

// Reads `path` into *out when present; "max" stands for `max_value`.
absl::Status ReadUintInto(const std::string& path, uint64_t max_value, uint64_t* out) {
  absl::StatusOr<std::optional<uint64_t>> value = ReadUintFile(path, max_value);
  if (!value.ok()) return value.status();
  if (value->has_value()) *out = **value;
  return absl::OkStatus();
}

absl::Status ReadPids(const std::string& dir, v1::Metrics& metrics) {
  absl::StatusOr<std::optional<uint64_t>> current = ReadUintFile(dir + "/pids.current", 0);
  if (!current.ok()) return current.status();
  if (!current->has_value()) return absl::OkStatus();
  v1::PidsStat* pids = metrics.mutable_pids();
  pids->set_current(**current);
  uint64_t limit = 0;  // "max" is 0 in v1 metrics
  AIRLOCK_RETURN_IF_ERROR(ReadUintInto(dir + "/pids.max", 0, &limit));
  pids->set_limit(limit);
  return absl::OkStatus();
}

absl::Status ReadCpu(const std::string& dir, v1::Metrics& metrics) {
  absl::StatusOr<std::map<std::string, uint64_t>> stat = ReadKeyValueFile(dir + "/cpu.stat");
  if (!stat.ok()) return stat.status();
  v1::Throttle* throttling = metrics.mutable_cpu()->mutable_throttling();
  throttling->set_periods(Get(*stat, "nr_periods"));
  throttling->set_throttled_periods(Get(*stat, "nr_throttled"));
  throttling->set_throttled_time(Get(*stat, "throttled_time"));
  return absl::OkStatus();
}

absl::Status ReadCpuacct(const std::string& dir, v1::Metrics& metrics) {
  v1::CPUUsage* usage = metrics.mutable_cpu()->mutable_usage();
  uint64_t total = 0;
  AIRLOCK_RETURN_IF_ERROR(ReadUintInto(dir + "/cpuacct.usage", 0, &total));
  usage->set_total(total);

  absl::StatusOr<std::string> percpu = ReadSmallFile(dir + "/cpuacct.usage_percpu");
  if (percpu.ok()) {
    for (absl::string_view field : absl::StrSplit(*percpu, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
      uint64_t value;
      if (!absl::SimpleAtoi(field, &value)) {
        return absl::InvalidArgumentError(absl::StrCat(dir, "/cpuacct.usage_percpu: bad value ", field));
      }
      usage->add_per_cpu(value);
    }
  } else if (!absl::IsNotFound(percpu.status())) {
    return percpu.status();
  }

  // "user <ticks>\nsystem <ticks>", in USER_HZ.
  absl::StatusOr<std::map<std::string, uint64_t>> stat = ReadKeyValueFile(dir + "/cpuacct.stat");
  if (!stat.ok()) return stat.status();
  static const uint64_t ticks = [] {
    long hz = ::sysconf(_SC_CLK_TCK);
    return hz > 0 ? static_cast<uint64_t>(hz) : uint64_t{100};
  }();
  constexpr uint64_t kNanosPerSecond = 1000000000;
  usage->set_user(Get(*stat, "user") * kNanosPerSecond / ticks);
  usage->set_kernel(Get(*stat, "system") * kNanosPerSecond / ticks);
  return absl::OkStatus();
}

absl::Status ReadMemory(const std::string& dir, v1::Metrics& metrics) {
  absl::StatusOr<std::map<std::string, uint64_t>> raw = ReadKeyValueFile(dir + "/memory.stat");
  if (!raw.ok()) return raw.status();
  if (raw->empty()) return absl::OkStatus();  // no memory.stat: no memory controller here
  const auto& s = *raw;
  v1::MemoryStat* m = metrics.mutable_memory();
  m->set_cache(Get(s, "cache"));
  m->set_rss(Get(s, "rss"));
  m->set_rss_huge(Get(s, "rss_huge"));
  m->set_mapped_file(Get(s, "mapped_file"));
  m->set_dirty(Get(s, "dirty"));
  m->set_writeback(Get(s, "writeback"));
  m->set_pg_pg_in(Get(s, "pgpgin"));
  m->set_pg_pg_out(Get(s, "pgpgout"));
  m->set_pg_fault(Get(s, "pgfault"));
  m->set_pg_maj_fault(Get(s, "pgmajfault"));
  m->set_inactive_anon(Get(s, "inactive_anon"));
  m->set_active_anon(Get(s, "active_anon"));
  m->set_inactive_file(Get(s, "inactive_file"));
  m->set_active_file(Get(s, "active_file"));
  m->set_unevictable(Get(s, "unevictable"));
  m->set_hierarchical_memory_limit(Get(s, "hierarchical_memory_limit"));
  m->set_hierarchical_swap_limit(Get(s, "hierarchical_memsw_limit"));
  m->set_total_cache(Get(s, "total_cache"));
  m->set_total_rss(Get(s, "total_rss"));
  m->set_total_rss_huge(Get(s, "total_rss_huge"));
  m->set_total_mapped_file(Get(s, "total_mapped_file"));
  m->set_total_dirty(Get(s, "total_dirty"));
  m->set_total_writeback(Get(s, "total_writeback"));
  m->set_total_pg_pg_in(Get(s, "total_pgpgin"));
  m->set_total_pg_pg_out(Get(s, "total_pgpgout"));
  m->set_total_pg_fault(Get(s, "total_pgfault"));
  m->set_total_pg_maj_fault(Get(s, "total_pgmajfault"));
  m->set_total_inactive_anon(Get(s, "total_inactive_anon"));
  m->set_total_active_anon(Get(s, "total_active_anon"));
  m->set_total_inactive_file(Get(s, "total_inactive_file"));
  m->set_total_active_file(Get(s, "total_active_file"));
  m->set_total_unevictable(Get(s, "total_unevictable"));

  absl::StatusOr<std::map<std::string, uint64_t>> oom = ReadKeyValueFile(dir + "/memory.oom_control");
  if (!oom.ok()) return oom.status();
  v1::MemoryOomControl* oom_control = metrics.mutable_memory_oom_control();
  oom_control->set_oom_kill_disable(Get(*oom, "oom_kill_disable"));
  oom_control->set_under_oom(Get(*oom, "under_oom"));
  oom_control->set_oom_kill(Get(*oom, "oom_kill"));

  // memory.*, memory.memsw.* (absent without swap accounting), memory.kmem.*, memory.kmem.tcp.*
  const std::pair<const char*, v1::MemoryEntry*> entries[] = {
      {"memory.", m->mutable_usage()},
      {"memory.memsw.", m->mutable_swap()},
      {"memory.kmem.", m->mutable_kernel()},
      {"memory.kmem.tcp.", m->mutable_kernel_tcp()},
  };
  for (const auto& [prefix, entry] : entries) {
    uint64_t usage = 0, max = 0, failcnt = 0, limit = 0;
    AIRLOCK_RETURN_IF_ERROR(ReadUintInto(absl::StrCat(dir, "/", prefix, "usage_in_bytes"), 0, &usage));
    AIRLOCK_RETURN_IF_ERROR(ReadUintInto(absl::StrCat(dir, "/", prefix, "max_usage_in_bytes"), 0, &max));
    AIRLOCK_RETURN_IF_ERROR(ReadUintInto(absl::StrCat(dir, "/", prefix, "failcnt"), 0, &failcnt));
    AIRLOCK_RETURN_IF_ERROR(ReadUintInto(absl::StrCat(dir, "/", prefix, "limit_in_bytes"), 0, &limit));
    entry->set_usage(usage);
    entry->set_max(max);
    entry->set_failcnt(failcnt);
    entry->set_limit(limit);
  }
  return absl::OkStatus();
}

// major:minor -> "/dev/<name>" from /proc/partitions (the first name wins, as in Go).
std::map<std::pair<uint64_t, uint64_t>, std::string> BlockDevices(const std::string& partitions) {
  std::map<std::pair<uint64_t, uint64_t>, std::string> devices;
  absl::StatusOr<std::string> text = ReadSmallFile(partitions);
  if (!text.ok()) return devices;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (line_number++ < 2) continue;  // header and blank line
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t major, minor;
    if (fields.size() < 4 || !absl::SimpleAtoi(fields[0], &major) || !absl::SimpleAtoi(fields[1], &minor)) continue;
    devices.emplace(std::make_pair(major, minor), absl::StrCat("/dev/", fields[3]));
  }
  return devices;
}

// "major:minor [op] value" lines; "Total n" lines are skipped. Returns whether the file existed.
absl::StatusOr<bool> ReadBlkioFile(const std::string& path,
                                   const std::map<std::pair<uint64_t, uint64_t>, std::string>& devices,
                                   google::protobuf::RepeatedPtrField<v1::BlkIOEntry>* entries) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (absl::IsNotFound(text.status())) return false;
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" :"), absl::SkipEmpty());
    if (fields.size() == 2 && fields[0] == "Total") continue;
    if (fields.size() < 3) return absl::InvalidArgumentError(absl::StrCat(path, ": bad line: ", line));
    uint64_t major, minor, value;
    size_t value_field = fields.size() == 4 ? 3 : 2;
    if (!absl::SimpleAtoi(fields[0], &major) || !absl::SimpleAtoi(fields[1], &minor) ||
        !absl::SimpleAtoi(fields[value_field], &value)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": bad line: ", line));
    }
    v1::BlkIOEntry* entry = entries->Add();
    auto device = devices.find({major, minor});
    if (device != devices.end()) entry->set_device(device->second);
    entry->set_major(major);
    entry->set_minor(minor);
    if (fields.size() == 4) entry->set_op(std::string(fields[2]));
    entry->set_value(value);
  }
  return true;
}

absl::Status ReadBlkio(const std::string& dir, const V1StatsSources& sources, v1::Metrics& metrics) {
  v1::BlkIOStat* blkio = metrics.mutable_blkio();
  auto devices = BlockDevices(sources.proc_partitions);
  // The CFQ/BFQ-era recursive files first; when they say nothing, the throttle files, as Go does.
  if (::access((dir + "/blkio.io_serviced_recursive").c_str(), F_OK) == 0) {
    const std::pair<const char*, google::protobuf::RepeatedPtrField<v1::BlkIOEntry>*> cfq[] = {
        {"sectors_recursive", blkio->mutable_sectors_recursive()},
        {"io_service_bytes_recursive", blkio->mutable_io_service_bytes_recursive()},
        {"io_serviced_recursive", blkio->mutable_io_serviced_recursive()},
        {"io_queued_recursive", blkio->mutable_io_queued_recursive()},
        {"io_service_time_recursive", blkio->mutable_io_service_time_recursive()},
        {"io_wait_time_recursive", blkio->mutable_io_wait_time_recursive()},
        {"io_merged_recursive", blkio->mutable_io_merged_recursive()},
        {"time_recursive", blkio->mutable_io_time_recursive()},
    };
    int size = 0;
    for (const auto& [name, entries] : cfq) {
      absl::StatusOr<bool> read = ReadBlkioFile(absl::StrCat(dir, "/blkio.", name), devices, entries);
      if (!read.ok()) return read.status();
      size += entries->size();
    }
    if (size > 0) return absl::OkStatus();
  }
  const std::pair<const char*, google::protobuf::RepeatedPtrField<v1::BlkIOEntry>*> throttle[] = {
      {"throttle.io_serviced", blkio->mutable_io_serviced_recursive()},
      {"throttle.io_service_bytes", blkio->mutable_io_service_bytes_recursive()},
  };
  for (const auto& [name, entries] : throttle) {
    absl::StatusOr<bool> read = ReadBlkioFile(absl::StrCat(dir, "/blkio.", name), devices, entries);
    if (!read.ok()) return read.status();
  }
  return absl::OkStatus();
}

absl::Status ReadHugetlb(const std::string& dir, const V1StatsSources& sources, v1::Metrics& metrics) {
  for (const std::string& size : HugePageSizes(sources.hugepages_dir)) {
    std::string base = absl::StrCat(dir, "/hugetlb.", size, ".");
    absl::StatusOr<std::optional<uint64_t>> usage = ReadUintFile(base + "usage_in_bytes", 0);
    if (!usage.ok()) return usage.status();
    if (!usage->has_value()) continue;
    v1::HugetlbStat* stat = metrics.add_hugetlb();
    stat->set_pagesize(size);
    stat->set_usage(**usage);
    uint64_t max = 0, failcnt = 0;
    AIRLOCK_RETURN_IF_ERROR(ReadUintInto(base + "max_usage_in_bytes", 0, &max));
    AIRLOCK_RETURN_IF_ERROR(ReadUintInto(base + "failcnt", 0, &failcnt));
    stat->set_max(max);
    stat->set_failcnt(failcnt);
  }
  return absl::OkStatus();
}

absl::Status Annotate(absl::Status status, absl::string_view controller) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("cgroup v1 ", controller, " stats: ", status.message()));
}

}  // namespace

absl::StatusOr<v1::Metrics> CollectV1Metrics(const CgroupLocation& location, const V1StatsSources& sources) {
  v1::Metrics metrics;
  // containerd always sends cpu.usage and cpu.throttling, even when empty.
  metrics.mutable_cpu()->mutable_usage();
  metrics.mutable_cpu()->mutable_throttling();
  if (std::string dir = location.V1Dir("pids"); !dir.empty()) {
    AIRLOCK_RETURN_IF_ERROR(Annotate(ReadPids(dir, metrics), "pids"));
  }
  if (std::string dir = location.V1Dir("cpu"); !dir.empty()) {
    AIRLOCK_RETURN_IF_ERROR(Annotate(ReadCpu(dir, metrics), "cpu"));
  }
  if (std::string dir = location.V1Dir("cpuacct"); !dir.empty()) {
    AIRLOCK_RETURN_IF_ERROR(Annotate(ReadCpuacct(dir, metrics), "cpuacct"));
  }
  if (std::string dir = location.V1Dir("memory"); !dir.empty()) {
    AIRLOCK_RETURN_IF_ERROR(Annotate(ReadMemory(dir, metrics), "memory"));
  }
  if (std::string dir = location.V1Dir("blkio"); !dir.empty()) {
    AIRLOCK_RETURN_IF_ERROR(Annotate(ReadBlkio(dir, sources, metrics), "blkio"));
  }
  if (std::string dir = location.V1Dir("hugetlb"); !dir.empty()) {
    AIRLOCK_RETURN_IF_ERROR(Annotate(ReadHugetlb(dir, sources, metrics), "hugetlb"));
  }
  return metrics;
}

}  // namespace airlock::cgroups

#undef AIRLOCK_RETURN_IF_ERROR
