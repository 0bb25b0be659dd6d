#include "policy/proxy/address_guard.h"

#include <arpa/inet.h>
#include <ifaddrs.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "policy/net/forward_guard.h"

namespace airlock::proxy {
namespace {

using Bytes16 = std::array<uint8_t, 16>;

constexpr char kOwnAddress[] = "the host's own address";

struct V4Prefix {
  uint32_t base = 0;  // host byte order
  int length = 0;
};

struct V6Prefix {
  Bytes16 base{};
  int length = 0;
};

uint32_t Mask4(int length) { return length <= 0 ? 0 : length >= 32 ? ~0u : ~0u << (32 - length); }

bool Contains(const V4Prefix& prefix, uint32_t address) {
  return ((address ^ prefix.base) & Mask4(prefix.length)) == 0;
}

bool Contains(const V6Prefix& prefix, const Bytes16& address) {
  for (int bit = 0; bit < prefix.length; bit += 8) {
    int bits = std::min(8, prefix.length - bit);
    uint8_t mask = static_cast<uint8_t>(0xff00 >> bits);
    if (((address[bit / 8] ^ prefix.base[bit / 8]) & mask) != 0) return false;
  }
  return true;
}

bool IsDigit(char ch) { return ch >= '0' && ch <= '9'; }

// 1-3 decimal digits without a leading zero, at most `max`. Stricter than strtol: no sign, no space.
std::optional<int> ParseSmallNumber(std::string_view text, int max) {
  if (text.empty() || text.size() > 3 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  int value = 0;
  for (char ch : text) {
    if (!IsDigit(ch)) return std::nullopt;
    value = value * 10 + (ch - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

// Exactly four decimal parts: inet_aton would read "127.1" or "0177.0.0.1" as loopback, and a
// literal the guard reads differently from the resolver or the agent is a way around it.
std::optional<uint32_t> ParseDottedQuad(std::string_view text) {
  uint32_t address = 0;
  for (int part = 0; part < 4; ++part) {
    size_t dot = text.find('.');
    if ((part < 3) != (dot != std::string_view::npos)) return std::nullopt;
    std::optional<int> value = ParseSmallNumber(text.substr(0, dot), 255);
    if (!value) return std::nullopt;
    address = (address << 8) | static_cast<uint32_t>(*value);
    if (dot != std::string_view::npos) text.remove_prefix(dot + 1);
  }
  return address;
}

// inet_pton's IPv6 after a character check: no zone ids ("%eth0"), no spaces, no NUL inside the view.
std::optional<Bytes16> ParseIpv6(std::string_view text) {
  if (text.size() < 2 || text.size() >= INET6_ADDRSTRLEN || text.find(':') == std::string_view::npos) {
    return std::nullopt;
  }
  for (char ch : text) {
    bool hex = IsDigit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    if (!hex && ch != ':' && ch != '.') return std::nullopt;
  }
  // An embedded IPv4 tail must be a strict dotted quad as well.
  std::string_view tail = text.substr(text.rfind(':') + 1);
  if (tail.find('.') != std::string_view::npos && !ParseDottedQuad(tail)) return std::nullopt;
  std::string copy(text);
  Bytes16 bytes{};
  if (::inet_pton(AF_INET6, copy.c_str(), bytes.data()) != 1) return std::nullopt;
  return bytes;
}

Endpoint MakeV4(uint32_t address, uint16_t port) {
  Endpoint endpoint;
  auto* in = reinterpret_cast<sockaddr_in*>(&endpoint.address);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  in->sin_addr.s_addr = htonl(address);
  endpoint.length = sizeof(sockaddr_in);
  return endpoint;
}

Endpoint MakeV6(const Bytes16& address, uint16_t port, uint32_t scope_id) {
  Endpoint endpoint;
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&endpoint.address);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  std::memcpy(&in6->sin6_addr, address.data(), address.size());
  in6->sin6_scope_id = scope_id;
  endpoint.length = sizeof(sockaddr_in6);
  return endpoint;
}

// What an endpoint holds; nullopt for anything but a whole sockaddr_in / sockaddr_in6.
struct Address {
  bool v4 = false;
  uint32_t ipv4 = 0;  // host byte order
  Bytes16 ipv6{};
  uint16_t port = 0;
};

std::optional<Address> AddressOf(const Endpoint& endpoint) {
  if (endpoint.length > sizeof(sockaddr_storage)) return std::nullopt;
  Address address;
  if (endpoint.address.ss_family == AF_INET && endpoint.length >= sizeof(sockaddr_in)) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&endpoint.address);
    address.v4 = true;
    address.ipv4 = ntohl(in->sin_addr.s_addr);
    address.port = ntohs(in->sin_port);
    return address;
  }
  if (endpoint.address.ss_family == AF_INET6 && endpoint.length >= sizeof(sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&endpoint.address);
    std::memcpy(address.ipv6.data(), &in6->sin6_addr, address.ipv6.size());
    address.port = ntohs(in6->sin6_port);
    return address;
  }
  return std::nullopt;
}

uint32_t Embedded(const Bytes16& bytes) {
  return (uint32_t{bytes[12]} << 24) | (uint32_t{bytes[13]} << 16) | (uint32_t{bytes[14]} << 8) | bytes[15];
}

bool IsMapped(const Bytes16& bytes) {  // ::ffff:0:0/96
  static const V6Prefix kMapped{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96};
  return Contains(kMapped, bytes);
}

bool IsNat64(const Bytes16& bytes) {  // 64:ff9b::/96
  static const V6Prefix kNat64{{0, 0x64, 0xff, 0x9b}, 96};
  return Contains(kNat64, bytes);
}

std::optional<V6Prefix> ParseV6Prefix(std::string_view address, std::string_view length) {
  std::optional<Bytes16> base = ParseIpv6(address);
  std::optional<int> bits = ParseSmallNumber(length, 128);
  if (!base || !bits) return std::nullopt;
  return V6Prefix{*base, *bits};
}

struct Cidr {
  bool v4 = false;
  V4Prefix prefix4;
  V6Prefix prefix6;
};

absl::StatusOr<Cidr> ParseCidr(const std::string& cidr_text) {
  std::string_view text = cidr_text;
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("allowed CIDR '", cidr_text, "' is not a.b.c.d/n or x::/n"));
  }
  std::string_view address = text.substr(0, slash);
  std::string_view length = text.substr(slash + 1);
  Cidr cidr;
  if (address.find(':') == std::string_view::npos) {
    std::optional<uint32_t> base = ParseDottedQuad(address);
    std::optional<int> bits = ParseSmallNumber(length, 32);
    if (!base || !bits) {
      return absl::InvalidArgumentError(absl::StrCat("allowed CIDR '", cidr_text, "' is not a.b.c.d/n (n 0-32)"));
    }
    cidr.v4 = true;
    cidr.prefix4 = {*base, *bits};
    if ((*base & ~Mask4(*bits)) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("allowed CIDR '", cidr_text, "' has host bits set"));
    }
    return cidr;
  }
  std::optional<V6Prefix> prefix = ParseV6Prefix(address, length);
  if (!prefix) return absl::InvalidArgumentError(absl::StrCat("allowed CIDR '", cidr_text, "' is not x::/n (n 0-128)"));
  V6Prefix network{{}, prefix->length};
  for (int bit = 0; bit < prefix->length; bit += 8) {
    int bits = std::min(8, prefix->length - bit);
    network.base[bit / 8] = prefix->base[bit / 8] & static_cast<uint8_t>(0xff00 >> bits);
  }
  if (network.base != prefix->base) {
    return absl::InvalidArgumentError(absl::StrCat("allowed CIDR '", cidr_text, "' has host bits set"));
  }
  cidr.prefix6 = *prefix;
  return cidr;
}

struct Allowed {
  std::vector<V4Prefix> v4;
  std::vector<V6Prefix> v6;
};

// Parsed per call: the guard is a plain struct, and an entry that does not parse allows nothing.
Allowed ParseAllowed(const std::vector<std::string>& allow) {
  Allowed allowed;
  for (const std::string& text : allow) {
    absl::StatusOr<Cidr> cidr = ParseCidr(text);
    if (!cidr.ok()) continue;
    if (cidr->v4) {
      allowed.v4.push_back(cidr->prefix4);
    } else {
      allowed.v6.push_back(cidr->prefix6);
    }
  }
  return allowed;
}

std::string Ipv4RangeName(const std::string& cidr) {
  static const std::pair<const char*, const char*> kNames[] = {
      {"0.0.0.0/8", "this network 0.0.0.0/8 (unspecified)"},
      {"10.0.0.0/8", "private 10.0.0.0/8"},
      {"100.64.0.0/10", "shared (CGNAT) 100.64.0.0/10"},
      {"127.0.0.0/8", "loopback 127.0.0.0/8"},
      {"169.254.0.0/16", "link-local 169.254.0.0/16 (cloud metadata)"},
      {"172.16.0.0/12", "private 172.16.0.0/12"},
      {"192.0.0.0/24", "IETF protocol assignments 192.0.0.0/24"},
      {"192.0.2.0/24", "documentation 192.0.2.0/24"},
      {"192.88.99.0/24", "6to4 relay anycast 192.88.99.0/24"},
      {"192.168.0.0/16", "private 192.168.0.0/16"},
      {"198.18.0.0/15", "benchmarking 198.18.0.0/15"},
      {"198.51.100.0/24", "documentation 198.51.100.0/24"},
      {"203.0.113.0/24", "documentation 203.0.113.0/24"},
      {"224.0.0.0/4", "multicast 224.0.0.0/4"},
      {"240.0.0.0/4", "reserved 240.0.0.0/4"},
  };
  for (const auto& [range, name] : kNames) {
    if (cidr == range) return name;
  }
  return absl::StrCat("non-global ", cidr);
}

struct NamedV4 {
  V4Prefix prefix;
  std::string name;
};

// net::NonGlobalIpv4(), parsed once. An entry that does not parse refuses all of IPv4 (fail closed).
const std::vector<NamedV4>& RefusedIpv4() {
  static const std::vector<NamedV4>* const kRanges = [] {
    auto* ranges = new std::vector<NamedV4>;
    for (const std::string& text : net::NonGlobalIpv4()) {
      absl::StatusOr<Cidr> cidr = ParseCidr(text);
      if (cidr.ok() && cidr->v4) {
        ranges->push_back({cidr->prefix4, Ipv4RangeName(text)});
      } else {
        ranges->push_back({V4Prefix{0, 0}, absl::StrCat("unparsable refusal range '", text, "'")});
      }
    }
    return ranges;
  }();
  return *kRanges;
}

struct NamedV6 {
  V6Prefix prefix;
  const char* name;
  bool refuse_inside;  // true: refused when inside; false: refused when outside
};

// In order: the first match names the reason.
const std::vector<NamedV6>& RefusedIpv6() {
  static const std::vector<NamedV6>* const kRanges = [] {
    static const struct {
      const char* address;
      const char* length;
      const char* name;
      bool refuse_inside;
    } kTable[] = {
        // Kept apart from the 2000::/3 rule below, so they stay refused if that rule changes.
        {"fc00::", "7", "unique local fc00::/7", true},
        {"fe80::", "10", "link-local fe80::/10", true},
        {"ff00::", "8", "multicast ff00::/8", true},
        {"2000::", "3", "not global unicast (outside 2000::/3)", false},
        {"2001:db8::", "32", "documentation 2001:db8::/32", true},
        {"2001::", "32", "IETF protocol assignments 2001::/23 (Teredo 2001::/32)", true},
        {"2001::", "23", "IETF protocol assignments 2001::/23", true},
        {"2002::", "16", "6to4 2002::/16", true},
        {"3fff::", "20", "documentation 3fff::/20", true},
    };
    auto* ranges = new std::vector<NamedV6>;
    for (const auto& row : kTable) {
      std::optional<V6Prefix> prefix = ParseV6Prefix(row.address, row.length);
      // Fail closed: a row that does not parse becomes ::/0, which refuses everything.
      ranges->push_back({prefix.value_or(V6Prefix{}), row.name, prefix ? row.refuse_inside : true});
    }
    return ranges;
  }();
  return *kRanges;
}

struct Local {
  std::vector<uint32_t> v4;
  std::vector<Bytes16> v6;
};

Local LocalOf(const std::vector<Endpoint>& endpoints) {
  Local local;
  for (const Endpoint& endpoint : endpoints) {
    std::optional<Address> address = AddressOf(endpoint);
    if (!address) continue;
    if (address->v4) {
      local.v4.push_back(address->ipv4);
    } else if (IsMapped(address->ipv6)) {
      local.v4.push_back(Embedded(address->ipv6));  // the same address as the plain IPv4 one
    } else {
      local.v6.push_back(address->ipv6);
    }
  }
  return local;
}

std::optional<std::string> Ipv4Reason(uint32_t address, const Local& local, const Allowed& allowed) {
  // Never allowed: these reach the proxy's own host whatever the allow list says.
  if ((address >> 24) == 127) return "loopback 127.0.0.0/8";
  if ((address >> 24) == 0) return "this network 0.0.0.0/8 (unspecified)";
  for (uint32_t own : local.v4) {
    if (own == address) return kOwnAddress;
  }
  for (const V4Prefix& prefix : allowed.v4) {
    if (Contains(prefix, address)) return std::nullopt;
  }
  for (const NamedV4& range : RefusedIpv4()) {
    if (Contains(range.prefix, address)) return range.name;
  }
  return std::nullopt;
}

std::optional<std::string> Ipv6Reason(const Bytes16& address, const Local& local, const Allowed& allowed) {
  // Judged as the IPv4 address they reach, by the IPv4 rules only.
  if (IsMapped(address)) {
    std::optional<std::string> why = Ipv4Reason(Embedded(address), local, allowed);
    if (!why || *why == kOwnAddress) return why;
    return absl::StrCat("IPv4-mapped: ", *why);
  }
  if (IsNat64(address)) {
    std::optional<std::string> why = Ipv4Reason(Embedded(address), local, allowed);
    if (!why) return why;
    return absl::StrCat("NAT64: ", *why);
  }
  static const Bytes16 kUnspecified{};
  static const Bytes16 kLoopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (address == kLoopback) return "loopback ::1";
  if (address == kUnspecified) return "unspecified ::";
  for (const Bytes16& own : local.v6) {
    if (own == address) return kOwnAddress;
  }
  for (const V6Prefix& prefix : allowed.v6) {
    if (Contains(prefix, address)) return std::nullopt;
  }
  for (const NamedV6& range : RefusedIpv6()) {
    if (Contains(range.prefix, address) == range.refuse_inside) return std::string(range.name);
  }
  return std::nullopt;
}

}  // namespace

std::string ToString(const Endpoint& endpoint) {
  std::optional<Address> address = AddressOf(endpoint);
  if (!address) return "<invalid endpoint>";
  if (address->v4) {
    uint32_t a = address->ipv4;
    return absl::StrCat(a >> 24, ".", (a >> 16) & 0xff, ".", (a >> 8) & 0xff, ".", a & 0xff, ":", address->port);
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(AF_INET6, address->ipv6.data(), text, sizeof(text)) == nullptr) return "<invalid endpoint>";
  return absl::StrCat("[", text, "]:", address->port);
}

std::optional<Endpoint> ParseIpLiteral(std::string_view text, uint16_t port) {
  if (!text.empty() && text.front() == '[') {
    // Brackets only around IPv6, as in a URL's host.
    if (text.size() < 2 || text.back() != ']') return std::nullopt;
    std::optional<Bytes16> v6 = ParseIpv6(text.substr(1, text.size() - 2));
    if (!v6) return std::nullopt;
    return MakeV6(*v6, port, 0);
  }
  if (text.find(':') != std::string_view::npos) {
    std::optional<Bytes16> v6 = ParseIpv6(text);
    if (!v6) return std::nullopt;
    return MakeV6(*v6, port, 0);
  }
  std::optional<uint32_t> v4 = ParseDottedQuad(text);
  if (!v4) return std::nullopt;
  return MakeV4(*v4, port);
}

absl::StatusOr<AddressGuard> AddressGuard::Make(std::vector<std::string> allow_cidrs, std::vector<Endpoint> local) {
  for (const std::string& text : allow_cidrs) {
    absl::StatusOr<Cidr> cidr = ParseCidr(text);
    if (!cidr.ok()) return cidr.status();
  }
  for (const Endpoint& endpoint : local) {
    // One the guard could not read would silently protect nothing.
    if (!AddressOf(endpoint)) return absl::InvalidArgumentError("a local address is not IPv4 or IPv6");
  }
  return AddressGuard{std::move(allow_cidrs), std::move(local)};
}

std::optional<std::string> RefusalReason(const Endpoint& endpoint, const AddressGuard& guard) {
  std::optional<Address> address = AddressOf(endpoint);
  if (!address) return "not an IPv4 or IPv6 address";
  Local local = LocalOf(guard.local_addresses);
  Allowed allowed = ParseAllowed(guard.allow);
  if (address->v4) return Ipv4Reason(address->ipv4, local, allowed);
  return Ipv6Reason(address->ipv6, local, allowed);
}

absl::StatusOr<std::vector<Endpoint>> LocalAddresses() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return absl::ErrnoToStatus(errno, "getifaddrs");
  std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> owned(list, ::freeifaddrs);
  std::vector<Endpoint> endpoints;
  for (const ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr) continue;
    if (entry->ifa_addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      endpoints.push_back(MakeV4(ntohl(in->sin_addr.s_addr), 0));
    } else if (entry->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr);
      Bytes16 bytes;
      std::memcpy(bytes.data(), &in6->sin6_addr, bytes.size());
      endpoints.push_back(MakeV6(bytes, 0, in6->sin6_scope_id));
    }
  }
  return endpoints;
}

}  // namespace airlock::proxy
