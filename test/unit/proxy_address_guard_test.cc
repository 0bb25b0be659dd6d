#include <arpa/inet.h>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "policy/net/forward_guard.h"
#include "policy/proxy/address_guard.h"

using namespace airlock;
using proxy::AddressGuard;
using proxy::Endpoint;

namespace {

Endpoint Ep(std::string_view text, uint16_t port = 443) {
  std::optional<Endpoint> endpoint = proxy::ParseIpLiteral(text, port);
  INFO("literal " << text);
  REQUIRE(endpoint.has_value());
  return *endpoint;
}

AddressGuard Guard(std::vector<std::string> allow = {}, std::vector<Endpoint> local = {}) {
  absl::StatusOr<AddressGuard> guard = AddressGuard::Make(std::move(allow), std::move(local));
  INFO(guard.status().ToString());
  REQUIRE(guard.ok());
  return *guard;
}

std::optional<std::string> Why(std::string_view text, const AddressGuard& guard = AddressGuard{}) {
  return proxy::RefusalReason(Ep(text), guard);
}

bool Refused(std::string_view text, const AddressGuard& guard = AddressGuard{}) { return Why(text, guard).has_value(); }

std::string FormatV4(uint32_t host_order) {
  in_addr addr{htonl(host_order)};
  char buffer[INET_ADDRSTRLEN];
  REQUIRE(inet_ntop(AF_INET, &addr, buffer, sizeof(buffer)) != nullptr);
  return buffer;
}

}  // namespace

TEST_CASE("proxy guard: first and last address of every non-global IPv4 range are refused", "[proxy]") {
  struct Range {
    const char* first;
    const char* last;
    const char* reason;  // a word the reason must contain
  };
  // Written out, so a range dropped from NonGlobalIpv4 fails here.
  const Range ranges[] = {
      {"0.0.0.0", "0.255.255.255", "0.0.0.0/8"},
      {"10.0.0.0", "10.255.255.255", "private 10.0.0.0/8"},
      {"100.64.0.0", "100.127.255.255", "CGNAT"},
      {"127.0.0.0", "127.255.255.255", "loopback"},
      {"169.254.0.0", "169.254.255.255", "link-local 169.254.0.0/16"},
      {"172.16.0.0", "172.31.255.255", "private 172.16.0.0/12"},
      {"192.0.0.0", "192.0.0.255", "192.0.0.0/24"},
      {"192.0.2.0", "192.0.2.255", "documentation 192.0.2.0/24"},
      {"192.88.99.0", "192.88.99.255", "6to4"},
      {"192.168.0.0", "192.168.255.255", "private 192.168.0.0/16"},
      {"198.18.0.0", "198.19.255.255", "benchmarking 198.18.0.0/15"},
      {"198.51.100.0", "198.51.100.255", "documentation 198.51.100.0/24"},
      {"203.0.113.0", "203.0.113.255", "documentation 203.0.113.0/24"},
      {"224.0.0.0", "239.255.255.255", "multicast 224.0.0.0/4"},
      {"240.0.0.0", "255.255.255.255", "reserved 240.0.0.0/4"},
  };
  for (const Range& range : ranges) {
    for (const char* address : {range.first, range.last}) {
      INFO(address);
      std::optional<std::string> why = Why(address);
      REQUIRE(why.has_value());
      CHECK_THAT(*why, Catch::Contains(range.reason));
    }
  }
  // And whatever the shared list holds, computed from it.
  for (const std::string& cidr : net::NonGlobalIpv4()) {
    size_t slash = cidr.find('/');
    REQUIRE(slash != std::string::npos);
    in_addr base{};
    REQUIRE(inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &base) == 1);
    int length = std::stoi(cidr.substr(slash + 1));
    uint32_t first = ntohl(base.s_addr);
    uint32_t last = first | (length == 0 ? ~0u : (length >= 32 ? 0u : ~0u >> length));
    for (uint32_t address : {first, last}) {
      INFO(cidr << " " << FormatV4(address));
      CHECK(Refused(FormatV4(address)));
      // The same address IPv4-mapped and through NAT64.
      CHECK(Refused("::ffff:" + FormatV4(address)));
      CHECK(Refused("64:ff9b::" + FormatV4(address)));
    }
  }
}

TEST_CASE("proxy guard: global IPv4 is allowed, right up to the edges of the ranges", "[proxy]") {
  // Values only: nothing here is contacted.
  for (const char* address :
       {"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255",
        "128.0.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0", "192.0.1.0", "192.0.3.0",
        "192.88.98.255", "192.88.100.0", "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0",
        "198.51.99.255", "198.51.101.0", "203.0.112.255", "203.0.114.0", "223.255.255.255"}) {
    INFO(address);
    CHECK(Why(address) == std::nullopt);
  }
}

TEST_CASE("proxy guard: the metadata address says so", "[proxy]") {
  std::optional<std::string> why = Why("169.254.169.254", Guard());
  REQUIRE(why.has_value());
  CHECK_THAT(*why, Catch::Contains("metadata"));
  CHECK_THAT(*why, Catch::Contains("169.254.0.0/16"));
}

TEST_CASE("proxy guard: an allowed CIDR beats the refusal list", "[proxy]") {
  AddressGuard guard = Guard({"198.18.255.0/25", "fd00:1::/64"});
  CHECK(Why("198.18.255.0", guard) == std::nullopt);
  CHECK(Why("198.18.255.1", guard) == std::nullopt);
  CHECK(Why("198.18.255.127", guard) == std::nullopt);
  CHECK(Refused("198.18.255.128", guard));
  CHECK(Refused("198.18.254.255", guard));
  CHECK(Refused("10.0.0.1", guard));
  // The IPv4 CIDRs apply to embedded addresses too.
  CHECK(Why("::ffff:198.18.255.1", guard) == std::nullopt);
  CHECK(Why("64:ff9b::198.18.255.1", guard) == std::nullopt);
  CHECK(Refused("::ffff:198.18.255.128", guard));
  CHECK(Why("fd00:1::5", guard) == std::nullopt);
  CHECK(Refused("fd00:2::5", guard));
  // Without the guard's allow list they are refused.
  CHECK(Refused("198.18.255.1"));
  CHECK(Refused("fd00:1::5"));
}

TEST_CASE("proxy guard: allow never beats loopback, unspecified or the host's own addresses", "[proxy]") {
  AddressGuard everything = Guard({"0.0.0.0/0", "::/0"});
  CHECK(Why("10.0.0.1", everything) == std::nullopt);
  CHECK(Why("169.254.169.254", everything) == std::nullopt);
  CHECK(Why("fe80::1", everything) == std::nullopt);
  for (const char* address : {"127.0.0.1", "127.255.255.255", "0.0.0.0", "0.1.2.3", "::1", "::", "::ffff:127.0.0.1",
                              "::ffff:0.0.0.0", "64:ff9b::127.0.0.1"}) {
    INFO(address);
    CHECK(Refused(address, everything));
  }
  CHECK_THAT(*Why("127.0.0.1", everything), Catch::Contains("loopback"));
  CHECK_THAT(*Why("::1", everything), Catch::Contains("loopback"));
  CHECK(Refused("127.0.0.1", Guard({"127.0.0.0/8"})));
  CHECK(Refused("::1", Guard({"::1/128"})));

  // The host's own addresses, global or not, whatever the port.
  AddressGuard own = Guard({"198.18.0.0/15", "2606:4700::/32", "0.0.0.0/0"},
                           {Ep("198.18.0.2", 0), Ep("2606:4700::5", 0), Ep("8.8.4.4", 0)});
  for (const char* address : {"198.18.0.2", "2606:4700::5", "8.8.4.4", "::ffff:198.18.0.2", "::ffff:8.8.4.4"}) {
    INFO(address);
    std::optional<std::string> why = Why(address, own);
    REQUIRE(why.has_value());
    CHECK(*why == "the host's own address");
  }
  CHECK(proxy::RefusalReason(Ep("198.18.0.2", 8080), own) == "the host's own address");
  CHECK(Why("198.18.0.3", own) == std::nullopt);
  CHECK(Why("2606:4700::6", own) == std::nullopt);
  CHECK(Why("8.8.8.8", own) == std::nullopt);
  // A local address given IPv4-mapped still covers the plain IPv4 one.
  AddressGuard mapped_local = Guard({}, {Ep("::ffff:8.8.4.4", 0)});
  CHECK(Why("8.8.4.4", mapped_local) == "the host's own address");
}

TEST_CASE("proxy guard: IPv6", "[proxy]") {
  struct Case {
    const char* address;
    const char* reason;  // nullptr: allowed
  };
  const Case cases[] = {
      {"::1", "loopback"},
      {"::", "unspecified"},
      {"fe80::1", "link-local fe80::/10"},
      {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local"},
      {"fd00::1", "unique local fc00::/7"},
      {"fc00::", "unique local"},
      {"ff02::1", "multicast ff00::/8"},
      {"ff0e::1", "multicast"},
      {"2001:db8::1", "documentation 2001:db8::/32"},
      {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"},
      {"3fff::1", "documentation 3fff::/20"},
      {"3fff:fff::1", "documentation"},
      {"2001::1", "2001::/23"},
      {"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
      {"2001:1ff::1", "2001::/23"},
      {"2002:c000:204::1", "6to4 2002::/16"},
      {"::ffff:127.0.0.1", "loopback"},
      {"::ffff:10.1.2.3", "private 10.0.0.0/8"},
      {"::ffff:169.254.169.254", "metadata"},
      {"64:ff9b::a00:1", "private 10.0.0.0/8"},
      {"64:ff9b::a9fe:a9fe", "metadata"},
      {"64:ff9b:1::1", "2000::/3"},
      {"::1.2.3.4", "2000::/3"},
      {"100::1", "2000::/3"},
      {"4000::1", "2000::/3"},
      {"fec0::1", "2000::/3"},
      {"::ffff:8.8.8.8", nullptr},
      {"64:ff9b::808:808", nullptr},
      {"2606:4700::1", nullptr},
      {"2001:200::1", nullptr},
      {"2003::1", nullptr},
      {"2a00:1450::1", nullptr},
      {"3ffe::1", nullptr},
      {"3fff:1000::1", nullptr},
  };
  for (const Case& c : cases) {
    INFO(c.address);
    std::optional<std::string> why = Why(c.address);
    if (c.reason == nullptr) {
      CHECK(why == std::nullopt);
    } else {
      REQUIRE(why.has_value());
      CHECK_THAT(*why, Catch::Contains(c.reason));
    }
  }
  // Allowing IPv6 ranges reopens them, but not the IPv4 inside mapped or NAT64 addresses.
  AddressGuard v6 = Guard({"2001:db8::/32", "fe80::/10", "::ffff:0:0/96", "64:ff9b::/96"});
  CHECK(Why("2001:db8::1", v6) == std::nullopt);
  CHECK(Why("fe80::1", v6) == std::nullopt);
  CHECK(Refused("::ffff:10.0.0.1", v6));
  CHECK(Refused("64:ff9b::a00:1", v6));
}

TEST_CASE("proxy guard: reasons are short and printable", "[proxy]") {
  AddressGuard guard = Guard({}, {Ep("8.8.4.4", 0)});
  for (const char* address : {"0.0.0.0", "10.0.0.1", "100.64.0.1", "127.0.0.1", "169.254.169.254", "192.0.0.8",
                              "224.0.0.1", "255.255.255.255", "8.8.4.4", "::", "::1", "fe80::1", "fd00::1", "ff02::1",
                              "2001::1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "4000::1"}) {
    INFO(address);
    std::optional<std::string> why = Why(address, guard);
    REQUIRE(why.has_value());
    CHECK(!why->empty());
    CHECK(why->size() <= 100);
    for (char ch : *why) CHECK((ch >= 0x20 && ch < 0x7f));
  }
}

TEST_CASE("proxy guard: ParseIpLiteral takes strict numeric literals only", "[proxy]") {
  for (const char* bad :
       {"127.1", "0x7f.0.0.1", "0x7f000001", "2130706433", "0177.0.0.1", "01.2.3.4", "1.2.3.04", "1.2.3.4.5",
        "1.2.3", "256.1.1.1", "1.2.3.256", "1.2.3.-1", "1.2.3.+4", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "1..2.3",
        ".1.2.3", "1.2.3.", "", "localhost", "example.com", "[1.2.3.4]", "[::1", "::1]", "[[::1]]", "[]",
        "fe80::1%eth0", "[fe80::1%eth0]", "fe80::1%1", ":::1", "1::2::3", "12345::1", "::ffff:127.1",
        "::ffff:0177.0.0.1", "::1 ", "1.2.3.4/32", "::1/128", "1.2.3.4:80", "[::1]:80", "g::1"}) {
    INFO("'" << bad << "'");
    CHECK(proxy::ParseIpLiteral(bad, 443) == std::nullopt);
  }
  CHECK(proxy::ParseIpLiteral(std::string_view("1.2.3.4\0", 8), 443) == std::nullopt);
  CHECK(proxy::ParseIpLiteral(std::string_view("::1\0", 4), 443) == std::nullopt);

  std::optional<Endpoint> v4 = proxy::ParseIpLiteral("198.18.0.2", 443);
  REQUIRE(v4.has_value());
  REQUIRE(v4->length == sizeof(sockaddr_in));
  const auto* in4 = reinterpret_cast<const sockaddr_in*>(&v4->address);
  CHECK(in4->sin_family == AF_INET);
  CHECK(in4->sin_port == htons(443));
  CHECK(ntohl(in4->sin_addr.s_addr) == 0xc6120002u);
  CHECK(proxy::ToString(*v4) == "198.18.0.2:443");

  for (const char* text : {"2001:db8::1", "[2001:db8::1]", "2001:DB8:0:0:0:0:0:1"}) {
    INFO(text);
    std::optional<Endpoint> v6 = proxy::ParseIpLiteral(text, 443);
    REQUIRE(v6.has_value());
    REQUIRE(v6->length == sizeof(sockaddr_in6));
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&v6->address);
    CHECK(in6->sin6_family == AF_INET6);
    CHECK(in6->sin6_port == htons(443));
    CHECK(in6->sin6_scope_id == 0);
    CHECK(proxy::ToString(*v6) == "[2001:db8::1]:443");
  }
  CHECK(proxy::ToString(Ep("[::1]", 8080)) == "[::1]:8080");
  CHECK(proxy::ToString(Ep("::ffff:1.2.3.4", 80)) == "[::ffff:1.2.3.4]:80");
  CHECK(proxy::ToString(Ep("0.0.0.0", 0)) == "0.0.0.0:0");
  CHECK(proxy::ToString(Ep("255.255.255.255", 65535)) == "255.255.255.255:65535");
  CHECK(proxy::ToString(Endpoint{}) == "<invalid endpoint>");
}

TEST_CASE("proxy guard: odd endpoints are refused", "[proxy]") {
  CHECK(proxy::RefusalReason(Endpoint{}, AddressGuard{}).has_value());
  Endpoint short_v4 = Ep("8.8.8.8");
  short_v4.length = sizeof(sockaddr_in) - 1;
  CHECK(proxy::RefusalReason(short_v4, AddressGuard{}).has_value());
  Endpoint unix_socket;
  unix_socket.address.ss_family = AF_UNIX;
  unix_socket.length = sizeof(sockaddr_storage);
  CHECK(proxy::RefusalReason(unix_socket, AddressGuard{}).has_value());
  // An allow entry that never went through Make allows nothing.
  AddressGuard unchecked;
  unchecked.allow = {"10.0.0.0/8x", "10.0.0.1/8"};
  CHECK(Refused("10.0.0.1", unchecked));
}

TEST_CASE("proxy guard: Make refuses bad CIDRs, naming them", "[proxy]") {
  for (const char* bad : {"10.0.0.0/33", "10.0.0.1/8", "x", "10.0.0.0", "10.0.0.0/", "/8", "10.0.0.0/-1",
                          "10.0.0.0/+8", "10.0.0.0/08", "10.0.0.0/8 ", " 10.0.0.0/8", "10.0.0/8", "010.0.0.0/8",
                          "fd00::/129", "fd00::1/64", "[fd00::]/8", "fe80::%eth0/10", "10.0.0.0/8/8", ""}) {
    INFO("'" << bad << "'");
    absl::StatusOr<AddressGuard> guard = AddressGuard::Make({"192.168.0.0/16", bad}, {});
    REQUIRE(!guard.ok());
    CHECK(guard.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(guard.status().message()), Catch::Contains(std::string("'") + bad + "'"));
  }
  for (const char* good : {"10.0.0.0/8", "0.0.0.0/0", "1.2.3.4/32", "::/0", "fd00::/8", "2001:db8::1/128",
                           "::ffff:10.0.0.0/104"}) {
    INFO(good);
    absl::StatusOr<AddressGuard> guard = AddressGuard::Make({good}, {});
    CHECK(guard.ok());
    if (guard.ok()) CHECK(guard->allow == std::vector<std::string>{good});
  }
}

TEST_CASE("proxy guard: this namespace's own addresses", "[proxy]") {
  absl::StatusOr<std::vector<Endpoint>> local = proxy::LocalAddresses();
  REQUIRE(local.ok());
  AddressGuard guard = Guard({"0.0.0.0/0", "::/0"}, *local);
  for (const Endpoint& endpoint : *local) {
    INFO(proxy::ToString(endpoint));
    int family = endpoint.address.ss_family;
    CHECK((family == AF_INET || family == AF_INET6));
    CHECK(proxy::RefusalReason(endpoint, guard).has_value());
  }
}
