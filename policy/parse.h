// Policy files: strict YAML -> Policy. Unknown keys, wrong types and bad values are InvalidArgument
// errors, one line each, "file:line:column: key.path: message", sorted by position; ALL errors found
// are reported (at most 20). No exception leaves this module.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policy/model.h"

namespace airlock::policy {

absl::StatusOr<Policy> ParsePolicy(absl::string_view yaml, absl::string_view file_name);

// "sha256:" + hex of the file's bytes: what audit records and `airlock policy check` name a policy by.
std::string PolicyDigest(absl::string_view yaml);

}  // namespace airlock::policy
