// Reading cgroup interface files the way containerd's cgroups library does, so that values mean
// the same: unsigned decimal, negative numbers read as 0, "max" handled by the caller.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace airlock::cgroups {

// The whole of a small file (cgroup files are at most a few pages). NotFound when it is absent.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);

// Go cgroups' parseUint: a decimal uint64; a negative integer (e.g. -1 for "unlimited") is 0.
std::optional<uint64_t> ParseCgroupUint(absl::string_view text);

// A one-value file: nullopt when the file is absent; "max" reads as `max_value`.
absl::StatusOr<std::optional<uint64_t>> ReadUintFile(const std::string& path, uint64_t max_value);

// "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control). Lines whose value
// is not a number are skipped; a line that is not two fields is an error, as in Go.
absl::StatusOr<std::map<std::string, uint64_t>> ParseKeyValues(absl::string_view text, absl::string_view what);

// ParseKeyValues of a file; an absent file is an empty map.
absl::StatusOr<std::map<std::string, uint64_t>> ReadKeyValueFile(const std::string& path);

// Value of `key`, 0 when absent.
uint64_t Get(const std::map<std::string, uint64_t>& values, const std::string& key);

// Names of huge page sizes as the hugetlb controller spells them ("2MB", "1GB"), from the
// hugepages-<n>kB entries of /sys/kernel/mm/hugepages. Empty when there are none.
std::vector<std::string> HugePageSizes(const std::string& hugepages_dir = "/sys/kernel/mm/hugepages");

}  // namespace airlock::cgroups
