// The seal's verification: read back, inside the sandbox netns, everything that could carry a packet
// out, and accept only loopback. Fail closed: anything unknown or unreadable is a violation.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "policy/net/net_dev.h"
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

// Judges the sandbox netns: its devices from `devices` (opened inside it; only lo may be listed),
// then, through `sandbox` (a socket opened inside it), IPv4 and IPv6 addresses, routes of every
// table and policy rules. A passing check takes no rtnl lock on Linux >= 6.9 (the device list is
// walked under RCU, the address, route and rule dumps of one family run unlocked), so a seal is not
// queued behind other sandboxes' netns and veth setup for its reads. A read error is a violation.
// With kDump, a device list showing more than lo is described from an RTM_GETLINK dump (kinds,
// indexes, flags; that dump does wait for rtnl); kNames reports the names alone, for polling.
enum class LinkDetail { kNames, kDump };
SealCheck CheckLoopbackOnly(NetlinkSocket& sandbox, const NetDevList& devices,
                            LinkDetail detail = LinkDetail::kDump);

}  // namespace airlock::net
