// The policy's resource limits as the container's linux.resources: each a CEILING over what the spec
// asks (a Kubernetes limit lower than the policy's stays; none, or a higher one, becomes the
// policy's). runc writes them to the container's cgroup, v1 or v2 alike. A pure function.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "policy/model.h"

namespace airlock::policy {

// `swap_limit_supported`: the host's memory cgroup can limit swap (cgroup v2, or v1 with
// memory.memsw.*; runc fails a v1 container whose spec sets swap when swap accounting is off).
absl::Status ApplyResourceCeilings(nlohmann::json& linux_spec, const Resources& resources, bool swap_limit_supported,
                                   std::vector<std::string>* notes);

}  // namespace airlock::policy
