// Where a sandbox's setup may send through a NAT uplink. The host (`nat`) or the pod (`pod`) is
// the sandbox's router; without a guard it forwards to everything the router reaches: the cloud
// metadata address (169.254.169.254, where a node's credentials live), the node's neighbours and
// private networks, its loopback services. The guard drops those destinations in the uplink's
// forward chain, before the masquerade, unless the host config allows a range.
#pragma once

#include <string>
#include <vector>

namespace airlock::net {

struct ForwardGuard {
  std::vector<std::string> drop;   // IPv4 CIDRs, disjoint
  std::vector<std::string> allow;  // IPv4 CIDRs, disjoint; checked before `drop`
};

// IPv4 that is not global unicast (RFC 6890's special-purpose registry): this network, private,
// shared (CGNAT), loopback, link-local (the metadata address), IETF protocol assignments,
// documentation, benchmarking, 6to4 relays, multicast, reserved and broadcast. For `nat`.
const std::vector<std::string>& NonGlobalIpv4();

// What is never a pod's business beyond its own network: this network, loopback, link-local (the
// metadata address), multicast, reserved and broadcast. The cluster's private ranges stay
// reachable, as they are for the pod itself. For `pod`.
const std::vector<std::string>& NodeLocalIpv4();

}  // namespace airlock::net
