#include "policy/duration_size.h"

#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace airlock::policy {
namespace {

struct Unit {
  absl::string_view suffix;
  int shift;
};
constexpr Unit kUnits[] = {{"Ti", 40}, {"Gi", 30}, {"Mi", 20}, {"Ki", 10}};

}  // namespace

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  const std::string quoted = absl::StrCat("\"", text, "\"");
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad size ", quoted, ": ", why, " (want bytes or a number with Ki, Mi, Gi or Ti, e.g. 512Mi)"));
  };
  absl::string_view digits = text;
  int shift = 0;
  for (const Unit& unit : kUnits) {
    if (absl::EndsWith(text, unit.suffix)) {
      digits.remove_suffix(unit.suffix.size());
      shift = unit.shift;
      break;
    }
  }
  if (digits.empty()) return bad("no number");
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      if (absl::EndsWith(text, "B") || absl::EndsWith(text, "b")) return bad("no B suffix: Mi means MiB");
      if (shift == 0 && (absl::EndsWith(text, "K") || absl::EndsWith(text, "M") || absl::EndsWith(text, "G") ||
                         absl::EndsWith(text, "k"))) {
        return bad("decimal units are ambiguous, use Ki, Mi or Gi");
      }
      return bad("not a whole number with a unit");
    }
  }
  uint64_t value = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (char c : digits) {
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (kMax - digit) / 10) return bad("too large");
    value = value * 10 + digit;
  }
  if (shift > 0 && value > (kMax >> shift)) return bad("too large");
  return value << shift;
}

std::string FormatByteSize(uint64_t bytes) {
  for (const Unit& unit : kUnits) {
    uint64_t one = uint64_t{1} << unit.shift;
    if (bytes != 0 && bytes % one == 0) return absl::StrCat(bytes / one, unit.suffix);
  }
  return absl::StrCat(bytes);
}

std::string HumanByteSize(uint64_t bytes) {
  for (const Unit& unit : kUnits) {
    uint64_t one = uint64_t{1} << unit.shift;
    if (bytes >= one) {
      if (bytes % one == 0) return absl::StrCat(bytes / one, " ", unit.suffix, "B");
      return absl::StrFormat("%.1f %sB", static_cast<double>(bytes) / static_cast<double>(one), unit.suffix);
    }
  }
  return absl::StrCat(bytes, bytes == 1 ? " byte" : " bytes");
}

absl::StatusOr<absl::Duration> ParseGoDuration(absl::string_view text) {
  absl::Duration duration;
  // absl also reads "inf": a deadline must be finite.
  if (absl::StrContains(text, "inf") || !absl::ParseDuration(std::string(text), &duration)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad duration \"", text, "\" (want a number with a unit: ms, s, m or h, e.g. 30s or 10m)"));
  }
  if (duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("negative duration \"", text, "\""));
  }
  return duration;
}

std::string FormatGoDuration(absl::Duration duration) { return absl::FormatDuration(duration); }

}  // namespace airlock::policy
