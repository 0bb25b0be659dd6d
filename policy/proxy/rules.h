// What the proxy lets through in one phase: hosts (the policy's allowlist and preset), ports and
// plain-HTTP methods. Setup (`uplink: proxy`) and execution (`network.execution: proxy`) differ
// only in the methods; a phase without proxy access refuses everything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "policy/model.h"

namespace airlock::proxy {

struct ProxyRules {
  bool serves = false;                 // false: this phase has no proxy access
  bool any_host = false;               // preset all
  std::vector<std::string> patterns;   // canonical (policy/host_names.h)
  bool any_method = false;
  std::vector<std::string> methods;
  std::vector<uint16_t> ports;

  static ProxyRules ForSetup(const policy::Network& network);
  static ProxyRules ForExecution(const policy::Network& network);

  // Why a request is refused, or nullopt. `host` is canonical; an IP literal passes only when
  // listed itself (preset all included: "any host" means any name).
  std::optional<std::string> RefuseHost(absl::string_view host) const;
  std::optional<std::string> RefusePort(uint16_t port) const;
  std::optional<std::string> RefuseMethod(absl::string_view method) const;
};

}  // namespace airlock::proxy
