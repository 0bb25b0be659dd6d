// Readers for the value kinds policy files and host configs share (version, paths, sizes, durations,
// enums, env names), on top of yaml_reader.h. Internal to policy/.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "policy/yaml_reader.h"

namespace airlock::policy::yaml {

// `version: 1` (a plain number; the only version there is).
void ReadVersion(const Field& field, Errors& errors);

// A clean absolute path (see CleanAbsolutePath); `what` names it in errors ("netns path").
std::optional<std::string> ReadAbsolutePath(const Field& field, Errors& errors);

// A byte size > 0 ("512Mi").
std::optional<uint64_t> ReadByteSize(const Field& field, Errors& errors);

// A Go-style duration within [min, max].
std::optional<absl::Duration> ReadDuration(const Field& field, absl::Duration min, absl::Duration max,
                                           Errors& errors);

// Whether `name` is a valid environment variable name: [A-Za-z_][A-Za-z0-9_]*.
bool IsEnvName(absl::string_view name);

// "a", "a or b", "a, b or c".
std::string OrList(const std::vector<absl::string_view>& words);

// One of the spellings in `choices`; otherwise `unknown value "x" (want a or b)`.
template <typename T>
std::optional<T> ReadEnum(const Field& field, std::initializer_list<std::pair<absl::string_view, T>> choices,
                          Errors& errors) {
  std::optional<std::string> text = ReadString(field, errors);
  if (!text) return std::nullopt;
  std::vector<absl::string_view> spellings;
  for (const auto& [spelling, value] : choices) {
    if (*text == spelling) return value;
    spellings.push_back(spelling);
  }
  errors.At(field, absl::StrCat("unknown value \"", *text, "\" (want ", OrList(spellings), ")"));
  return std::nullopt;
}

}  // namespace airlock::policy::yaml
