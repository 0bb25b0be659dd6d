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

}  // namespace airlock::bootstrap
