// IPv4 addresses and prefixes (host byte order) and the choice of an uplink subnet from a pool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace airlock::net {

struct Ipv4Prefix {
  uint32_t address = 0;  // host byte order
  int length = 0;        // 0..32
  bool operator==(const Ipv4Prefix&) const = default;
};

absl::StatusOr<uint32_t> ParseIpv4(absl::string_view text);
// "a.b.c.d/n"; with `require_network`, host bits must be zero.
absl::StatusOr<Ipv4Prefix> ParseIpv4Prefix(absl::string_view text, bool require_network = true);
std::string FormatIpv4(uint32_t address);
std::string FormatIpv4Prefix(const Ipv4Prefix& prefix);

uint32_t PrefixMask(int length);
// True when the two prefixes share an address.
bool Overlaps(const Ipv4Prefix& a, const Ipv4Prefix& b);

// The two ends of a point-to-point uplink subnet.
struct UplinkAddresses {
  uint32_t outer = 0;    // host / upstream side: the sandbox's gateway
  uint32_t sandbox = 0;  // sandbox side
  int prefix_length = 30;
  bool operator==(const UplinkAddresses&) const = default;
};

// The subnet of `subnet_length` (30 or 31) in `pool` that starts the search at a slot derived from
// `seed` and is the first not to overlap any of `in_use`. /30: outer = .1, sandbox = .2;
// /31: outer = .0, sandbox = .1. ResourceExhausted when every slot is taken.
absl::StatusOr<UplinkAddresses> AllocateUplinkSubnet(const Ipv4Prefix& pool, int subnet_length, uint64_t seed,
                                                     const std::vector<Ipv4Prefix>& in_use);

}  // namespace airlock::net
