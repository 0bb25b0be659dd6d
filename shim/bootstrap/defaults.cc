#include "shim/bootstrap/defaults.h"

#include <cstdlib>

#include "policy/load.h"

namespace airlock::bootstrap {

runc::Config DefaultRuncConfig(const std::string& ns) {
  runc::Config config;
  std::string state_parent = runc::kDefaultStateParent;
  if (absl::StatusOr<policy::HostConfig> host = policy::LoadHostConfig(HostConfigPath()); host.ok()) {
    config.binary = host->runtime_binary;
    state_parent = host->runtime_root;
  }
  const char* binary = std::getenv("AIRLOCK_RUNTIME_BINARY");
  if (binary != nullptr && *binary != '\0') config.binary = binary;
  config.root = runc::StateRoot(state_parent, ns);
  return config;
}

absl::StatusOr<Protocol> ConfiguredProtocol() {
  const char* text = std::getenv("AIRLOCK_SHIM_PROTOCOL");
  if (text != nullptr && *text != '\0') return ParseProtocol(text);
  absl::StatusOr<policy::HostConfig> host = policy::LoadHostConfig(HostConfigPath());
  if (!host.ok()) return host.status();
  return host->shim_protocol;
}

std::string HostConfigPath() {
  const char* path = std::getenv("AIRLOCK_CONFIG");
  return path != nullptr && *path != '\0' ? path : "/etc/airlock/config.yaml";
}

}  // namespace airlock::bootstrap
