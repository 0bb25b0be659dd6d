// Linux capability names (linux/capability.h, up to CAP_CHECKPOINT_RESTORE) and which of them weaken
// the sandbox.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace airlock::policy {

// All names the kernel knows, in bit order ("CAP_CHOWN" is bit 0).
const std::vector<std::string>& KernelCapabilityNames();

bool IsKernelCapability(absl::string_view name);

// Why a capability weakens the sandbox, in a few words; "" for the harmless ones.
absl::string_view CapabilityRisk(absl::string_view name);

}  // namespace airlock::policy
