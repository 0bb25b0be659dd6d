#include "cmd/shim_extensions.h"

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "policy/load.h"
#include "policy/sandbox/sandbox.h"
#include "policy/sandbox/sandbox_manager.h"

namespace airlock {
namespace {

// The airlock host config: AIRLOCK_CONFIG, else /etc/airlock/config.yaml.
std::string HostConfigPath() {
  const char* path = std::getenv("AIRLOCK_CONFIG");
  return path != nullptr && *path != '\0' ? path : std::string(policy::kHostConfigPath);
}

// runc's state where containerd's runc shim keeps it, /run/containerd/runc/<namespace>, or under
// the host config's runtime.root. The runtime binary: AIRLOCK_RUNTIME_BINARY, else the host
// config's runtime.binary (e.g. crun), else runc.
runc::Config RuncDefaults(const std::string& ns) {
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

// The shim protocol `start` offers: AIRLOCK_SHIM_PROTOCOL, else the host config's shim.protocol.
absl::StatusOr<bootstrap::Protocol> OfferedProtocol() {
  const char* text = std::getenv("AIRLOCK_SHIM_PROTOCOL");
  if (text != nullptr && *text != '\0') return bootstrap::ParseProtocol(text);
  absl::StatusOr<policy::HostConfig> host = policy::LoadHostConfig(HostConfigPath());
  if (!host.ok()) return host.status();
  return host->shim_protocol;
}

}  // namespace

bootstrap::Extensions AirlockShimExtensions() {
  bootstrap::Extensions extensions;
  extensions.runc_defaults = RuncDefaults;
  extensions.protocol = OfferedProtocol;
  extensions.sandboxes = [](const bootstrap::ServerParts& parts) -> task::SandboxHooks* {
    sandbox::SandboxEnv env{.reactor = &parts.reactor,
                            .pool = &parts.pool,
                            .ns = parts.ns,
                            .host_config_path = HostConfigPath(),
                            .init_binary = sandbox::FindInitBinary(),
                            .cgroup_of = parts.cgroup_of};
    auto* sandboxes = new sandbox::SandboxManager(env);  // lives as long as the server
    sandboxes->Register(parts.registry);
    return sandboxes;
  };
  extensions.cleanup_after_crash = [](const std::string& ns, const std::string& id) {
    absl::Status cleaned = sandbox::Sandbox::CleanupAfterCrash("/run/airlock", ns, id);
    if (cleaned.ok()) return cleaned;
    return absl::Status(cleaned.code(), absl::StrCat("airlock cleanup: ", cleaned.message()));
  };
  return extensions;
}

}  // namespace airlock
