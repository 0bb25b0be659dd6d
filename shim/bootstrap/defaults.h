// Host-wide defaults of the shim, overridable through the environment containerd passes on.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "shim/bootstrap/address.h"
#include "shim/runc/runc.h"

namespace airlock::bootstrap {

// runc state lives where containerd's runc shim keeps it, /run/containerd/runc/<namespace> (tools
// and containerd's own tests look for it there), or under the host config's runtime.root. The
// runtime binary: AIRLOCK_RUNTIME_BINARY, else the host config's runtime.binary (e.g. crun),
// else runc.
runc::Config DefaultRuncConfig(const std::string& ns);

// The shim protocol `start` offers: AIRLOCK_SHIM_PROTOCOL, else the host config's shim.protocol.
absl::StatusOr<Protocol> ConfiguredProtocol();

// The airlock host config: AIRLOCK_CONFIG, else /etc/airlock/config.yaml.
std::string HostConfigPath();

}  // namespace airlock::bootstrap
