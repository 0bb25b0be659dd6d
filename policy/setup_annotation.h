// The annotation airlock.dev/setup: the setup command when the policy has none, either a JSON array
// of strings (["npm", "ci"]) or a shell string run with `sh -c`.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace airlock::policy {

// A value starting with "[" (after blanks) must be a non-empty JSON array of strings; anything else
// non-blank becomes {"sh", "-c", value}. Errors are InvalidArgument naming the annotation.
absl::StatusOr<std::vector<std::string>> ParseSetupAnnotation(absl::string_view value);

}  // namespace airlock::policy
