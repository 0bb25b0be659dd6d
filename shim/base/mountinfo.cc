#include "shim/base/mountinfo.h"

#include "absl/strings/str_split.h"

namespace airlock {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(absl::string_view field) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && octal(field[i + 1]) && octal(field[i + 2]) && octal(field[i + 3])) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

}  // namespace

bool MountInfo::read_only() const {
  for (absl::string_view option : absl::StrSplit(options, ',')) {
    if (option == "ro") return true;
  }
  return false;
}

std::optional<MountInfo> ParseMountinfoLine(absl::string_view line) {
  std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
  size_t separator = 0;
  for (size_t i = 6; i < fields.size(); ++i) {
    if (fields[i] == "-") {
      separator = i;
      break;
    }
  }
  if (separator == 0 || separator + 3 >= fields.size()) return std::nullopt;
  return MountInfo{Unescape(fields[3]),
                   Unescape(fields[4]),
                   std::string(fields[5]),
                   std::string(fields[separator + 1]),
                   Unescape(fields[separator + 2]),
                   std::string(fields[separator + 3])};
}

std::vector<MountInfo> ParseMountinfo(absl::string_view text) {
  std::vector<MountInfo> mounts;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (std::optional<MountInfo> m = ParseMountinfoLine(line)) mounts.push_back(*std::move(m));
  }
  return mounts;
}

}  // namespace airlock
