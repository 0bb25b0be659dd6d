// The scalar syntaxes of policy files: byte sizes ("512Mi", "64Ki", "1Gi", "1048576") and Go-style
// durations ("500ms", "30s", "10m", "1h30m").
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace airlock::policy {

// Digits, optionally followed by Ki, Mi, Gi or Ti (powers of 1024). Errors say what is wrong in words
// (no file or key: the caller adds those).
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

// The shortest exact spelling ParseByteSize reads back: "512Mi", "1000".
std::string FormatByteSize(uint64_t bytes);

// For people: "512 MiB", "1000 bytes", "1.5 GiB".
std::string HumanByteSize(uint64_t bytes);

// A finite, non-negative Go-style duration (units ns, us, ms, s, m, h; "1h30m", "1.5h").
absl::StatusOr<absl::Duration> ParseGoDuration(absl::string_view text);

// "10m", "1h30m", "500ms".
std::string FormatGoDuration(absl::Duration duration);

}  // namespace airlock::policy
