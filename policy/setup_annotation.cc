#include "policy/setup_annotation.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "policy/source.h"

namespace airlock::policy {

absl::StatusOr<std::vector<std::string>> ParseSetupAnnotation(absl::string_view value) {
  auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("annotation ", kSetupAnnotation, ": ", why,
                                                   " (want a JSON array of strings or a shell command)"));
  };
  if (value.find('\0') != absl::string_view::npos) return bad("contains a NUL byte");
  absl::string_view trimmed = absl::StripAsciiWhitespace(value);
  if (trimmed.empty()) return bad("empty");
  if (trimmed[0] != '[') return std::vector<std::string>{"sh", "-c", std::string(value)};
  nlohmann::json json = nlohmann::json::parse(trimmed.begin(), trimmed.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return bad("starts with \"[\" but is not valid JSON");
  if (!json.is_array() || json.empty()) return bad("an empty array");
  std::vector<std::string> command;
  for (const nlohmann::json& item : json) {
    if (!item.is_string()) return bad("every array item must be a string");
    command.push_back(item.get<std::string>());
  }
  if (command.front().empty()) return bad("the program (first word) is empty");
  return command;
}

}  // namespace airlock::policy
