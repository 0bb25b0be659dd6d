#include "shim/cgroups/cgroup_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <iterator>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "shim/base/errno_status.h"
#include "shim/base/unique_fd.h"

namespace airlock::cgroups {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(absl::StrCat("open ", path));
  std::string out;
  char buffer[4096];
  for (int rounds = 0; rounds < 1024; ++rounds) {  // at most 4 MiB
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(absl::StrCat("read ", path));
    }
    if (n == 0) return out;
    out.append(buffer, static_cast<size_t>(n));
  }
  return absl::ResourceExhaustedError(absl::StrCat(path, ": too large"));
}

std::optional<uint64_t> ParseCgroupUint(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  uint64_t value;
  if (absl::SimpleAtoi(text, &value) && !text.empty() && text[0] != '-') return value;
  // Go's parseUint: a negative integer, even one below INT64_MIN, reads as 0.
  if (text.size() > 1 && text[0] == '-' &&
      std::all_of(text.begin() + 1, text.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return 0;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<uint64_t>> ReadUintFile(const std::string& path, uint64_t max_value) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (absl::IsNotFound(text.status())) return std::optional<uint64_t>();
  if (!text.ok()) return text.status();
  absl::string_view value = absl::StripAsciiWhitespace(*text);
  if (value == "max") return std::optional<uint64_t>(max_value);
  std::optional<uint64_t> parsed = ParseCgroupUint(value);
  if (!parsed) return absl::InvalidArgumentError(absl::StrCat(path, ": not a number: ", value));
  return parsed;
}

absl::StatusOr<std::map<std::string, uint64_t>> ParseKeyValues(absl::string_view text, absl::string_view what) {
  std::map<std::string, uint64_t> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) return absl::InvalidArgumentError(absl::StrCat(what, ": bad line: ", line));
    if (std::optional<uint64_t> value = ParseCgroupUint(fields[1])) out[std::string(fields[0])] = *value;
  }
  return out;
}

absl::StatusOr<std::map<std::string, uint64_t>> ReadKeyValueFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (absl::IsNotFound(text.status())) return std::map<std::string, uint64_t>();
  if (!text.ok()) return text.status();
  return ParseKeyValues(*text, path);
}

uint64_t Get(const std::map<std::string, uint64_t>& values, const std::string& key) {
  auto it = values.find(key);
  return it == values.end() ? 0 : it->second;
}

std::vector<std::string> HugePageSizes(const std::string& hugepages_dir) {
  std::vector<std::string> sizes;
  DIR* dir = ::opendir(hugepages_dir.c_str());
  if (dir == nullptr) return sizes;
  static constexpr const char* kUnits[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  std::vector<std::string> names;  // sorted like Go's ReadDir
  while (struct dirent* entry = ::readdir(dir)) names.emplace_back(entry->d_name);
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  for (const std::string& entry_name : names) {
    absl::string_view name = entry_name;  // hugepages-2048kB
    if (!absl::ConsumePrefix(&name, "hugepages-") || !absl::ConsumeSuffix(&name, "kB")) continue;
    uint64_t kib;
    if (!absl::SimpleAtoi(name, &kib) || kib == 0) continue;
    // Like docker/go-units CustomSize("%g%s", bytes, 1024): 2048kB -> "2MB", 1048576kB -> "1GB".
    double size = static_cast<double>(kib) * 1024;
    size_t unit = 0;
    while (size >= 1024 && unit + 1 < std::size(kUnits)) {
      size /= 1024;
      ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, "%g%s", size, kUnits[unit]);
    sizes.emplace_back(text);
  }
  return sizes;
}

}  // namespace airlock::cgroups
