#include "policy/net/rtnl.h"

#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"

namespace airlock::net {
namespace {

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("malformed rtnetlink message: ", what));
}

// Address bytes of the right size for the family.
absl::StatusOr<std::vector<uint8_t>> AddressBytes(uint8_t family, const NlAttr& attr) {
  size_t expected = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
  if (expected != 0 && attr.data.size() != expected) {
    return Malformed(absl::StrCat("address of ", attr.data.size(), " bytes for family ", family));
  }
  if (attr.data.size() > 32) return Malformed("address longer than 32 bytes");
  return std::vector<uint8_t>(attr.data.begin(), attr.data.end());
}

template <typename T>
absl::StatusOr<std::vector<T>> DumpAndParse(NetlinkSocket& socket, NlRequest& request, uint16_t expected_type,
                                            absl::StatusOr<T> (*parse)(std::span<const uint8_t>)) {
  absl::StatusOr<std::vector<NlMessage>> messages = socket.Dump(request);
  if (!messages.ok()) return messages.status();
  std::vector<T> out;
  out.reserve(messages->size());
  for (const NlMessage& message : *messages) {
    if (message.type != expected_type) {
      return Malformed(absl::StrCat("unexpected message type ", message.type, " in a dump of ", expected_type));
    }
    absl::StatusOr<T> item = parse(message.payload);
    if (!item.ok()) return item.status();
    out.push_back(*std::move(item));
  }
  return out;
}

}  // namespace

std::string FormatAddressBytes(uint8_t family, std::span<const uint8_t> bytes) {
  char text[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET && bytes.size() == 4 && ::inet_ntop(AF_INET, bytes.data(), text, sizeof(text))) return text;
  if (family == AF_INET6 && bytes.size() == 16 && ::inet_ntop(AF_INET6, bytes.data(), text, sizeof(text))) return text;
  return absl::StrCat(
      "0x", absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
}

std::string Link::ToString() const {
  return absl::StrCat(index, ":", name, kind.empty() ? "" : absl::StrCat(" kind=", kind),
                      (flags & IFF_UP) ? " up" : " down", (flags & IFF_LOOPBACK) ? " loopback" : "");
}

std::string Address::ToString() const {
  std::string text = absl::StrCat(FormatAddressBytes(family, address), "/", prefix_len, " dev ", index);
  if (!peer.empty()) absl::StrAppend(&text, " peer ", FormatAddressBytes(family, peer));
  return text;
}

std::string RouteTypeName(uint8_t type) {
  switch (type) {
    case RTN_UNICAST:
      return "unicast";
    case RTN_LOCAL:
      return "local";
    case RTN_BROADCAST:
      return "broadcast";
    case RTN_ANYCAST:
      return "anycast";
    case RTN_MULTICAST:
      return "multicast";
    case RTN_BLACKHOLE:
      return "blackhole";
    case RTN_UNREACHABLE:
      return "unreachable";
    case RTN_PROHIBIT:
      return "prohibit";
    case RTN_THROW:
      return "throw";
    case RTN_NAT:
      return "nat";
    default:
      return absl::StrCat("type", type);
  }
}

std::string Route::ToString() const {
  std::string text = absl::StrCat(family == AF_INET6 ? "inet6 " : "inet ", RouteTypeName(type), " table ", table, " ",
                                  dst.empty() ? "default" : FormatAddressBytes(family, dst), "/", dst_len);
  if (oif) absl::StrAppend(&text, " oif ", *oif);
  if (has_gateway) absl::StrAppend(&text, " via-gateway");
  if (multipath) absl::StrAppend(&text, " multipath");
  return text;
}

std::string Rule::ToString() const {
  std::string text = absl::StrCat(family == AF_INET6 ? "inet6 " : "inet ", "pref ", priority, " table ", table);
  if (action != FR_ACT_TO_TBL) absl::StrAppend(&text, " action ", action);
  if (src_len || dst_len || tos) absl::StrAppend(&text, " src/", src_len, " dst/", dst_len, " tos ", tos);
  for (uint16_t selector : selectors) absl::StrAppend(&text, " sel", selector);
  return text;
}

absl::StatusOr<Link> ParseLink(std::span<const uint8_t> payload) {
  std::span<const uint8_t> rest;
  auto header = ReadFamilyHeader<ifinfomsg>(payload, &rest);
  if (!header.ok()) return header.status();
  auto attrs = ParseAttributes(rest);
  if (!attrs.ok()) return attrs.status();
  Link link{.index = header->ifi_index, .flags = header->ifi_flags};
  if (link.index <= 0) return Malformed(absl::StrCat("link index ", link.index));
  const NlAttr* name = FindAttr(*attrs, IFLA_IFNAME);
  if (name == nullptr) return Malformed("link without IFLA_IFNAME");
  auto name_text = AttrString(*name, IFNAMSIZ - 1);
  if (!name_text.ok()) return name_text.status();
  link.name = *name_text;
  if (const NlAttr* info = FindAttr(*attrs, IFLA_LINKINFO)) {
    auto nested = ParseAttributes(info->data);
    if (!nested.ok()) return nested.status();
    if (const NlAttr* kind = FindAttr(*nested, IFLA_INFO_KIND)) {
      auto kind_text = AttrString(*kind, 64);
      if (!kind_text.ok()) return kind_text.status();
      link.kind = *kind_text;
    }
  }
  return link;
}

absl::StatusOr<Address> ParseAddress(std::span<const uint8_t> payload) {
  std::span<const uint8_t> rest;
  auto header = ReadFamilyHeader<ifaddrmsg>(payload, &rest);
  if (!header.ok()) return header.status();
  auto attrs = ParseAttributes(rest);
  if (!attrs.ok()) return attrs.status();
  Address address{.family = header->ifa_family,
                  .index = static_cast<int>(header->ifa_index),
                  .prefix_len = header->ifa_prefixlen,
                  .scope = header->ifa_scope};
  const NlAttr* local = FindAttr(*attrs, IFA_LOCAL);
  const NlAttr* remote = FindAttr(*attrs, IFA_ADDRESS);
  if (local == nullptr && remote == nullptr) return Malformed("address without IFA_LOCAL or IFA_ADDRESS");
  auto primary = AddressBytes(address.family, local != nullptr ? *local : *remote);
  if (!primary.ok()) return primary.status();
  address.address = *std::move(primary);
  if (local != nullptr && remote != nullptr) {
    auto peer = AddressBytes(address.family, *remote);
    if (!peer.ok()) return peer.status();
    if (*peer != address.address) address.peer = *std::move(peer);
  }
  return address;
}

absl::StatusOr<Route> ParseRoute(std::span<const uint8_t> payload) {
  std::span<const uint8_t> rest;
  auto header = ReadFamilyHeader<rtmsg>(payload, &rest);
  if (!header.ok()) return header.status();
  auto attrs = ParseAttributes(rest);
  if (!attrs.ok()) return attrs.status();
  Route route{.family = header->rtm_family,
              .table = header->rtm_table,
              .type = header->rtm_type,
              .protocol = header->rtm_protocol,
              .scope = header->rtm_scope,
              .dst_len = header->rtm_dst_len};
  if (const NlAttr* table = FindAttr(*attrs, RTA_TABLE)) {
    auto value = AttrU32(*table);
    if (!value.ok()) return value.status();
    route.table = *value;
  }
  if (const NlAttr* dst = FindAttr(*attrs, RTA_DST)) {
    auto bytes = AddressBytes(route.family, *dst);
    if (!bytes.ok()) return bytes.status();
    route.dst = *std::move(bytes);
  } else if (route.dst_len != 0) {
    return Malformed(absl::StrCat("route with prefix length ", route.dst_len, " but no RTA_DST"));
  }
  if (const NlAttr* oif = FindAttr(*attrs, RTA_OIF)) {
    auto value = AttrU32(*oif);
    if (!value.ok()) return value.status();
    route.oif = static_cast<int>(*value);
  }
  route.has_gateway = FindAttr(*attrs, RTA_GATEWAY) != nullptr || FindAttr(*attrs, RTA_VIA) != nullptr;
  route.multipath = FindAttr(*attrs, RTA_MULTIPATH) != nullptr;
  return route;
}

absl::StatusOr<Rule> ParseRule(std::span<const uint8_t> payload) {
  std::span<const uint8_t> rest;
  auto header = ReadFamilyHeader<fib_rule_hdr>(payload, &rest);
  if (!header.ok()) return header.status();
  auto attrs = ParseAttributes(rest);
  if (!attrs.ok()) return attrs.status();
  Rule rule{.family = header->family,
            .table = header->table,
            .action = header->action,
            .src_len = header->src_len,
            .dst_len = header->dst_len,
            .tos = header->tos};
  for (const NlAttr& attr : *attrs) {
    switch (attr.type) {
      case FRA_PRIORITY: {
        auto value = AttrU32(attr);
        if (!value.ok()) return value.status();
        rule.priority = *value;
        break;
      }
      case FRA_TABLE: {
        auto value = AttrU32(attr);
        if (!value.ok()) return value.status();
        rule.table = *value;
        break;
      }
      case FRA_PROTOCOL:
      case FRA_PAD:
      case FRA_SUPPRESS_PREFIXLEN:  // kernel reports -1 (off) for the defaults
      case FRA_SUPPRESS_IFGROUP:
        break;
      case FRA_FWMARK:
      case FRA_FWMASK: {
        auto value = AttrU32(attr);
        if (!value.ok()) return value.status();
        if (*value != 0) rule.selectors.push_back(attr.type);
        break;
      }
      default:  // src, dst, iif, oif, goto, flow, tun_id, l3mdev, uid range, ports, ip proto...
        rule.selectors.push_back(attr.type);
        break;
    }
  }
  return rule;
}

absl::StatusOr<std::vector<Link>> ListLinks(NetlinkSocket& socket) {
  NlRequest request(RTM_GETLINK, 0);
  ifinfomsg header{};
  header.ifi_family = AF_UNSPEC;
  request.AppendHeader(header);
  request.AddU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  return DumpAndParse<Link>(socket, request, RTM_NEWLINK, &ParseLink);
}

absl::StatusOr<std::vector<Address>> ListAddresses(NetlinkSocket& socket, uint8_t family) {
  NlRequest request(RTM_GETADDR, 0);
  ifaddrmsg header{};
  header.ifa_family = family;
  request.AppendHeader(header);
  return DumpAndParse<Address>(socket, request, RTM_NEWADDR, &ParseAddress);
}

absl::StatusOr<std::vector<Route>> ListRoutes(NetlinkSocket& socket, uint8_t family) {
  NlRequest request(RTM_GETROUTE, 0);
  rtmsg header{};
  header.rtm_family = family;
  header.rtm_table = RT_TABLE_UNSPEC;  // every table
  request.AppendHeader(header);
  return DumpAndParse<Route>(socket, request, RTM_NEWROUTE, &ParseRoute);
}

absl::StatusOr<std::vector<Rule>> ListRules(NetlinkSocket& socket, uint8_t family) {
  NlRequest request(RTM_GETRULE, 0);
  fib_rule_hdr header{};
  header.family = family;
  request.AppendHeader(header);
  return DumpAndParse<Rule>(socket, request, RTM_NEWRULE, &ParseRule);
}

absl::StatusOr<int> LinkIndex(NetlinkSocket& socket, absl::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return absl::InvalidArgumentError(absl::StrCat("bad link name '", name, "'"));
  ifreq request{};
  std::memcpy(request.ifr_name, name.data(), name.size());
  // (For a name that does not exist the kernel may first try to load a "netdev-<name>" module;
  // callers ask only for links they just made.)
  if (::ioctl(socket.fd(), SIOCGIFINDEX, &request) != 0) {
    if (errno == ENODEV) return absl::NotFoundError(absl::StrCat("no link '", name, "'"));
    return ErrnoStatus(absl::StrCat("SIOCGIFINDEX ", name));
  }
  return request.ifr_ifindex;
}

absl::Status SetLinkUp(NetlinkSocket& socket, int index, Ipv6LinkLocal ipv6) {
  auto request_up = [&](bool with_af_spec) {
    NlRequest request(RTM_NEWLINK, 0);
    ifinfomsg header{};
    header.ifi_family = AF_UNSPEC;
    header.ifi_index = index;
    header.ifi_flags = IFF_UP;
    header.ifi_change = IFF_UP;
    request.AppendHeader(header);
    if (with_af_spec) {
      size_t af_spec = request.BeginNested(IFLA_AF_SPEC);
      size_t inet6 = request.BeginNested(AF_INET6);
      uint8_t mode = IN6_ADDR_GEN_MODE_NONE;
      request.AddAttr(IFLA_INET6_ADDR_GEN_MODE, &mode, sizeof mode);
      request.EndNested(inet6);
      request.EndNested(af_spec);
    }
    return socket.Execute(request);
  };
  if (ipv6 == Ipv6LinkLocal::kKernelDefault) return request_up(false);
  absl::Status status = request_up(true);
  // No IPv6 on this host (ipv6.disable=1) or on this link: nothing to switch off, just bring it up.
  if (NetlinkErrno(status) == EAFNOSUPPORT) return request_up(false);
  return status;
}

absl::Status CreateVeth(NetlinkSocket& socket, const VethSpec& spec) {
  if (spec.name.empty() || spec.name.size() >= IFNAMSIZ || spec.peer_name.empty() ||
      spec.peer_name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(absl::StrCat("bad veth names '", spec.name, "', '", spec.peer_name, "'"));
  }
  NlRequest request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifinfomsg header{};
  header.ifi_family = AF_UNSPEC;
  request.AppendHeader(header);
  request.AddString(IFLA_IFNAME, spec.name);
  if (spec.netns_fd >= 0) request.AddU32(IFLA_NET_NS_FD, static_cast<uint32_t>(spec.netns_fd));
  size_t linkinfo = request.BeginNested(IFLA_LINKINFO);
  request.AddString(IFLA_INFO_KIND, "veth");
  size_t data = request.BeginNested(IFLA_INFO_DATA);
  size_t peer = request.BeginNested(VETH_INFO_PEER);
  // The peer is described by its own ifinfomsg followed by its attributes.
  request.AppendHeader(header);
  request.AddString(IFLA_IFNAME, spec.peer_name);
  if (spec.peer_netns_fd >= 0) request.AddU32(IFLA_NET_NS_FD, static_cast<uint32_t>(spec.peer_netns_fd));
  request.EndNested(peer);
  request.EndNested(data);
  request.EndNested(linkinfo);
  return socket.Execute(request);
}

absl::Status DeleteLinkByName(NetlinkSocket& socket, absl::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return absl::InvalidArgumentError(absl::StrCat("bad link name '", name, "'"));
  NlRequest request(RTM_DELLINK, 0);
  ifinfomsg header{};
  header.ifi_family = AF_UNSPEC;
  request.AppendHeader(header);
  request.AddString(IFLA_IFNAME, name);
  absl::Status status = socket.Execute(request);
  if (NetlinkErrno(status) == ENODEV) {
    return absl::NotFoundError(absl::StrCat("no link '", name, "'"));
  }
  return status;
}

absl::Status AddIpv4Address(NetlinkSocket& socket, int index, uint32_t address, int prefix_len) {
  if (prefix_len < 0 || prefix_len > 32) return absl::InvalidArgumentError(absl::StrCat("prefix length ", prefix_len));
  NlRequest request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  ifaddrmsg header{};
  header.ifa_family = AF_INET;
  header.ifa_prefixlen = static_cast<uint8_t>(prefix_len);
  header.ifa_scope = RT_SCOPE_UNIVERSE;
  header.ifa_index = static_cast<uint32_t>(index);
  request.AppendHeader(header);
  uint32_t network_order = htonl(address);
  request.AddAttr(IFA_LOCAL, &network_order, 4);
  request.AddAttr(IFA_ADDRESS, &network_order, 4);
  if (prefix_len < 31) {
    uint32_t host_mask = prefix_len == 0 ? ~0u : (~0u >> prefix_len);
    uint32_t broadcast = htonl(address | host_mask);
    request.AddAttr(IFA_BROADCAST, &broadcast, 4);
  }
  return socket.Execute(request);
}

absl::Status AddIpv4DefaultRoute(NetlinkSocket& socket, uint32_t gateway, int oif) {
  NlRequest request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  rtmsg header{};
  header.rtm_family = AF_INET;
  header.rtm_table = RT_TABLE_MAIN;
  header.rtm_protocol = RTPROT_STATIC;
  header.rtm_scope = RT_SCOPE_UNIVERSE;
  header.rtm_type = RTN_UNICAST;
  request.AppendHeader(header);
  uint32_t network_order = htonl(gateway);
  request.AddAttr(RTA_GATEWAY, &network_order, 4);
  request.AddU32(RTA_OIF, static_cast<uint32_t>(oif));
  return socket.Execute(request);
}

}  // namespace airlock::net
