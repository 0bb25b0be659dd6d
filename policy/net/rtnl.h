// Route-netlink operations the sandbox network needs (links, addresses, routes, rules), on top of
// NetlinkSocket. Each operation acts in the network namespace of the socket it is given.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policy/net/netlink.h"

namespace airlock::net {

inline constexpr int kLoopbackIndex = 1;  // lo is always ifindex 1 in its netns

struct Link {
  int index = 0;
  std::string name;
  uint32_t flags = 0;  // IFF_*
  std::string kind;    // IFLA_INFO_KIND ("veth", "bridge", ...); empty for lo and kind-less devices
  std::string ToString() const;
};

struct Address {
  uint8_t family = 0;
  int index = 0;
  uint8_t prefix_len = 0;
  uint8_t scope = 0;
  std::vector<uint8_t> address;  // IFA_LOCAL, else IFA_ADDRESS (4 or 16 bytes for inet/inet6)
  std::vector<uint8_t> peer;     // IFA_ADDRESS when it differs from IFA_LOCAL (point-to-point)
  std::string ToString() const;
};

struct Route {
  uint8_t family = 0;
  uint32_t table = 0;  // RTA_TABLE when present, else rtm_table
  uint8_t type = 0;    // RTN_*
  uint8_t protocol = 0;
  uint8_t scope = 0;
  uint8_t dst_len = 0;
  std::vector<uint8_t> dst;  // empty: the default route (dst_len 0)
  std::optional<int> oif;
  bool has_gateway = false;  // RTA_GATEWAY or RTA_VIA
  bool multipath = false;    // RTA_MULTIPATH
  std::string ToString() const;
};

struct Rule {
  uint8_t family = 0;
  uint32_t priority = 0;
  uint32_t table = 0;  // FRA_TABLE when present, else the header's
  uint8_t action = 0;  // FR_ACT_*
  uint8_t src_len = 0;
  uint8_t dst_len = 0;
  uint8_t tos = 0;
  std::vector<uint16_t> selectors;  // attribute types that narrow the match (iif, oif, fwmark, ...)
  std::string ToString() const;
};

// Strict decoders of one message payload (RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWRULE).
absl::StatusOr<Link> ParseLink(std::span<const uint8_t> payload);
absl::StatusOr<Address> ParseAddress(std::span<const uint8_t> payload);
absl::StatusOr<Route> ParseRoute(std::span<const uint8_t> payload);
absl::StatusOr<Rule> ParseRule(std::span<const uint8_t> payload);

// Dumps. Families: AF_UNSPEC for all (addresses), AF_INET / AF_INET6 (routes, rules). Routes of
// every table.
absl::StatusOr<std::vector<Link>> ListLinks(NetlinkSocket& socket);
absl::StatusOr<std::vector<Address>> ListAddresses(NetlinkSocket& socket, uint8_t family);
absl::StatusOr<std::vector<Route>> ListRoutes(NetlinkSocket& socket, uint8_t family);
absl::StatusOr<std::vector<Rule>> ListRules(NetlinkSocket& socket, uint8_t family);

// The index of the link called `name` in the socket's netns; NotFound when there is none. By
// SIOCGIFINDEX on the socket, which the kernel answers under RCU: an RTM_GETLINK request would wait
// for the rtnl lock, which many sandboxes starting at once keep busy.
absl::StatusOr<int> LinkIndex(NetlinkSocket& socket, absl::string_view name);

// Ipv6LinkLocal::kNone: the link gets no IPv6 address of its own (addrgenmode none), so no link-local
// address, no duplicate address detection, no router solicitation: nothing that reaches the far end
// over IPv6 and no delayed kernel work under rtnl. Set in the same request, before the carrier can
// come up (a veth has none while its peer is down). On a host or link without IPv6 the link just
// comes up.
enum class Ipv6LinkLocal { kKernelDefault, kNone };
absl::Status SetLinkUp(NetlinkSocket& socket, int index, Ipv6LinkLocal ipv6 = Ipv6LinkLocal::kKernelDefault);

// A veth pair made in one request: `name` in the socket's netns (or in `netns_fd` when >= 0), its
// peer created directly in `peer_netns_fd` (when >= 0): no link ever moves between namespaces.
// Both ends are created down; bring them up with SetLinkUp in their namespaces (the kernel cannot
// open the peer inside the creating request: veth_open fails with ENOTCONN before the pair is
// linked).
struct VethSpec {
  std::string name;
  int netns_fd = -1;
  std::string peer_name;
  int peer_netns_fd = -1;
};
absl::Status CreateVeth(NetlinkSocket& socket, const VethSpec& spec);

// NotFound when no such link exists.
absl::Status DeleteLinkByName(NetlinkSocket& socket, absl::string_view name);

// IPv4 addresses and routes; addresses in host byte order.
absl::Status AddIpv4Address(NetlinkSocket& socket, int index, uint32_t address, int prefix_len);
absl::Status AddIpv4DefaultRoute(NetlinkSocket& socket, uint32_t gateway, int oif);

// "unicast", "local", "blackhole", ... for RTN_* values.
std::string RouteTypeName(uint8_t type);

// Printable address bytes (inet_ntop for 4/16 bytes, hex otherwise).
std::string FormatAddressBytes(uint8_t family, std::span<const uint8_t> bytes);

}  // namespace airlock::net
