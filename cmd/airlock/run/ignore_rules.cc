#include "cmd/airlock/run/ignore_rules.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "cmd/airlock/run/wildmatch.h"

namespace airlock::run {
namespace {

// A longer line is skipped whole (git would use it): it bounds the matcher's work per pattern.
constexpr size_t kMaxPatternLine = 4096;

constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";

bool IsGlobSpecial(char c) { return c == '*' || c == '?' || c == '[' || c == '\\'; }

// git's simple_length(): the bytes before the first wildcard or escape, compared as they are.
size_t LiteralPrefix(absl::string_view s) {
  size_t n = 0;
  while (n < s.size() && !IsGlobSpecial(s[n])) ++n;
  return n;
}

// git's trim_trailing_spaces(): drops the trailing run of ' ' (not tabs) unless its first space
// is escaped; a line ending in a lone '\' keeps its spaces.
absl::string_view TrimTrailingSpaces(absl::string_view s) {
  size_t last_space = absl::string_view::npos;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ' ') {
      if (last_space == absl::string_view::npos) last_space = i;
      continue;
    }
    if (s[i] == '\\' && ++i == s.size()) return s;
    last_space = absl::string_view::npos;
  }
  return s.substr(0, last_space);
}

// git's match_basename() / match_pathname(). An anchored pattern's literal prefix is compared
// first and only the rest goes through wildmatch, as in git: that matters, e.g. "a**/b" then
// starts with a whole-component "**" and matches "ax/y/b".
bool PatternMatches(absl::string_view base, absl::string_view pattern, bool anchored,
                    absl::string_view path) {
  size_t prefix = LiteralPrefix(pattern);
  if (!anchored) {
    absl::string_view name = path.substr(path.rfind('/') + 1);  // npos + 1 == 0
    if (prefix == pattern.size()) return name == pattern;
    return WildMatch(pattern, name);
  }
  absl::string_view name = path;
  if (!base.empty()) {
    if (name.size() <= base.size() || name[base.size()] != '/' || !absl::StartsWith(name, base)) {
      return false;
    }
    name.remove_prefix(base.size() + 1);
  }
  if (prefix > 0) {
    if (prefix > name.size() || name.substr(0, prefix) != pattern.substr(0, prefix)) return false;
    pattern.remove_prefix(prefix);
    name.remove_prefix(prefix);
    if (pattern.empty() && name.empty()) return true;
  }
  return WildMatch(pattern, name);
}

}  // namespace

void IgnoreRules::Push(absl::string_view dir, absl::string_view gitignore_text) {
  Level level;
  level.base = std::string(dir);
  absl::string_view text = gitignore_text;
  if (absl::StartsWith(text, kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
  while (!text.empty()) {
    // git reads the last line the same with or without its '\n'.
    size_t end = std::min(text.find('\n'), text.size());
    absl::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    if (line.empty() || line[0] == '#' || line.size() > kMaxPatternLine) continue;
    if (line.back() == '\r') line.remove_suffix(1);
    line = line.substr(0, line.find('\0'));  // git holds each line as a C string
    line = TrimTrailingSpaces(line);

    Pattern pattern;
    if (!line.empty() && line[0] == '!') {
      pattern.negated = true;
      line.remove_prefix(1);
    }
    if (!line.empty() && line.back() == '/') {
      pattern.dir_only = true;
      line.remove_suffix(1);
    }
    pattern.anchored = line.find('/') != absl::string_view::npos;
    if (pattern.anchored && line[0] == '/') line.remove_prefix(1);
    // An empty pattern ("!", "/", a line of spaces) matches no name: git keeps it to no effect.
    if (line.empty()) continue;
    pattern.text = std::string(line);
    level.patterns.push_back(std::move(pattern));
  }
  levels_.push_back(std::move(level));
}

void IgnoreRules::Pop() {
  if (!levels_.empty()) levels_.pop_back();
}

bool IgnoreRules::IsIgnored(absl::string_view path, bool is_dir) const {
  // The deepest .gitignore with a matching pattern decides; within one, its last matching pattern.
  for (auto level = levels_.rbegin(); level != levels_.rend(); ++level) {
    for (auto pattern = level->patterns.rbegin(); pattern != level->patterns.rend(); ++pattern) {
      if (pattern->dir_only && !is_dir) continue;
      if (PatternMatches(level->base, pattern->text, pattern->anchored, path)) {
        return !pattern->negated;
      }
    }
  }
  return false;
}

}  // namespace airlock::run
