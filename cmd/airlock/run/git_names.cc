#include "cmd/airlock/run/git_names.h"

#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"

namespace airlock::run {
namespace {

char Lower(char c) { return absl::ascii_tolower(static_cast<unsigned char>(c)); }

// From `at` on: only dots and spaces, then the end or a ':' (NTFS ignores them). `stop_at_backslash`:
// git's is_ntfs_dotgit also ends the name at a '\' (a directory separator on Windows).
bool OnlyDotsAndSpaces(absl::string_view name, size_t at, bool stop_at_backslash) {
  for (; at < name.size(); ++at) {
    char c = name[at];
    if (c == ':' || (stop_at_backslash && c == '\\')) return true;
    if (c != '.' && c != ' ') return false;
  }
  return true;
}

bool IsNtfsDotGit(absl::string_view name) {
  auto is = [&](size_t i, char want) { return i < name.size() && Lower(name[i]) == want; };
  size_t at;
  if (is(0, '.') && is(1, 'g') && is(2, 'i') && is(3, 't')) {
    at = 4;
  } else if (is(0, 'g') && is(1, 'i') && is(2, 't') && name.size() > 4 && name[3] == '~' && name[4] == '1') {
    at = 5;
  } else {
    return false;
  }
  return OnlyDotsAndSpaces(name, at, /*stop_at_backslash=*/true);
}

// git's is_ntfs_dot_generic: "." + `dotname`, its 6-character "~1".."~4" short name, or the
// fall-back short name `shortname_prefix` + "~" + digit; each followed only by dots and spaces.
bool IsNtfsDotGeneric(absl::string_view name, absl::string_view dotname, absl::string_view shortname_prefix) {
  auto lower_equal = [](absl::string_view a, absl::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (Lower(a[i]) != b[i]) return false;
    }
    return true;
  };
  if (!name.empty() && name[0] == '.' && name.size() >= 1 + dotname.size() &&
      lower_equal(name.substr(1, dotname.size()), dotname)) {
    return OnlyDotsAndSpaces(name, 1 + dotname.size(), false);
  }
  if (name.size() >= 8 && lower_equal(name.substr(0, 6), dotname.substr(0, 6)) && name[6] == '~' && name[7] >= '1' &&
      name[7] <= '4') {
    return OnlyDotsAndSpaces(name, 8, false);
  }
  bool saw_tilde = false;
  for (size_t i = 0; i < 8; ++i) {
    if (i >= name.size()) return false;
    char c = name[i];
    if (saw_tilde) {
      if (c < '0' || c > '9') return false;
    } else if (c == '~') {
      ++i;
      if (i >= name.size() || name[i] < '1' || name[i] > '9') return false;
      saw_tilde = true;
    } else if (i >= 6 || (static_cast<unsigned char>(c) & 0x80) != 0 || Lower(c) != shortname_prefix[i]) {
      return false;
    }
  }
  return OnlyDotsAndSpaces(name, 8, false);
}

// The next code point of UTF-8 `name` from `at`, skipping those HFS+ ignores (git's next_hfs_char);
// 0 at the end; a byte that is not valid UTF-8 is returned as itself (never matches a needle).
uint32_t NextHfsChar(absl::string_view name, size_t& at) {
  while (at < name.size()) {
    auto b0 = static_cast<unsigned char>(name[at]);
    uint32_t cp = b0;
    size_t len = 1;
    if (b0 >= 0xc0 && b0 < 0xe0 && at + 1 < name.size()) {
      cp = ((b0 & 0x1fu) << 6) | (static_cast<unsigned char>(name[at + 1]) & 0x3fu);
      len = 2;
    } else if (b0 >= 0xe0 && b0 < 0xf0 && at + 2 < name.size()) {
      cp = ((b0 & 0x0fu) << 12) | ((static_cast<unsigned char>(name[at + 1]) & 0x3fu) << 6) |
           (static_cast<unsigned char>(name[at + 2]) & 0x3fu);
      len = 3;
    }
    at += len;
    bool ignorable = (cp >= 0x200c && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x206a && cp <= 0x206f) ||
                     cp == 0xfeff;
    if (!ignorable) return cp;
  }
  return 0;
}

bool IsHfsDotGeneric(absl::string_view name, absl::string_view needle) {
  size_t at = 0;
  if (NextHfsChar(name, at) != '.') return false;
  for (char want : needle) {
    uint32_t c = NextHfsChar(name, at);
    if (c > 127 || static_cast<char>(absl::ascii_tolower(static_cast<unsigned char>(c))) != want) return false;
  }
  return NextHfsChar(name, at) == 0;
}

}  // namespace

bool IsGitDirName(absl::string_view name) {
  return IsNtfsDotGit(name) || IsHfsDotGeneric(name, "git");
}

bool IsGitModulesName(absl::string_view name) {
  return IsNtfsDotGeneric(name, "gitmodules", "gi7eba") || IsHfsDotGeneric(name, "gitmodules");
}

}  // namespace airlock::run
