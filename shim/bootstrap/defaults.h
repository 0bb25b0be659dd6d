// Host-wide defaults of the shim, overridable through the environment containerd passes on.
#pragma once

#include <string>

#include "shim/runc/runc.h"

namespace airlock::bootstrap {

// runc state lives under /run/airlock/runc/<namespace>: ours, apart from containerd's runc shim.
// AIRLOCK_RUNTIME_BINARY selects another runc-compatible runtime (e.g. crun).
runc::Config DefaultRuncConfig(const std::string& ns);

// The airlock host config: AIRLOCK_CONFIG, else /etc/airlock/config.yaml.
std::string HostConfigPath();

}  // namespace airlock::bootstrap
