// Where the sandbox's HTTP proxy may connect. The proxy resolves a host name for the sandbox; without
// a guard, a name that resolves to 127.0.0.1, 169.254.169.254 (the cloud metadata address, where a
// node's credentials live), a private neighbour or the host's own address would reach it from
// inside. The proxy checks each resolved address here and connects only to the address it checked,
// so a second resolution cannot swap it (DNS rebinding).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace airlock::proxy {

// An address the proxy may connect to, IPv4 or IPv6, with its port (a sockaddr_in / sockaddr_in6 inside).
struct Endpoint {
  sockaddr_storage address{};
  socklen_t length = 0;
};

// "198.18.0.2:443", "[2001:db8::1]:443"; "<invalid endpoint>" for anything else.
std::string ToString(const Endpoint& endpoint);

// Parses a numeric IPv4 or IPv6 literal ("1.2.3.4", "::1", "[::1]" too); nullopt otherwise (no DNS, no
// inet_aton shorthand like "127.1" or "0x7f.1": strict dotted quad only, each part 0-255 without leading
// zeros; no IPv6 zone ids like "%eth0", no spaces).
std::optional<Endpoint> ParseIpLiteral(std::string_view text, uint16_t port);

struct AddressGuard {
  std::vector<std::string> allow;         // CIDRs (IPv4 "a.b.c.d/n" or IPv6 "x::/n") allowed although not global
  std::vector<Endpoint> local_addresses;  // the connecting side's own addresses (ports ignored): always refused

  // Builds one; InvalidArgument naming the bad CIDR (malformed, prefix too long, host bits set).
  static absl::StatusOr<AddressGuard> Make(std::vector<std::string> allow_cidrs, std::vector<Endpoint> local);
};

// Why `endpoint` is refused ("link-local 169.254.0.0/16 (cloud metadata)", "loopback 127.0.0.0/8",
// "the host's own address", "private 10.0.0.0/8", ...), or nullopt when it may be connected to.
//
// Order: the host's own addresses, loopback (127/8, ::1) and the unspecified addresses (0.0.0.0/8, ::)
// are refused whatever `allow` says; then an allowed CIDR wins; then everything that is not global
// unicast is refused. IPv4-mapped (::ffff:0:0/96) and NAT64 (64:ff9b::/96) addresses are judged as
// their embedded IPv4 address, by the IPv4 rules and IPv4 CIDRs of `allow`. An entry of `allow` that
// does not parse (a guard built without Make) allows nothing.
std::optional<std::string> RefusalReason(const Endpoint& endpoint, const AddressGuard& guard);

// This process's (this network namespace's) interface addresses, from getifaddrs(); for `local_addresses`.
absl::StatusOr<std::vector<Endpoint>> LocalAddresses();

}  // namespace airlock::proxy
