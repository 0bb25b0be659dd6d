#include "policy/sandbox/spec_resources.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace airlock::policy {
namespace {

using json = nlohmann::json;

constexpr int64_t kCpuPeriodUs = 100000;

// The spec's value at `key` when it is a positive limit; 0 when absent, unlimited (<= 0) or not a number.
int64_t PositiveLimit(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return 0;
  int64_t v = it->get<int64_t>();
  return v > 0 ? v : 0;
}

absl::StatusOr<json*> Section(json& resources, const char* name) {
  json& section = resources[name];
  if (section.is_null()) section = json::object();
  if (!section.is_object()) return absl::InvalidArgumentError(absl::StrCat("linux.resources.", name, " must be an object"));
  return &section;
}

// Sets `key` to `ceiling` unless the spec already asks for less; says so when it changes.
void Cap(json& section, const char* key, int64_t ceiling, const std::string& what, std::vector<std::string>* notes) {
  int64_t asked = PositiveLimit(section, key);
  if (asked != 0 && asked <= ceiling) return;
  section[key] = ceiling;
  notes->push_back(asked == 0 ? absl::StrCat(what, " limited to ", ceiling, " (policy; the spec had none)")
                              : absl::StrCat(what, " lowered from ", asked, " to ", ceiling, " (policy)"));
}

}  // namespace

absl::Status ApplyResourceCeilings(json& linux_spec, const Resources& r, bool swap_limit_supported,
                                   std::vector<std::string>* notes) {
  json& resources = linux_spec["resources"];
  if (resources.is_null()) resources = json::object();
  if (!resources.is_object()) return absl::InvalidArgumentError("linux.resources must be an object");

  absl::StatusOr<json*> pids = Section(resources, "pids");
  if (!pids.ok()) return pids.status();
  Cap(**pids, "limit", static_cast<int64_t>(r.pids), "pids", notes);

  absl::StatusOr<json*> memory = Section(resources, "memory");
  if (!memory.ok()) return memory.status();
  Cap(**memory, "limit", static_cast<int64_t>(r.memory_bytes), "memory", notes);
  if (swap_limit_supported) {
    Cap(**memory, "swap", static_cast<int64_t>(r.memory_swap_bytes), "memory+swap", notes);
    // runc (and the kernel) want memory+swap >= memory.
    int64_t limit = (**memory)["limit"].get<int64_t>();
    if ((**memory)["swap"].get<int64_t>() < limit) (**memory)["swap"] = limit;
  } else if (memory.value()->contains("swap")) {
    memory.value()->erase("swap");
    notes->push_back("memory+swap not set: this host's memory cgroup does not account swap");
  }

  absl::StatusOr<json*> cpu = Section(resources, "cpu");
  if (!cpu.ok()) return cpu.status();
  int64_t quota = PositiveLimit(**cpu, "quota");
  int64_t period = PositiveLimit(**cpu, "period");
  if (period == 0) period = kCpuPeriodUs;
  // Compare in thousandths of a core: quota/period * 1000.
  int64_t asked_millis = quota > 0 ? quota * 1000 / period : 0;
  if (asked_millis == 0 || asked_millis > static_cast<int64_t>(r.cpu_millis)) {
    (**cpu)["period"] = kCpuPeriodUs;
    (**cpu)["quota"] = static_cast<int64_t>(r.cpu_millis) * kCpuPeriodUs / 1000;
    notes->push_back(absl::StrCat("cpu limited to ", r.cpu_millis / 1000, ".", absl::StrCat(1000 + r.cpu_millis % 1000).substr(1),
                                  " core(s) (policy)"));
  }
  return absl::OkStatus();
}

}  // namespace airlock::policy
