// The host lists behind network.proxy.preset. `common-dependencies` is examples/proxy/
// common-dependencies.txt, built in: a policy's meaning does not depend on a file on the node.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "policy/model.h"

namespace airlock::policy {

// The canonical patterns of `preset` (none: empty; all: empty too, all is not a list).
const std::vector<std::string>& PresetHosts(ProxyPreset preset);

// The built-in text of the common-dependencies preset (what PresetHosts parsed).
absl::string_view CommonDependenciesText();

}  // namespace airlock::policy
