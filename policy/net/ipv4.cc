#include "policy/net/ipv4.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace airlock::net {

absl::StatusOr<uint32_t> ParseIpv4(absl::string_view text) {
  std::string copy(text);
  in_addr addr{};
  if (::inet_pton(AF_INET, copy.c_str(), &addr) != 1)
    return absl::InvalidArgumentError(absl::StrCat("bad IPv4 address '", text, "'"));
  return ntohl(addr.s_addr);
}

absl::StatusOr<Ipv4Prefix> ParseIpv4Prefix(absl::string_view text, bool require_network) {
  size_t slash = text.find('/');
  if (slash == absl::string_view::npos)
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a.b.c.d/n"));
  absl::StatusOr<uint32_t> address = ParseIpv4(text.substr(0, slash));
  if (!address.ok()) return address.status();
  absl::string_view length_text = text.substr(slash + 1);
  int length = -1;
  if (length_text.empty() || length_text.size() > 2 || !absl::SimpleAtoi(length_text, &length) || length < 0 ||
      length > 32) {
    return absl::InvalidArgumentError(absl::StrCat("bad prefix length in '", text, "'"));
  }
  if (require_network && (*address & ~PrefixMask(length)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' has host bits set"));
  }
  return Ipv4Prefix{*address, length};
}

std::string FormatIpv4(uint32_t address) {
  return absl::StrCat(address >> 24, ".", (address >> 16) & 0xff, ".", (address >> 8) & 0xff, ".", address & 0xff);
}

std::string FormatIpv4Prefix(const Ipv4Prefix& prefix) {
  return absl::StrCat(FormatIpv4(prefix.address), "/", prefix.length);
}

uint32_t PrefixMask(int length) { return length <= 0 ? 0 : length >= 32 ? ~0u : ~0u << (32 - length); }

bool Overlaps(const Ipv4Prefix& a, const Ipv4Prefix& b) {
  uint32_t mask = PrefixMask(std::min(a.length, b.length));
  return (a.address & mask) == (b.address & mask);
}

absl::StatusOr<UplinkAddresses> AllocateUplinkSubnet(const Ipv4Prefix& pool, int subnet_length, uint64_t seed,
                                                     const std::vector<Ipv4Prefix>& in_use) {
  if (subnet_length != 30 && subnet_length != 31) {
    return absl::InvalidArgumentError(absl::StrCat("uplink subnets are /30 or /31, not /", subnet_length));
  }
  if (pool.length > subnet_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("pool ", FormatIpv4Prefix(pool), " is smaller than a /", subnet_length));
  }
  // Bounded search: at most 2^20 slots are examined even in a huge pool.
  uint64_t slots = uint64_t{1} << (subnet_length - pool.length);
  uint64_t tries = std::min<uint64_t>(slots, uint64_t{1} << 20);
  uint32_t base = pool.address & PrefixMask(pool.length);
  for (uint64_t i = 0; i < tries; ++i) {
    uint64_t slot = (seed + i) % slots;
    Ipv4Prefix candidate{base + static_cast<uint32_t>(slot << (32 - subnet_length)), subnet_length};
    bool taken = false;
    for (const Ipv4Prefix& used : in_use) {
      if (Overlaps(candidate, used)) {
        taken = true;
        break;
      }
    }
    if (taken) continue;
    if (subnet_length == 30) return UplinkAddresses{candidate.address + 1, candidate.address + 2, 30};
    return UplinkAddresses{candidate.address, candidate.address + 1, 31};
  }
  return absl::ResourceExhaustedError(absl::StrCat("no free /", subnet_length, " left in ", FormatIpv4Prefix(pool)));
}

}  // namespace airlock::net
