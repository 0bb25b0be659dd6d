#include "shim/bootstrap/defaults.h"

#include <cstdlib>

namespace airlock::bootstrap {

runc::Config DefaultRuncConfig(const std::string& ns) {
  runc::Config config;
  const char* binary = std::getenv("AIRLOCK_RUNTIME_BINARY");
  if (binary != nullptr && *binary != '\0') config.binary = binary;
  config.root = "/run/airlock/runc/" + ns;
  return config;
}

std::string HostConfigPath() {
  const char* path = std::getenv("AIRLOCK_CONFIG");
  return path != nullptr && *path != '\0' ? path : "/etc/airlock/config.yaml";
}

}  // namespace airlock::bootstrap
