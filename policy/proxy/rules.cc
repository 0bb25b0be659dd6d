#include "policy/proxy/rules.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "policy/host_names.h"
#include "policy/proxy_presets.h"

namespace airlock::proxy {
namespace {

ProxyRules HostsAndPorts(const policy::Proxy& proxy) {
  ProxyRules rules;
  rules.serves = true;
  rules.any_host = proxy.preset == policy::ProxyPreset::kAll;
  rules.patterns = policy::PresetHosts(proxy.preset);
  rules.patterns.insert(rules.patterns.end(), proxy.allow.begin(), proxy.allow.end());
  rules.ports = proxy.ports;
  return rules;
}

}  // namespace

ProxyRules ProxyRules::ForSetup(const policy::Network& network) {
  if (network.setup.uplink.kind != policy::UplinkKind::kProxy) return ProxyRules{};
  ProxyRules rules = HostsAndPorts(network.proxy);
  rules.any_method = !network.proxy.setup_methods.has_value();
  if (network.proxy.setup_methods) rules.methods = *network.proxy.setup_methods;
  return rules;
}

ProxyRules ProxyRules::ForExecution(const policy::Network& network) {
  if (network.execution != policy::ExecutionNetwork::kProxy) return ProxyRules{};
  ProxyRules rules = HostsAndPorts(network.proxy);
  rules.methods = network.proxy.methods;
  return rules;
}

std::optional<std::string> ProxyRules::RefuseHost(absl::string_view host) const {
  if (!serves) return "the proxy serves no requests in this phase";
  for (const std::string& pattern : patterns) {
    if (policy::HostMatches(pattern, host)) return std::nullopt;
  }
  if (any_host && !policy::IsIpLiteral(host)) return std::nullopt;
  if (policy::IsIpLiteral(host)) return absl::StrCat("the address ", host, " is not in the allowlist");
  return absl::StrCat("host ", host, " is not in the allowlist");
}

std::optional<std::string> ProxyRules::RefusePort(uint16_t port) const {
  if (!serves) return "the proxy serves no requests in this phase";
  if (std::find(ports.begin(), ports.end(), port) != ports.end()) return std::nullopt;
  return absl::StrCat("port ", port, " is not allowed");
}

std::optional<std::string> ProxyRules::RefuseMethod(absl::string_view method) const {
  if (!serves) return "the proxy serves no requests in this phase";
  if (any_method || std::find(methods.begin(), methods.end(), method) != methods.end()) return std::nullopt;
  return absl::StrCat("method ", method, " is not allowed");
}

}  // namespace airlock::proxy
