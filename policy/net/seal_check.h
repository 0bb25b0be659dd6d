// The seal's verification: read back, over netlink inside the sandbox netns, everything that could
// carry a packet out, and accept only loopback. Fail closed: anything unknown or unreadable is a
// violation.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "policy/net/netlink.h"
#include "policy/net/rtnl.h"

namespace airlock::net {

struct SealCheck {
  bool verified = false;
  // Everything found (printable), for the audit log.
  std::vector<std::string> links;
  std::vector<std::string> addresses;
  std::vector<std::string> routes;
  std::vector<std::string> rules;
  // Why it is not verified (empty when verified).
  std::vector<std::string> violations;
};

// Each returns the reason the object breaks the seal, or nothing when it is loopback-only.
// Links: only `lo` (ifindex 1, IFF_LOOPBACK, no link kind).
std::optional<std::string> LinkViolation(const Link& link);
// Addresses: on lo only, inside 127.0.0.0/8 or ::1.
std::optional<std::string> AddressViolation(const Address& address);
// Routes (every table): local/broadcast/unicast routes to a loopback destination out of lo, no
// gateway, no multipath.
std::optional<std::string> RouteViolation(const Route& route);
// Policy rules: only the kernel's defaults (0 local, 32766 main, 32767 default) without selectors.
std::optional<std::string> RuleViolation(const Rule& rule);

// Dumps links, addresses (all families), IPv4 and IPv6 routes of every table and IPv4 and IPv6 rules
// through `sandbox` (a socket opened inside the sandbox netns) and judges them. A netlink error is a
// violation.
SealCheck CheckLoopbackOnly(NetlinkSocket& sandbox);

}  // namespace airlock::net
