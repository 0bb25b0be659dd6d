// What an exec into a sandbox really runs: containerd builds exec processes from the container's
// ORIGINAL spec (its capabilities, its environment with the secrets), so each one is brought under
// the policy here, and after the seal also under the execution seccomp filter via airlock-init.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policy/model.h"

namespace airlock::sandbox {

// Always: every capability set limited to the policy's, no_new_privileges. After the seal: args
// become [init_path, "exec", "--", args...] and the secrets' names leave the environment.
absl::StatusOr<std::string> RewriteExecSpec(const std::string& spec_json, const policy::Policy& policy, bool sealed,
                                            absl::string_view init_path);

}  // namespace airlock::sandbox
