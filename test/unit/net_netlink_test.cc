// Pure tests of policy/net: netlink parsing on crafted (also malformed) buffers, message building,
// the seal's classification rules, IPv4 pool allocation and names. No root needed.
#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <random>

#include "policy/net/ipv4.h"
#include "policy/net/names.h"
#include "policy/net/net_dev.h"
#include "policy/net/netlink.h"
#include "policy/net/nftables.h"
#include "policy/net/rtnl.h"
#include "policy/net/seal_check.h"

using namespace airlock::net;

namespace {

using Bytes = std::vector<uint8_t>;

void Put(Bytes& out, const void* data, size_t size) {
  size_t at = out.size();
  out.resize(at + size);
  if (size != 0) std::memcpy(out.data() + at, data, size);
}
void Pad4(Bytes& out) { out.resize((out.size() + 3) & ~size_t{3}, 0); }

void PutAttr(Bytes& out, uint16_t type, const void* data, size_t size) {
  uint16_t len = static_cast<uint16_t>(4 + size);
  Put(out, &len, 2);
  Put(out, &type, 2);
  Put(out, data, size);
  Pad4(out);
}
void PutStringAttr(Bytes& out, uint16_t type, const std::string& s) { PutAttr(out, type, s.c_str(), s.size() + 1); }
void PutU32Attr(Bytes& out, uint16_t type, uint32_t v) { PutAttr(out, type, &v, 4); }

// A whole netlink message around `payload`.
Bytes Message(uint16_t type, uint16_t flags, uint32_t seq, uint32_t port, const Bytes& payload) {
  nlmsghdr h{};
  h.nlmsg_len = static_cast<uint32_t>(sizeof(h) + payload.size());
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = port;
  Bytes out;
  Put(out, &h, sizeof(h));
  Put(out, payload.data(), payload.size());
  return out;
}

Bytes LinkPayload(int index, const std::string& name, const std::string& kind = "", unsigned flags = 0) {
  Bytes out;
  ifinfomsg h{};
  h.ifi_index = index;
  h.ifi_flags = flags;
  Put(out, &h, sizeof(h));
  PutStringAttr(out, IFLA_IFNAME, name);
  if (!kind.empty()) {
    Bytes nested;
    PutStringAttr(nested, IFLA_INFO_KIND, kind);
    PutAttr(out, IFLA_LINKINFO | NLA_F_NESTED, nested.data(), nested.size());
  }
  return out;
}

Bytes RoutePayload(uint8_t family, uint8_t type, uint8_t dst_len, const Bytes& dst, int oif,
                   uint32_t table = RT_TABLE_MAIN) {
  Bytes out;
  rtmsg h{};
  h.rtm_family = family;
  h.rtm_type = type;
  h.rtm_dst_len = dst_len;
  h.rtm_table = table < 256 ? static_cast<uint8_t>(table) : static_cast<uint8_t>(RT_TABLE_COMPAT);
  Put(out, &h, sizeof(h));
  PutU32Attr(out, RTA_TABLE, table);
  if (!dst.empty()) PutAttr(out, RTA_DST, dst.data(), dst.size());
  if (oif > 0) PutU32Attr(out, RTA_OIF, static_cast<uint32_t>(oif));
  return out;
}

Bytes V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {a, b, c, d}; }
Bytes V6Loopback() {
  Bytes b(16, 0);
  b[15] = 1;
  return b;
}

}  // namespace

TEST_CASE("ParseMessages splits well-formed datagrams", "[net][netlink]") {
  Bytes d = Message(RTM_NEWLINK, NLM_F_MULTI, 7, 42, LinkPayload(1, "lo"));
  Bytes second = Message(NLMSG_DONE, NLM_F_MULTI, 7, 42, Bytes{0, 0, 0, 0});
  d.insert(d.end(), second.begin(), second.end());
  auto messages = ParseMessages(d);
  REQUIRE(messages.ok());
  REQUIRE(messages->size() == 2);
  CHECK((*messages)[0].type == RTM_NEWLINK);
  CHECK((*messages)[0].seq == 7);
  CHECK((*messages)[0].port == 42);
  CHECK((*messages)[1].type == NLMSG_DONE);
  CHECK(DecodeDone((*messages)[1].payload).ok());

  // The last message may lack its alignment padding.
  Bytes odd = Message(RTM_NEWLINK, 0, 1, 0, Bytes{1, 2, 3});
  REQUIRE(odd.size() % 4 != 0);
  auto one = ParseMessages(odd);
  REQUIRE(one.ok());
  CHECK((*one)[0].payload.size() == 3);
}

TEST_CASE("ParseMessages rejects malformed datagrams", "[net][netlink]") {
  CHECK_FALSE(ParseMessages(Bytes{}).ok());

  Bytes good = Message(RTM_NEWLINK, 0, 1, 0, LinkPayload(1, "lo"));
  SECTION("length below the header size") {
    uint32_t len = 8;
    std::memcpy(good.data(), &len, 4);
    CHECK_FALSE(ParseMessages(good).ok());
  }
  SECTION("length past the end") {
    uint32_t len = static_cast<uint32_t>(good.size() + 1);
    std::memcpy(good.data(), &len, 4);
    CHECK_FALSE(ParseMessages(good).ok());
  }
  SECTION("huge length") {
    uint32_t len = 0xffffffffu;
    std::memcpy(good.data(), &len, 4);
    CHECK_FALSE(ParseMessages(good).ok());
  }
  SECTION("trailing bytes shorter than a header") {
    good.resize(good.size() + 5, 0xab);
    CHECK_FALSE(ParseMessages(good).ok());
  }
  SECTION("a truncated header") {
    Bytes tiny(good.begin(), good.begin() + 10);
    CHECK_FALSE(ParseMessages(tiny).ok());
  }
}

TEST_CASE("ParseAttributes is strict about lengths", "[net][netlink]") {
  Bytes ok;
  PutU32Attr(ok, 3, 99);
  PutStringAttr(ok, 4, "abc");
  auto attrs = ParseAttributes(ok);
  REQUIRE(attrs.ok());
  REQUIRE(attrs->size() == 2);
  CHECK(*AttrU32((*attrs)[0]) == 99);
  CHECK(*AttrString((*attrs)[1]) == "abc");
  CHECK(FindAttr(*attrs, 4) == &(*attrs)[1]);
  CHECK(FindAttr(*attrs, 5) == nullptr);

  SECTION("nla_len below 4") {
    Bytes bad = ok;
    uint16_t len = 2;
    std::memcpy(bad.data(), &len, 2);
    CHECK_FALSE(ParseAttributes(bad).ok());
  }
  SECTION("nla_len past the end") {
    Bytes bad = ok;
    uint16_t len = 200;
    std::memcpy(bad.data() + 8, &len, 2);
    CHECK_FALSE(ParseAttributes(bad).ok());
  }
  SECTION("trailing bytes") {
    Bytes bad = ok;
    bad.push_back(1);
    bad.push_back(0);
    CHECK_FALSE(ParseAttributes(bad).ok());
  }
  SECTION("too many attributes") {
    Bytes many;
    for (int i = 0; i < 10; ++i) PutU32Attr(many, 1, i);
    CHECK(ParseAttributes(many, 10).ok());
    CHECK_FALSE(ParseAttributes(many, 9).ok());
  }
  SECTION("typed accessors check sizes") {
    NlAttr short_u32{.type = 1, .data = std::span<const uint8_t>(ok.data() + 4, 3)};
    CHECK_FALSE(AttrU32(short_u32).ok());
    CHECK_FALSE(AttrU8(short_u32).ok());
    Bytes no_nul = {'a', 'b', 'c'};
    NlAttr s{.type = 2, .data = no_nul};
    CHECK_FALSE(AttrString(s).ok());
    Bytes long_name(40, 'x');
    long_name.push_back(0);
    NlAttr l{.type = 2, .data = long_name};
    CHECK_FALSE(AttrString(l, IFNAMSIZ - 1).ok());
  }
}

TEST_CASE("ParseLink decodes and rejects", "[net][netlink]") {
  auto lo = ParseLink(LinkPayload(1, "lo", "", IFF_LOOPBACK | IFF_UP));
  REQUIRE(lo.ok());
  CHECK(lo->index == 1);
  CHECK(lo->name == "lo");
  CHECK(lo->kind.empty());
  auto veth = ParseLink(LinkPayload(7, "al0123456789abs", "veth"));
  REQUIRE(veth.ok());
  CHECK(veth->kind == "veth");

  CHECK_FALSE(ParseLink(Bytes(8, 0)).ok());  // shorter than ifinfomsg
  Bytes no_name;
  ifinfomsg h{};
  h.ifi_index = 3;
  Put(no_name, &h, sizeof(h));
  CHECK_FALSE(ParseLink(no_name).ok());
  CHECK_FALSE(ParseLink(LinkPayload(0, "x")).ok());
  CHECK_FALSE(ParseLink(LinkPayload(-4, "x")).ok());
  CHECK_FALSE(ParseLink(LinkPayload(2, "a-name-longer-than-15")).ok());

  // A broken nested IFLA_LINKINFO.
  Bytes bad_nested = LinkPayload(2, "x");
  Bytes junk = {9, 0, 1, 0, 'v'};  // nla_len 9 > 5 bytes available
  PutAttr(bad_nested, IFLA_LINKINFO, junk.data(), junk.size());
  CHECK_FALSE(ParseLink(bad_nested).ok());
}

TEST_CASE("ParseAddress, ParseRoute and ParseRule decode and reject", "[net][netlink]") {
  Bytes addr;
  ifaddrmsg ah{};
  ah.ifa_family = AF_INET;
  ah.ifa_prefixlen = 8;
  ah.ifa_index = 1;
  Put(addr, &ah, sizeof(ah));
  Bytes v4 = V4(127, 0, 0, 1);
  PutAttr(addr, IFA_LOCAL, v4.data(), 4);
  PutAttr(addr, IFA_ADDRESS, v4.data(), 4);
  auto a = ParseAddress(addr);
  REQUIRE(a.ok());
  CHECK(a->ToString() == "127.0.0.1/8 dev 1");
  CHECK(a->peer.empty());

  Bytes wrong_size;
  Put(wrong_size, &ah, sizeof(ah));
  Bytes six = {1, 2, 3, 4, 5, 6};
  PutAttr(wrong_size, IFA_LOCAL, six.data(), six.size());
  CHECK_FALSE(ParseAddress(wrong_size).ok());
  Bytes no_addr;
  Put(no_addr, &ah, sizeof(ah));
  CHECK_FALSE(ParseAddress(no_addr).ok());

  auto r = ParseRoute(RoutePayload(AF_INET, RTN_LOCAL, 32, V4(127, 0, 0, 1), 1, RT_TABLE_LOCAL));
  REQUIRE(r.ok());
  CHECK(r->table == RT_TABLE_LOCAL);
  CHECK(r->oif == 1);
  auto big_table = ParseRoute(RoutePayload(AF_INET, RTN_UNICAST, 0, {}, 3, 1000));
  REQUIRE(big_table.ok());
  CHECK(big_table->table == 1000);  // RTA_TABLE wins over the 8-bit header field
  CHECK(big_table->dst.empty());
  CHECK_FALSE(ParseRoute(RoutePayload(AF_INET, RTN_UNICAST, 24, {}, 3)).ok());               // dst_len without RTA_DST
  CHECK_FALSE(ParseRoute(RoutePayload(AF_INET6, RTN_UNICAST, 24, V4(1, 2, 3, 0), 3)).ok());  // wrong size for inet6
  CHECK_FALSE(ParseRoute(Bytes(4, 0)).ok());

  Bytes rule;
  fib_rule_hdr rh{};
  rh.family = AF_INET;
  rh.action = FR_ACT_TO_TBL;
  rh.table = RT_TABLE_MAIN;
  Put(rule, &rh, sizeof(rh));
  PutU32Attr(rule, FRA_PRIORITY, 32766);
  PutU32Attr(rule, FRA_TABLE, RT_TABLE_MAIN);
  auto main_rule = ParseRule(rule);
  REQUIRE(main_rule.ok());
  CHECK_FALSE(RuleViolation(*main_rule));
  PutStringAttr(rule, FRA_IIFNAME, "eth0");
  auto narrowed = ParseRule(rule);
  REQUIRE(narrowed.ok());
  CHECK(RuleViolation(*narrowed));
  Bytes bad_rule = rule;
  uint16_t bad_len = 5;  // FRA_PRIORITY claims 1 byte of value
  std::memcpy(bad_rule.data() + sizeof(rh), &bad_len, 2);
  CHECK_FALSE(ParseRule(bad_rule).ok());
}

TEST_CASE("DecodeError and DecodeDone", "[net][netlink]") {
  auto error_payload = [](int error) {
    Bytes out;
    nlmsgerr e{};
    e.error = error;
    e.msg.nlmsg_len = sizeof(nlmsghdr);
    Put(out, &e, sizeof(e));
    return out;
  };
  CHECK(DecodeError(error_payload(0), 0).ok());
  absl::Status enodev = DecodeError(error_payload(-ENODEV), 0);
  CHECK_FALSE(enodev.ok());
  CHECK(NetlinkErrno(enodev) == ENODEV);
  CHECK(absl::IsAlreadyExists(DecodeError(error_payload(-EEXIST), 0)));
  CHECK(NetlinkErrno(absl::InternalError("x")) == 0);
  // A positive or absurd code, a short payload: malformed, not an errno.
  CHECK(NetlinkErrno(DecodeError(error_payload(5), 0)) == 0);
  CHECK_FALSE(DecodeError(error_payload(5), 0).ok());
  CHECK_FALSE(DecodeError(error_payload(-100000), 0).ok());
  CHECK_FALSE(DecodeError(Bytes(3, 0), 0).ok());

  // Extended ack: the kernel's message is kept.
  Bytes with_tlv = error_payload(-EINVAL);
  PutStringAttr(with_tlv, NLMSGERR_ATTR_MSG, "Unknown device type");
  absl::Status einval = DecodeError(with_tlv, NLM_F_CAPPED | NLM_F_ACK_TLVS);
  CHECK(NetlinkErrno(einval) == EINVAL);
  CHECK(std::string(einval.message()).find("Unknown device type") != std::string::npos);
  // Broken TLVs do not turn the error into success or crash.
  Bytes broken_tlv = error_payload(-EINVAL);
  broken_tlv.push_back(0xff);
  CHECK(NetlinkErrno(DecodeError(broken_tlv, NLM_F_CAPPED | NLM_F_ACK_TLVS)) == EINVAL);
  // An echo length claiming more than there is.
  Bytes lying = error_payload(-EPERM);
  uint32_t huge = 0x7fffffff;
  std::memcpy(lying.data() + 4, &huge, 4);
  CHECK(NetlinkErrno(DecodeError(lying, NLM_F_ACK_TLVS)) == EPERM);

  int code = -EBUSY;
  Bytes done;
  Put(done, &code, 4);
  CHECK(NetlinkErrno(DecodeDone(done)) == EBUSY);
  CHECK(DecodeDone(Bytes{}).ok());
}

TEST_CASE("Random corruption of replies never crashes the parsers", "[net][netlink]") {
  std::vector<Bytes> seeds = {
      Message(RTM_NEWLINK, 0, 1, 0, LinkPayload(5, "br0", "bridge")),
      Message(RTM_NEWROUTE, 0, 1, 0, RoutePayload(AF_INET6, RTN_LOCAL, 128, V6Loopback(), 1, RT_TABLE_LOCAL)),
  };
  std::mt19937 rng(12345);
  int parsed = 0;
  for (int round = 0; round < 20000; ++round) {
    Bytes d = seeds[round % seeds.size()];
    int flips = 1 + rng() % 4;
    for (int i = 0; i < flips; ++i) d[rng() % d.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) d.resize(rng() % d.size());
    auto messages = ParseMessages(d);
    if (!messages.ok()) continue;
    for (const NlMessageView& m : *messages) {
      parsed += ParseLink(m.payload).ok() + ParseRoute(m.payload).ok() + ParseAddress(m.payload).ok() +
                ParseRule(m.payload).ok();
      (void)DecodeError(m.payload, m.flags);
      (void)DecodeDone(m.payload);
    }
  }
  CHECK(parsed > 0);  // the loop did reach the decoders
}

TEST_CASE("NlRequest builds aligned messages with nesting", "[net][netlink]") {
  NlRequest request(RTM_NEWLINK, NLM_F_CREATE);
  ifinfomsg h{};
  request.AppendHeader(h);
  request.AddString(IFLA_IFNAME, "abc");
  size_t nest = request.BeginNested(IFLA_LINKINFO);
  request.AddString(IFLA_INFO_KIND, "veth");
  request.EndNested(nest);
  request.AddFlags(NLM_F_REQUEST);
  std::span<const uint8_t> bytes = request.Finish(9);
  CHECK(bytes.size() % 4 == 0);
  auto messages = ParseMessages(bytes);
  REQUIRE(messages.ok());
  REQUIRE(messages->size() == 1);
  CHECK((*messages)[0].seq == 9);
  CHECK((*messages)[0].flags == (NLM_F_CREATE | NLM_F_REQUEST));
  std::span<const uint8_t> rest;
  REQUIRE(ReadFamilyHeader<ifinfomsg>((*messages)[0].payload, &rest).ok());
  auto attrs = ParseAttributes(rest);
  REQUIRE(attrs.ok());
  REQUIRE(attrs->size() == 2);
  CHECK(*AttrString((*attrs)[0]) == "abc");
  auto nested = ParseAttributes((*attrs)[1].data);
  REQUIRE(nested.ok());
  CHECK(*AttrString((*nested)[0]) == "veth");
}

TEST_CASE("NlRequest refuses attributes beyond 16-bit lengths", "[net][netlink]") {
  NlRequest request(RTM_NEWLINK, 0);
  std::vector<uint8_t> big(70000, 1);
  CHECK(request.valid());
  request.AddAttr(IFLA_IFALIAS, big.data(), big.size());
  CHECK_FALSE(request.valid());

  NlRequest nested(RTM_NEWLINK, 0);
  size_t token = nested.BeginNested(IFLA_LINKINFO);
  for (int i = 0; i < 20; ++i) nested.AddAttr(IFLA_INFO_DATA, big.data(), 4000);
  nested.EndNested(token);
  CHECK_FALSE(nested.valid());
}

TEST_CASE("Seal rules accept loopback only", "[net][seal]") {
  CHECK_FALSE(LinkViolation(Link{.index = 1, .name = "lo", .flags = IFF_LOOPBACK | IFF_UP}));
  CHECK(LinkViolation(Link{.index = 1, .name = "lo", .flags = 0}));  // not a loopback device
  CHECK(LinkViolation(Link{.index = 2, .name = "lo2", .flags = IFF_LOOPBACK}));
  CHECK(LinkViolation(Link{.index = 1, .name = "lo", .flags = IFF_LOOPBACK, .kind = "dummy"}));
  for (const char* kind : {"veth", "tun", "macvlan", "wireguard", "vxlan", "ipip", "bridge"}) {
    CHECK(LinkViolation(Link{.index = 4, .name = "x", .flags = IFF_UP, .kind = kind}));
  }

  CHECK_FALSE(AddressViolation(Address{.family = AF_INET, .index = 1, .prefix_len = 8, .address = V4(127, 0, 0, 1)}));
  CHECK_FALSE(AddressViolation(Address{.family = AF_INET6, .index = 1, .prefix_len = 128, .address = V6Loopback()}));
  CHECK(AddressViolation(Address{.family = AF_INET, .index = 1, .prefix_len = 32, .address = V4(10, 0, 0, 1)}));
  CHECK(AddressViolation(Address{.family = AF_INET, .index = 3, .prefix_len = 8, .address = V4(127, 0, 0, 2)}));
  CHECK(AddressViolation(
      Address{.family = AF_INET, .index = 1, .prefix_len = 8, .address = V4(127, 0, 0, 1), .peer = V4(8, 8, 8, 8)}));

  CHECK_FALSE(RouteViolation(
      Route{.family = AF_INET, .table = 255, .type = RTN_LOCAL, .dst_len = 8, .dst = V4(127, 0, 0, 0), .oif = 1}));
  CHECK_FALSE(RouteViolation(Route{
      .family = AF_INET, .table = 255, .type = RTN_BROADCAST, .dst_len = 32, .dst = V4(127, 255, 255, 255), .oif = 1}));
  CHECK_FALSE(RouteViolation(
      Route{.family = AF_INET6, .table = 255, .type = RTN_LOCAL, .dst_len = 128, .dst = V6Loopback(), .oif = 1}));
  CHECK(RouteViolation(
      Route{.family = AF_INET, .table = 254, .type = RTN_UNICAST, .dst_len = 0, .oif = 1}));  // default via lo
  CHECK(RouteViolation(
      Route{.family = AF_INET, .table = 254, .type = RTN_UNICAST, .dst_len = 8, .dst = V4(127, 0, 0, 0), .oif = 3}));
  CHECK(RouteViolation(
      Route{.family = AF_INET, .table = 100, .type = RTN_UNICAST, .dst_len = 8, .dst = V4(10, 0, 0, 0), .oif = 1}));
  CHECK(RouteViolation(
      Route{.family = AF_INET, .table = 254, .type = RTN_BLACKHOLE, .dst_len = 8, .dst = V4(10, 0, 0, 0)}));
  CHECK(RouteViolation(Route{.family = AF_INET,
                             .table = 254,
                             .type = RTN_UNICAST,
                             .dst_len = 8,
                             .dst = V4(127, 0, 0, 0),
                             .oif = 1,
                             .has_gateway = true}));
  CHECK(RouteViolation(Route{.family = AF_INET,
                             .table = 254,
                             .type = RTN_UNICAST,
                             .dst_len = 8,
                             .dst = V4(127, 0, 0, 0),
                             .oif = 1,
                             .multipath = true}));
  CHECK(RouteViolation(Route{.family = AF_INET,
                             .table = 254,
                             .type = RTN_UNICAST,
                             .dst_len = 4,
                             .dst = V4(112, 0, 0, 0),
                             .oif = 1}));  // wider than 127/8

  CHECK_FALSE(RuleViolation(Rule{.family = AF_INET, .priority = 0, .table = RT_TABLE_LOCAL, .action = FR_ACT_TO_TBL}));
  CHECK_FALSE(
      RuleViolation(Rule{.family = AF_INET6, .priority = 32766, .table = RT_TABLE_MAIN, .action = FR_ACT_TO_TBL}));
  CHECK(RuleViolation(Rule{.family = AF_INET, .priority = 100, .table = 100, .action = FR_ACT_TO_TBL}));
  CHECK(RuleViolation(
      Rule{.family = AF_INET, .priority = 32766, .table = RT_TABLE_MAIN, .action = FR_ACT_TO_TBL, .src_len = 8}));
  CHECK(RuleViolation(Rule{.family = AF_INET6, .priority = 32767, .table = RT_TABLE_DEFAULT, .action = FR_ACT_TO_TBL}));
}

TEST_CASE("ParseNetDevNames reads /proc/net/dev and rejects what it does not know", "[net][seal]") {
  constexpr char kHeader[] =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls "
      "carrier compressed\n";
  auto names = ParseNetDevNames(std::string(kHeader) +
                                "    lo:       0       0    0    0    0     0          0         0        0       0    "
                                "0    0    0     0       0          0\n"
                                "alk-0123456789a: 5 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n");
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"lo", "alk-0123456789a"});
  CHECK(ParseNetDevNames(kHeader).value().empty());
  CHECK_FALSE(ParseNetDevNames("").ok());                                      // no header
  CHECK_FALSE(ParseNetDevNames("lo: 1 2 3\n").ok());                           // no header
  CHECK_FALSE(ParseNetDevNames(std::string(kHeader) + "no colon here\n").ok());  // not a device line
  CHECK_FALSE(ParseNetDevNames(std::string(kHeader) + "   : 1 2\n").ok());       // empty name
  CHECK_FALSE(ParseNetDevNames(std::string(kHeader) + "abcdefghijklmnopq: 1\n").ok());  // longer than IFNAMSIZ
}

TEST_CASE("IPv4 parsing, overlap and uplink subnet allocation", "[net][ipv4]") {
  CHECK(*ParseIpv4("198.18.0.1") == 0xC6120001u);
  CHECK_FALSE(ParseIpv4("198.18.0").ok());
  CHECK_FALSE(ParseIpv4("198.18.0.256").ok());
  auto pool = ParseIpv4Prefix("198.18.0.0/16");
  REQUIRE(pool.ok());
  CHECK(FormatIpv4Prefix(*pool) == "198.18.0.0/16");
  CHECK_FALSE(ParseIpv4Prefix("198.18.0.1/16").ok());
  CHECK(ParseIpv4Prefix("198.18.0.1/16", false).ok());
  CHECK_FALSE(ParseIpv4Prefix("198.18.0.0/33").ok());
  CHECK_FALSE(ParseIpv4Prefix("198.18.0.0").ok());
  CHECK(Overlaps({0xC6120000u, 16}, {0xC6120104u, 30}));
  CHECK_FALSE(Overlaps({0xC6120100u, 30}, {0xC6120104u, 30}));

  auto a = AllocateUplinkSubnet(*pool, 30, 0, {});
  REQUIRE(a.ok());
  CHECK(FormatIpv4(a->outer) == "198.18.0.1");
  CHECK(FormatIpv4(a->sandbox) == "198.18.0.2");
  // Taken slots are skipped; the search wraps around the pool.
  auto b = AllocateUplinkSubnet(*pool, 30, 0, {{0xC6120001u, 30}});
  REQUIRE(b.ok());
  CHECK(FormatIpv4(b->outer) == "198.18.0.5");
  auto c = AllocateUplinkSubnet(*pool, 31, (1 << 15) - 1, {});
  REQUIRE(c.ok());
  CHECK(FormatIpv4(c->outer) == "198.18.255.254");
  CHECK(FormatIpv4(c->sandbox) == "198.18.255.255");
  auto full = AllocateUplinkSubnet({0xC6120000u, 29}, 30, 0, {{0xC6120000u, 29}});
  CHECK(absl::IsResourceExhausted(full.status()));
  CHECK_FALSE(AllocateUplinkSubnet(*pool, 29, 0, {}).ok());
  CHECK_FALSE(AllocateUplinkSubnet({0xC6120000u, 31}, 30, 0, {}).ok());
}

TEST_CASE("Sandbox names map to short deterministic names", "[net][names]") {
  CHECK(ValidateSandboxName("abc-123_x.y").ok());
  CHECK_FALSE(ValidateSandboxName("").ok());
  CHECK_FALSE(ValidateSandboxName("-x").ok());
  CHECK_FALSE(ValidateSandboxName("a/b").ok());
  CHECK_FALSE(ValidateSandboxName("a b").ok());
  CHECK_FALSE(ValidateSandboxName("a;delete table ip x").ok());
  CHECK_FALSE(ValidateSandboxName(std::string(129, 'a')).ok());
  std::string s = VethName("sandbox-1", VethSide::kSandbox);
  CHECK(s.size() == 15);
  CHECK(s.rfind("al", 0) == 0);
  CHECK(s.back() == 's');
  CHECK(VethName("sandbox-1", VethSide::kSandbox) == s);
  CHECK(VethName("sandbox-2", VethSide::kSandbox) != s);
  CHECK(VethName("sandbox-1", VethSide::kHost).substr(0, 14) == s.substr(0, 14));
  CHECK(NftTableName("abc") == "airlock-abc");
  std::string script = NatTableScript("airlock-abc", "al0123456789abh", "198.18.0.2",
                                      {.drop = NonGlobalIpv4(), .allow = {"198.19.0.0/17"}});
  CHECK(script.find("masquerade") != std::string::npos);
  CHECK(script.rfind("add table ip airlock-abc\ndelete table ip airlock-abc\n", 0) == 0);
  // The guard: allowed ranges first, then the non-global ones dropped, then the rest forwarded.
  const size_t allow = script.find("iifname \"al0123456789abh\" ip daddr { 198.19.0.0/17 } accept");
  const size_t drop = script.find("169.254.0.0/16");
  const size_t rest = script.find("iifname \"al0123456789abh\" accept");
  CHECK(allow != std::string::npos);
  CHECK(drop != std::string::npos);
  CHECK(rest != std::string::npos);
  CHECK((allow < drop && drop < rest));
  // No guard: no empty set (nft refuses one).
  CHECK(NatTableScript("airlock-abc", "al0123456789abh", "198.18.0.2", {}).find("{  }") == std::string::npos);
  CHECK(NatTableScript("airlock-abc", "al0123456789abh", "198.18.0.2", {}).find("daddr") == std::string::npos);
}
