#include "policy/parse_fields.h"

#include "absl/strings/ascii.h"
#include "policy/duration_size.h"
#include "policy/path_rules.h"

namespace airlock::policy::yaml {

void ReadVersion(const Field& field, Errors& errors) {
  if (!field.value.IsScalar()) {
    errors.At(field, absl::StrCat("want the number 1, got ", Describe(field.value)));
    return;
  }
  const std::string& text = field.value.Scalar();
  if (field.value.Tag() == "!") {
    errors.At(field, absl::StrCat("want the number 1, got the string \"", text, "\" (drop the quotes)"));
  } else if (text != "1") {
    errors.At(field, absl::StrCat("unsupported version \"", text, "\" (want 1)"));
  }
}

std::optional<std::string> ReadAbsolutePath(const Field& field, Errors& errors) {
  std::optional<std::string> text = ReadString(field, errors);
  if (!text) return std::nullopt;
  absl::StatusOr<std::string> clean = CleanAbsolutePath(*text);
  if (!clean.ok()) {
    errors.At(field, absl::StrCat(clean.status().message(), " (want an absolute path without \"..\")"));
    return std::nullopt;
  }
  return *clean;
}

std::optional<uint64_t> ReadByteSize(const Field& field, Errors& errors) {
  std::optional<std::string> text = ReadString(field, errors);
  if (!text) return std::nullopt;
  absl::StatusOr<uint64_t> size = ParseByteSize(*text);
  if (!size.ok()) {
    errors.At(field, size.status().message());
    return std::nullopt;
  }
  if (*size == 0) {
    errors.At(field, "size must be more than 0");
    return std::nullopt;
  }
  return *size;
}

std::optional<absl::Duration> ReadDuration(const Field& field, absl::Duration min, absl::Duration max,
                                           Errors& errors) {
  std::optional<std::string> text = ReadString(field, errors);
  if (!text) return std::nullopt;
  absl::StatusOr<absl::Duration> duration = ParseGoDuration(*text);
  if (!duration.ok()) {
    errors.At(field, duration.status().message());
    return std::nullopt;
  }
  if (*duration < min || *duration > max) {
    errors.At(field, absl::StrCat("duration \"", *text, "\" out of range (want ", FormatGoDuration(min), " to ",
                                  FormatGoDuration(max), ")"));
    return std::nullopt;
  }
  return *duration;
}

std::string OrList(const std::vector<absl::string_view>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) absl::StrAppend(&out, i + 1 == words.size() ? " or " : ", ");
    absl::StrAppend(&out, words[i]);
  }
  return out;
}

bool IsEnvName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

}  // namespace airlock::policy::yaml
