// Root tests of policy/net on real network namespaces: uplinks (netns and nat), the seal and its
// verification, crash cleanup. Every namespace, veth and nftables table is made by the test, named
// after the test process, and removed at the end (also when a check fails). Traffic only flows
// between namespaces the test owns; nat traffic goes through a test-made "host" netns, never the
// machine's real uplink.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
// For the run-end listener below.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>
#include <sys/mount.h>

#include <filesystem>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "policy/net/in_netns.h"
#include "policy/net/names.h"
#include "policy/net/net_dev.h"
#include "policy/net/netns.h"
#include "policy/net/rtnl.h"
#include "policy/net/sandbox_network.h"
#include "shim/base/subprocess.h"
#include "shim/base/unique_fd.h"

using namespace airlock;
using namespace airlock::net;

namespace {

bool IsRoot() { return ::geteuid() == 0; }

// These tests make netns, veths and nft tables: without root they warn and pass nothing.
#define SKIP_UNLESS_ROOT()  \
  do {                      \
    if (!IsRoot()) {        \
      WARN("needs root");   \
      return;               \
    }                       \
  } while (false)

absl::Status StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& value) {
  return value.status();
}

// REQUIRE(x.ok()) that shows the status when it fails.
#define REQUIRE_OK(expr)                  \
  do {                                    \
    const auto& required_ = (expr);       \
    INFO(StatusOf(required_).ToString()); \
    REQUIRE(StatusOf(required_).ok());    \
  } while (0)

std::string Unique(absl::string_view tag) { return absl::StrCat("nt", ::getpid(), "-", tag); }

std::string NetnsPath(absl::string_view name) { return absl::StrCat(kDefaultNetnsDir, "/", name); }

// Runs a shell command (for fixtures and independent checks); returns stdout, exit status in *rc.
std::string Sh(const std::string& command, int* rc = nullptr) {
  auto result =
      Run({.argv = {"/bin/sh", "-c", command}, .capture_stdout = true, .capture_stderr = true}, absl::Seconds(30));
  if (!result.ok()) {
    if (rc) *rc = -1;
    return "";
  }
  if (rc) *rc = result->exit.status;
  return result->out + result->err;
}

// `ip ...` inside a netns given by path.
std::string IpIn(absl::string_view netns_path, absl::string_view args, int* rc = nullptr) {
  return Sh(absl::StrCat("nsenter --net=", netns_path, " ip ", args), rc);
}

// Removes, at scope exit, every sandbox and plain netns the test registered.
struct Leftovers {
  std::vector<std::string> sandboxes;
  std::vector<std::string> netns;
  ~Leftovers() {
    for (const std::string& name : sandboxes) (void)SandboxNetwork::Cleanup(name);
    for (const std::string& name : netns) (void)Netns::Remove(name);
  }
};

absl::StatusOr<int> ReadIpForward(int netns_fd) {
  int value = -1;
  absl::Status status = RunInNetns(netns_fd, [&]() -> absl::Status {
    UniqueFd fd(::open("/proc/sys/net/ipv4/ip_forward", O_RDONLY | O_CLOEXEC));
    char c = 0;
    if (!fd || ::read(fd.get(), &c, 1) != 1) return absl::InternalError("read ip_forward");
    value = c - '0';
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return value;
}

sockaddr_in Ipv4Sockaddr(const std::string& ip, uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  return addr;
}

// A TCP socket made inside `netns_fd` (the socket keeps that netns for life).
UniqueFd TcpSocketIn(int netns_fd) {
  UniqueFd fd;
  absl::Status status = RunInNetns(netns_fd, [&]() -> absl::Status {
    fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    return fd ? absl::OkStatus() : absl::InternalError("socket");
  });
  REQUIRE(status.ok());
  return fd;
}

// A listener on ip (port chosen by the kernel) inside `netns_fd`.
UniqueFd ListenIn(int netns_fd, const std::string& ip, uint16_t* port) {
  UniqueFd fd = TcpSocketIn(netns_fd);
  sockaddr_in addr = Ipv4Sockaddr(ip, 0);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(fd.get(), 8) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

// Connects from inside `netns_fd`; 0 on success, else the errno (ETIMEDOUT after 3 s).
int ConnectFrom(int netns_fd, const std::string& ip, uint16_t port) {
  UniqueFd fd = TcpSocketIn(netns_fd);
  sockaddr_in addr = Ipv4Sockaddr(ip, port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  pollfd p{fd.get(), POLLOUT, 0};
  if (::poll(&p, 1, 3000) != 1) return ETIMEDOUT;
  int error = 0;
  socklen_t len = sizeof(error);
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len);
  return error;
}

// Accepts one connection (3 s at most); returns the peer's address, "" when none came.
std::string AcceptPeer(int listen_fd) {
  pollfd p{listen_fd, POLLIN, 0};
  if (::poll(&p, 1, 3000) != 1) return "";
  sockaddr_in peer{};
  socklen_t len = sizeof(peer);
  UniqueFd conn(::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
  if (!conn) return "";
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text));
  return text;
}

int CountLines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

// An "upstream" netns standing in for the internet: lo up with `ip`/32 on it.
// A plain netns of this test's (lo only), removed with `leftovers`.
absl::StatusOr<Netns> TestNetns(Leftovers& leftovers, absl::string_view tag) {
  std::string name = Unique(tag);
  leftovers.netns.push_back(name);
  return Netns::Create(name);
}

Netns MakeUpstream(const std::string& name, const std::string& ip) {
  auto upstream = Netns::Create(name);
  REQUIRE_OK(upstream);
  auto socket = NetlinkSocket::OpenInNetns(upstream->fd());
  REQUIRE_OK(socket);
  REQUIRE_OK(SetLinkUp(*socket, kLoopbackIndex));
  REQUIRE_OK(AddIpv4Address(*socket, kLoopbackIndex, *ParseIpv4(ip), 32));
  return *std::move(upstream);
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("netns uplink reaches the upstream until the seal; then only lo is left", "[net][root]") {
  SKIP_UNLESS_ROOT();
  Leftovers leftovers;
  std::string up_name = Unique("up");
  std::string name = Unique("sbx");
  leftovers.netns.push_back(up_name);
  leftovers.sandboxes.push_back(name);

  Netns upstream = MakeUpstream(up_name, "198.18.99.1");
  auto sandbox = SandboxNetwork::Create(name);
  REQUIRE_OK(sandbox);
  SandboxNetwork& net = **sandbox;
  CHECK(PathExists(NetnsPath(name)));
  // Fresh netns: lo only, verified even before any uplink.
  CHECK(net.Verify().verified);

  auto uplink = net.AddUplink({.mode = UplinkMode::kNetns, .upstream_netns_path = upstream.path()});
  REQUIRE_OK(uplink);
  INFO("sandbox " << FormatIpv4(uplink->addresses.sandbox) << " via " << FormatIpv4(uplink->addresses.outer));
  CHECK(uplink->sandbox_veth == VethName(name, VethSide::kSandbox));
  // The pool slot that holds the upstream's own 198.18.99.1 was not handed out.
  CHECK_FALSE(Overlaps({uplink->addresses.outer, 30}, {*ParseIpv4("198.18.99.1"), 32}));
  CHECK(net.AddUplink({.mode = UplinkMode::kNone}).status().code() == absl::StatusCode::kAlreadyExists);

  // Checked independently with iproute2: the veth ends are where they belong, up, addressed.
  std::string sandbox_links = IpIn(net.netns_path(), "-o link show");
  CHECK(absl::StrContains(sandbox_links, uplink->sandbox_veth));
  CHECK(absl::StrContains(IpIn(upstream.path(), "-o link show"), uplink->outer_veth));
  CHECK_FALSE(absl::StrContains(Sh("ip -o link show"), uplink->outer_veth));  // never in the host netns
  CHECK(absl::StrContains(IpIn(net.netns_path(), "route show"),
                          absl::StrCat("default via ", FormatIpv4(uplink->addresses.outer))));
  CHECK(net.Verify().verified == false);  // an uplink is, by definition, not sealed
  // IPv4 only: neither end has an IPv6 address (no link-local path to the upstream).
  CHECK(IpIn(net.netns_path(), absl::StrCat("-6 -o addr show dev ", uplink->sandbox_veth)).empty());
  CHECK(IpIn(upstream.path(), absl::StrCat("-6 -o addr show dev ", uplink->outer_veth)).empty());

  uint16_t port = 0;
  UniqueFd listener = ListenIn(upstream.fd(), "198.18.99.1", &port);
  REQUIRE(ConnectFrom(net.netns_fd(), "198.18.99.1", port) == 0);
  CHECK(AcceptPeer(listener.get()) == FormatIpv4(uplink->addresses.sandbox));

  SealReport report = net.Seal();
  std::printf("seal (netns uplink): trigger->verified %s\n", absl::FormatDuration(report.to_verified).c_str());
  CHECK(net.ReleaseHostState().empty());  // nothing on the host side of a netns uplink
  INFO(report.ToString());
  CHECK(report.verified);
  CHECK(report.errors.empty());
  CHECK(report.check.links.size() == 1);
  CHECK(net.sealed());

  int error = ConnectFrom(net.netns_fd(), "198.18.99.1", port);
  CHECK(error == ENETUNREACH);
  // Loopback still works inside.
  uint16_t lo_port = 0;
  UniqueFd lo_listener = ListenIn(net.netns_fd(), "127.0.0.1", &lo_port);
  CHECK(ConnectFrom(net.netns_fd(), "127.0.0.1", lo_port) == 0);
  CHECK(AcceptPeer(lo_listener.get()) == "127.0.0.1");
  // Only lo, in the sandbox; nothing left in the upstream.
  std::string links = IpIn(net.netns_path(), "-o link show");
  CHECK(CountLines(links) == 1);
  CHECK(absl::StrContains(links, "lo:"));
  CHECK(CountLines(IpIn(upstream.path(), "-o link show")) == 1);
  CHECK(IpIn(net.netns_path(), "-4 route show table all").find("default") == std::string::npos);

  // One-way.
  auto again = net.AddUplink({.mode = UplinkMode::kNetns, .upstream_netns_path = upstream.path()});
  CHECK(again.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(net.Seal().verified);  // re-verification

  REQUIRE_OK(net.Remove());
  CHECK(net.Remove().ok());  // idempotent
  CHECK_FALSE(PathExists(NetnsPath(name)));
  sandbox->reset();
}

TEST_CASE("the seal check fails on anything but loopback", "[net][root]") {
  SKIP_UNLESS_ROOT();
  Leftovers leftovers;
  std::string name = Unique("sneak");
  leftovers.sandboxes.push_back(name);
  auto sandbox = SandboxNetwork::Create(name);
  REQUIRE_OK(sandbox);
  SandboxNetwork& net = **sandbox;
  REQUIRE_OK(net.AddUplink({.mode = UplinkMode::kNone}));
  REQUIRE(net.Verify().verified);
  const std::string& path = net.netns_path();

  // Each intrusion must be seen; after undoing it the netns verifies again. (This kernel has no
  // dummy driver; bridge, ifb, tun, veth and vxlan devices do the same job.)
  struct Intrusion {
    const char* add;
    const char* undo;
    const char* expect;  // in a violation
  };
  const Intrusion intrusions[] = {
      {"link add x0 type bridge", "link del x0", "x0"},
      {"link add x1 type ifb", "link del x1", "x1"},
      {"tuntap add x2 mode tun", "tuntap del x2 mode tun", "x2"},
      {"link add x3 type veth peer name x4", "link del x3", "veth"},
      {"link add x5 type vxlan id 7 dstport 4789", "link del x5", "vxlan"},
      {"addr add 10.1.2.3/32 dev lo", "addr del 10.1.2.3/32 dev lo", "10.1.2.3"},
      {"-6 addr add 2001:db8::1/128 dev lo", "-6 addr del 2001:db8::1/128 dev lo", "2001:db8::1"},
      {"route add 10.0.0.0/8 dev lo", "route del 10.0.0.0/8 dev lo", "10.0.0.0"},
      {"route add blackhole 192.0.2.0/24 table 100", "route del blackhole 192.0.2.0/24 table 100", "table 100"},
      {"-6 route add 2001:db8::/32 dev lo table 200", "-6 route del 2001:db8::/32 dev lo table 200", "table 200"},
      {"rule add from 10.0.0.0/8 lookup 100 pref 100", "rule del pref 100", "pref 100"},
      {"-6 rule add fwmark 7 lookup 100 pref 101", "-6 rule del pref 101", "pref 101"},
  };
  for (const Intrusion& intrusion : intrusions) {
    INFO(intrusion.add);
    int rc = -1;
    std::string out = IpIn(path, intrusion.add, &rc);
    INFO(out);
    REQUIRE(rc == 0);
    SealCheck check = net.Verify();
    CHECK_FALSE(check.verified);
    bool named = false;
    for (const std::string& violation : check.violations) named |= absl::StrContains(violation, intrusion.expect);
    INFO(absl::StrJoin(check.violations, "; "));
    CHECK(named);
    REQUIRE(IpIn(path, intrusion.undo, &rc).find("rror") == std::string::npos);
    CHECK(net.Verify().verified);
  }

  // A setup with CAP_NET_ADMIN renames the loopback and gives its name to a device of its own: the
  // device list shows two entries (or none called lo), never "only lo".
  int rc = -1;
  IpIn(path, "link set lo name lx", &rc);
  REQUIRE(rc == 0);
  SealCheck renamed = net.Verify(LinkDetail::kNames);
  CHECK_FALSE(renamed.verified);
  INFO(absl::StrJoin(renamed.violations, "; "));
  CHECK(absl::StrContains(absl::StrJoin(renamed.violations, "; "), "lo is missing"));
  IpIn(path, "link add lo type bridge", &rc);
  REQUIRE(rc == 0);
  for (LinkDetail detail : {LinkDetail::kNames, LinkDetail::kDump}) {
    SealCheck impostor = net.Verify(detail);
    CHECK_FALSE(impostor.verified);
    CHECK(absl::StrContains(absl::StrJoin(impostor.violations, "; "), "lx"));
  }
  IpIn(path, "link del lo", &rc);
  REQUIRE(rc == 0);
  IpIn(path, "link set lx name lo", &rc);
  REQUIRE(rc == 0);
  CHECK(net.Verify().verified);

  // The seal itself reports failure when something is left (fail closed).
  IpIn(path, "link add x9 type bridge", &rc);
  REQUIRE(rc == 0);
  SealReport report = net.Seal();
  CHECK_FALSE(report.verified);
  CHECK(absl::StrContains(report.ToString(), "x9"));
  CHECK(net.sealed());
  REQUIRE_OK(net.Remove());
}

TEST_CASE("the device list is the netns's own, read afresh on every read", "[net][root]") {
  SKIP_UNLESS_ROOT();
  Leftovers leftovers;
  auto netns = TestNetns(leftovers, "devs");
  REQUIRE_OK(netns);
  auto devices = NetDevList::OpenIn(netns->fd());
  REQUIRE_OK(devices);
  CHECK(devices->Read().value() == std::vector<std::string>{"lo"});  // not the host's devices
  int rc = -1;
  IpIn(netns->path(), "link add x0 type bridge", &rc);
  REQUIRE(rc == 0);
  CHECK(devices->Read().value() == std::vector<std::string>{"lo", "x0"});
  IpIn(netns->path(), "link del x0", &rc);
  REQUIRE(rc == 0);
  CHECK(devices->Read().value() == std::vector<std::string>{"lo"});
  UniqueFd not_a_netns(::open("/", O_RDONLY | O_CLOEXEC));
  CHECK_FALSE(NetDevList::OpenIn(not_a_netns.get()).ok());
}

TEST_CASE("a link without IPv6 still comes up when asked for no link-local address", "[net][root]") {
  SKIP_UNLESS_ROOT();
  Leftovers leftovers;
  auto netns = TestNetns(leftovers, "noip6");
  REQUIRE_OK(netns);
  // Below 1280 bytes of MTU a link gets no IPv6 state: the kernel refuses IPv6 link settings for it
  // (EAFNOSUPPORT), as it does for every link on a host booted with ipv6.disable=1.
  int rc = -1;
  IpIn(netns->path(), "link add n0 mtu 1000 type veth peer name n1 mtu 1000", &rc);
  REQUIRE(rc == 0);
  auto socket = NetlinkSocket::OpenInNetns(netns->fd());
  REQUIRE_OK(socket);
  auto index = LinkIndex(*socket, "n0");
  REQUIRE_OK(index);
  CHECK(absl::IsNotFound(LinkIndex(*socket, "n9").status()));
  REQUIRE_OK(SetLinkUp(*socket, *index, Ipv6LinkLocal::kNone));
  CHECK(absl::StrContains(IpIn(netns->path(), "-o link show n0"), ",UP"));
}

TEST_CASE("forged netlink replies from inside the netns are not believed", "[net][root]") {
  SKIP_UNLESS_ROOT();
  Leftovers leftovers;
  auto netns = TestNetns(leftovers, "forge");
  REQUIRE_OK(netns);
  int rc = -1;
  IpIn(netns->path(), "link add x0 type bridge", &rc);
  REQUIRE(rc == 0);
  auto victim = NetlinkSocket::OpenInNetns(netns->fd());
  REQUIRE_OK(victim);

  // An attacker socket in the same netns sends a complete "only lo" dump to the victim's port for
  // the next few sequence numbers, before the victim asks.
  UniqueFd attacker;
  REQUIRE(RunInNetns(netns->fd(), [&]() -> absl::Status {
            attacker.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
            return attacker ? absl::OkStatus() : absl::InternalError("socket");
          }).ok());
  int refused = 0;
  for (uint32_t seq = 1; seq <= 4; ++seq) {
    std::vector<uint8_t> datagram;
    auto put = [&](uint16_t type, const std::vector<uint8_t>& payload) {
      nlmsghdr h{};
      h.nlmsg_len = static_cast<uint32_t>(sizeof(h) + payload.size());
      h.nlmsg_type = type;
      h.nlmsg_flags = NLM_F_MULTI;
      h.nlmsg_seq = seq;
      h.nlmsg_pid = victim->port();
      const auto* p = reinterpret_cast<const uint8_t*>(&h);
      datagram.insert(datagram.end(), p, p + sizeof(h));
      datagram.insert(datagram.end(), payload.begin(), payload.end());
    };
    std::vector<uint8_t> lo(sizeof(ifinfomsg), 0);
    ifinfomsg info{};
    info.ifi_index = 1;
    info.ifi_flags = IFF_LOOPBACK | IFF_UP;
    std::memcpy(lo.data(), &info, sizeof(info));
    const uint8_t name_attr[] = {7, 0, IFLA_IFNAME, 0, 'l', 'o', 0, 0};
    lo.insert(lo.end(), name_attr, name_attr + sizeof(name_attr));
    put(RTM_NEWLINK, lo);
    put(NLMSG_DONE, {0, 0, 0, 0});
    sockaddr_nl to{};
    to.nl_family = AF_NETLINK;
    to.nl_pid = victim->port();
    if (::sendto(attacker.get(), datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) <
        0) {
      ++refused;
    }
  }
  INFO("forged datagrams refused by the kernel: " << refused);
  auto links = ListLinks(*victim);
  REQUIRE_OK(links);
  bool saw_bridge = false;
  for (const Link& link : *links) saw_bridge |= link.name == "x0";
  CHECK(saw_bridge);
  CHECK(links->size() == 2);
}

TEST_CASE("nat uplink on the host: addresses, route and nft table, gone after the seal", "[net][root]") {
  SKIP_UNLESS_ROOT();
  Leftovers leftovers;
  std::string name = Unique("nat");
  leftovers.sandboxes.push_back(name);
  std::string table = NftTableName(name);
  auto forward_before = ReadIpForward(-1);
  REQUIRE_OK(forward_before);

  auto sandbox = SandboxNetwork::Create(name);
  REQUIRE_OK(sandbox);
  SandboxNetwork& net = **sandbox;
  // No traffic goes anywhere in this test; the host's ip_forward is left alone (other people's
  // containers may depend on it): forwarding management is tested in a test-owned netns below.
  auto uplink =
      net.AddUplink({.mode = UplinkMode::kNat, .pool = *ParseIpv4Prefix("198.18.0.0/16"), .manage_ip_forward = false});
  REQUIRE_OK(uplink);
  CHECK(Overlaps({uplink->addresses.sandbox, 32}, *ParseIpv4Prefix("198.18.0.0/16")));
  CHECK(uplink->nft_table == table);

  CHECK(absl::StrContains(Sh(absl::StrCat("ip -o addr show dev ", uplink->outer_veth)),
                          absl::StrCat(FormatIpv4(uplink->addresses.outer), "/30")));
  CHECK(absl::StrContains(IpIn(net.netns_path(), "-o addr show"),
                          absl::StrCat(FormatIpv4(uplink->addresses.sandbox), "/30")));
  CHECK(absl::StrContains(IpIn(net.netns_path(), "route show"),
                          absl::StrCat("default via ", FormatIpv4(uplink->addresses.outer))));
  CHECK(absl::StrContains(Sh("nft list tables"), absl::StrCat("table ip ", table)));
  // No IPv6 on either end: setup cannot reach the host's services over a link-local address.
  CHECK(Sh(absl::StrCat("ip -6 -o addr show dev ", uplink->outer_veth)).empty());
  CHECK(IpIn(net.netns_path(), absl::StrCat("-6 -o addr show dev ", uplink->sandbox_veth)).empty());
  std::string rules = Sh(absl::StrCat("nft list table ip ", table));
  CHECK(absl::StrContains(rules, absl::StrCat("ip saddr ", FormatIpv4(uplink->addresses.sandbox))));
  CHECK(absl::StrContains(rules, "masquerade"));
  CHECK(absl::StrContains(rules, uplink->outer_veth));
  CHECK(*ReadIpForward(-1) == *forward_before);

  SealReport report = net.Seal();
  INFO(report.ToString());
  CHECK(report.verified);
  CHECK(report.errors.empty());
  // Verified before the host-side hygiene: the nft table is still there until it is released.
  CHECK(absl::StrContains(Sh("nft list tables"), table));
  absl::Time release_start = absl::Now();
  CHECK(net.ReleaseHostState().empty());
  std::printf("seal (nat uplink): trigger->verified %s, then host-side cleanup (nft table) %s\n",
              absl::FormatDuration(report.to_verified).c_str(), absl::FormatDuration(absl::Now() - release_start).c_str());
  CHECK(net.ReleaseHostState().empty());  // idempotent
  CHECK_FALSE(absl::StrContains(Sh("nft list tables"), table));
  int rc = 0;
  Sh(absl::StrCat("ip link show ", uplink->outer_veth), &rc);
  CHECK(rc != 0);
  CHECK(*ReadIpForward(-1) == *forward_before);
  REQUIRE_OK(net.Remove());
}

TEST_CASE("nat uplink carries masqueraded traffic through a test-owned host netns", "[net][root]") {
  SKIP_UNLESS_ROOT();
  Leftovers leftovers;
  std::string host_name = Unique("host");
  std::string up_name = Unique("inet");
  std::string name = Unique("natx");
  leftovers.netns = {host_name, up_name};
  leftovers.sandboxes.push_back(name);
  auto host_forward_before = ReadIpForward(-1);
  REQUIRE_OK(host_forward_before);

  // host <-> internet: 198.19.0.1/30 <-> 198.19.0.2/30; the host's default route points there.
  // The internet has no route back to the sandbox pool: only masquerading gets replies home.
  auto host = Netns::Create(host_name);
  REQUIRE_OK(host);
  auto inet = Netns::Create(up_name);
  REQUIRE_OK(inet);
  auto host_socket = NetlinkSocket::OpenInNetns(host->fd());
  auto inet_socket = NetlinkSocket::OpenInNetns(inet->fd());
  REQUIRE_OK(host_socket);
  REQUIRE_OK(inet_socket);
  REQUIRE_OK(CreateVeth(*host_socket, {.name = "tst-h", .peer_name = "tst-i", .peer_netns_fd = inet->fd()}));
  auto h_index = LinkIndex(*host_socket, "tst-h");
  auto i_index = LinkIndex(*inet_socket, "tst-i");
  REQUIRE_OK(h_index);
  REQUIRE_OK(i_index);
  REQUIRE_OK(SetLinkUp(*host_socket, *h_index));
  REQUIRE_OK(SetLinkUp(*inet_socket, *i_index));
  REQUIRE_OK(AddIpv4Address(*host_socket, *h_index, *ParseIpv4("198.19.0.1"), 30));
  REQUIRE_OK(AddIpv4Address(*inet_socket, *i_index, *ParseIpv4("198.19.0.2"), 30));
  REQUIRE_OK(AddIpv4DefaultRoute(*host_socket, *ParseIpv4("198.19.0.2"), *h_index));
  REQUIRE(*ReadIpForward(host->fd()) == 0);

  auto sandbox = SandboxNetwork::Create(name);
  REQUIRE_OK(sandbox);
  SandboxNetwork& net = **sandbox;
  auto uplink =
      net.AddUplink({.mode = UplinkMode::kNat, .pool = *ParseIpv4Prefix("198.18.0.0/16"), .host_netns_fd = host->fd()});
  REQUIRE_OK(uplink);
  CHECK(*ReadIpForward(host->fd()) == 1);
  CHECK(*ReadIpForward(-1) == *host_forward_before);  // the real host untouched
  CHECK(absl::StrContains(Sh(absl::StrCat("nsenter --net=", host->path(), " nft list tables")), uplink->nft_table));
  CHECK_FALSE(absl::StrContains(Sh("nft list tables"), uplink->nft_table));

  uint16_t port = 0;
  UniqueFd listener = ListenIn(inet->fd(), "198.19.0.2", &port);
  REQUIRE(ConnectFrom(net.netns_fd(), "198.19.0.2", port) == 0);
  CHECK(AcceptPeer(listener.get()) == "198.19.0.1");  // masqueraded behind the host's address

  SealReport report = net.Seal();
  INFO(report.ToString());
  CHECK(report.verified);
  CHECK(report.errors.empty());
  CHECK(ConnectFrom(net.netns_fd(), "198.19.0.2", port) == ENETUNREACH);
  CHECK(*ReadIpForward(host->fd()) == 1);  // the host side goes after the verdict
  CHECK(net.ReleaseHostState().empty());
  CHECK(*ReadIpForward(host->fd()) == 0);  // restored: we turned it on, we turned it off
  CHECK_FALSE(
      absl::StrContains(Sh(absl::StrCat("nsenter --net=", host->path(), " nft list tables")), uplink->nft_table));
  CHECK(CountLines(IpIn(host->path(), "-o link show")) == 2);  // lo + tst-h
  REQUIRE_OK(net.Remove());
}

TEST_CASE("ip_forward claims are counted across sandboxes", "[net][root]") {
  SKIP_UNLESS_ROOT();
  Leftovers leftovers;
  std::string host_name = Unique("fwd");
  leftovers.netns.push_back(host_name);
  std::vector<std::string> names = {Unique("fa"), Unique("fb")};
  for (const std::string& n : names) leftovers.sandboxes.push_back(n);
  auto host = Netns::Create(host_name);
  REQUIRE_OK(host);
  REQUIRE(*ReadIpForward(host->fd()) == 0);

  auto a = SandboxNetwork::Create(names[0]);
  auto b = SandboxNetwork::Create(names[1]);
  REQUIRE_OK(a);
  REQUIRE_OK(b);
  UplinkConfig config{.mode = UplinkMode::kNat, .pool = *ParseIpv4Prefix("198.18.0.0/16"), .host_netns_fd = host->fd()};
  auto ua = (*a)->AddUplink(config);
  auto ub = (*b)->AddUplink(config);
  REQUIRE_OK(ua);
  REQUIRE_OK(ub);
  CHECK_FALSE(Overlaps({ua->addresses.outer, 30}, {ub->addresses.outer, 30}));  // distinct subnets
  CHECK(*ReadIpForward(host->fd()) == 1);
  CHECK((*a)->Seal().verified);
  CHECK((*a)->ReleaseHostState().empty());
  CHECK(*ReadIpForward(host->fd()) == 1);  // b still needs it
  CHECK((*b)->Seal().verified);
  CHECK(*ReadIpForward(host->fd()) == 1);  // b's claim goes with its host-side state...
  CHECK((*a)->Remove().ok());
  CHECK((*b)->Remove().ok());              // ...which Remove() releases if nobody did
  CHECK(*ReadIpForward(host->fd()) == 0);
}

TEST_CASE("given uplink addresses, /31 subnets and bad addresses", "[net][root]") {
  SKIP_UNLESS_ROOT();
  Leftovers leftovers;
  std::string up_name = Unique("gup");
  std::string name = Unique("given");
  leftovers.netns.push_back(up_name);
  leftovers.sandboxes.push_back(name);
  Netns upstream = MakeUpstream(up_name, "198.18.96.1");
  auto sandbox = SandboxNetwork::Create(name);
  REQUIRE_OK(sandbox);
  SandboxNetwork& net = **sandbox;

  // A name in use is refused.
  CHECK(SandboxNetwork::Create(name).status().code() == absl::StatusCode::kAlreadyExists);

  for (UplinkAddresses bad :
       {UplinkAddresses{*ParseIpv4("198.18.1.1"), *ParseIpv4("198.18.2.2"), 30},  // two subnets
        UplinkAddresses{*ParseIpv4("198.18.1.1"), *ParseIpv4("198.18.1.1"), 30},  // same
        UplinkAddresses{*ParseIpv4("198.18.1.0"), *ParseIpv4("198.18.1.1"), 30},  // network address
        UplinkAddresses{*ParseIpv4("198.18.1.1"), *ParseIpv4("198.18.1.3"), 30},  // broadcast
        UplinkAddresses{*ParseIpv4("198.18.1.1"), *ParseIpv4("198.18.1.2"), 32}}) {
    auto uplink = net.AddUplink({.mode = UplinkMode::kNetns, .upstream_netns_path = upstream.path(), .addresses = bad});
    CHECK(uplink.status().code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK(CountLines(IpIn(net.netns_path(), "-o link show")) == 1);  // nothing left behind
  auto missing = net.AddUplink({.mode = UplinkMode::kNetns, .upstream_netns_path = "/nonexistent/netns"});
  CHECK(absl::IsNotFound(missing.status()));

  UplinkAddresses given{*ParseIpv4("198.18.200.0"), *ParseIpv4("198.18.200.1"), 31};
  auto uplink = net.AddUplink({.mode = UplinkMode::kNetns, .upstream_netns_path = upstream.path(), .addresses = given});
  REQUIRE_OK(uplink);
  CHECK(uplink->addresses == given);
  CHECK(absl::StrContains(IpIn(net.netns_path(), "-o addr show"), "198.18.200.1/31"));
  uint16_t port = 0;
  UniqueFd listener = ListenIn(upstream.fd(), "198.18.96.1", &port);
  REQUIRE(ConnectFrom(net.netns_fd(), "198.18.96.1", port) == 0);
  CHECK(AcceptPeer(listener.get()) == "198.18.200.1");
  CHECK(net.Seal().verified);
}

TEST_CASE("cleanup by name after a crash removes netns, veths and nft table", "[net][root]") {
  SKIP_UNLESS_ROOT();
  Leftovers leftovers;
  std::string up_name = Unique("cup");
  std::string nat_name = Unique("crash-nat");
  std::string ns_name = Unique("crash-ns");
  leftovers.netns.push_back(up_name);
  leftovers.sandboxes = {nat_name, ns_name};
  Netns upstream = MakeUpstream(up_name, "198.18.98.1");

  // A child process builds both sandboxes with uplinks and dies without any cleanup.
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto nat = SandboxNetwork::Create(nat_name);
    if (!nat.ok() || !(*nat)->AddUplink({.mode = UplinkMode::kNat, .manage_ip_forward = false}).ok()) ::_exit(2);
    auto ns = SandboxNetwork::Create(ns_name);
    if (!ns.ok() || !(*ns)->AddUplink({.mode = UplinkMode::kNetns, .upstream_netns_path = upstream.path()}).ok())
      ::_exit(3);
    ::_exit(0);  // a crash: no destructor runs
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  std::string host_veth = VethName(nat_name, VethSide::kHost);
  std::string upstream_veth = VethName(ns_name, VethSide::kUpstream);
  std::string table = NftTableName(nat_name);
  int rc = -1;
  // Everything outlived the process.
  CHECK(PathExists(NetnsPath(nat_name)));
  CHECK(PathExists(NetnsPath(ns_name)));
  Sh(absl::StrCat("ip link show ", host_veth), &rc);
  CHECK(rc == 0);
  CHECK(absl::StrContains(IpIn(upstream.path(), "-o link show"), upstream_veth));
  CHECK(absl::StrContains(Sh("nft list tables"), table));

  // Recovery with nothing but the names.
  REQUIRE_OK(SandboxNetwork::Cleanup(nat_name));
  REQUIRE_OK(SandboxNetwork::Cleanup(ns_name));
  CHECK_FALSE(PathExists(NetnsPath(nat_name)));
  CHECK_FALSE(PathExists(NetnsPath(ns_name)));
  Sh(absl::StrCat("ip link show ", host_veth), &rc);
  CHECK(rc != 0);
  CHECK_FALSE(absl::StrContains(IpIn(upstream.path(), "-o link show"), upstream_veth));
  CHECK_FALSE(absl::StrContains(Sh("nft list tables"), table));
  CHECK_FALSE(absl::StrContains(Sh("grep airlock/netns /proc/self/mountinfo"), nat_name));
  // Idempotent.
  CHECK(SandboxNetwork::Cleanup(nat_name).ok());
  CHECK(SandboxNetwork::Cleanup(ns_name).ok());
  CHECK(Netns::Remove(ns_name).ok());
}

TEST_CASE("a seal begun early: sealed at once, verified by Seal()", "[net][root]") {
  SKIP_UNLESS_ROOT();
  Leftovers leftovers;
  std::string up_name = Unique("begin-up");
  std::string name = Unique("begin");
  leftovers.netns.push_back(up_name);
  leftovers.sandboxes.push_back(name);
  Netns upstream = MakeUpstream(up_name, "198.18.95.1");
  auto sandbox = SandboxNetwork::Create(name);
  REQUIRE_OK(sandbox);
  SandboxNetwork& net = **sandbox;
  REQUIRE_OK(net.AddUplink({.mode = UplinkMode::kNetns, .upstream_netns_path = upstream.path()}));
  net.BeginSeal();
  CHECK(net.sealed());  // one-way from the first instruction
  CHECK(net.AddUplink({.mode = UplinkMode::kNone}).status().code() == absl::StatusCode::kFailedPrecondition);
  net.BeginSeal();  // twice changes nothing
  SealReport report = net.Seal();
  INFO(report.ToString());
  CHECK(report.verified);
  CHECK(report.errors.empty());
  CHECK(CountLines(IpIn(net.netns_path(), "-o link show")) == 1);
  CHECK(CountLines(IpIn(upstream.path(), "-o link show")) == 1);
  // A device that appears after the deletion began is caught by the verification.
  int rc = -1;
  IpIn(net.netns_path(), "link add x7 type bridge", &rc);
  REQUIRE(rc == 0);
  net.BeginSeal();
  CHECK_FALSE(net.Seal().verified);
  REQUIRE_OK(net.Remove());
}

TEST_CASE("seal latency over repeated sandboxes", "[net][root][latency]") {
  SKIP_UNLESS_ROOT();
  Leftovers leftovers;
  std::string up_name = Unique("lat-up");
  leftovers.netns.push_back(up_name);
  Netns upstream = MakeUpstream(up_name, "198.18.97.1");
  std::vector<absl::Duration> samples;
  for (int i = 0; i < 20; ++i) {
    std::string name = Unique(absl::StrCat("lat", i));
    leftovers.sandboxes.push_back(name);
    auto sandbox = SandboxNetwork::Create(name);
    REQUIRE_OK(sandbox);
    REQUIRE_OK((*sandbox)->AddUplink({.mode = UplinkMode::kNetns, .upstream_netns_path = upstream.path()}));
    SealReport report = (*sandbox)->Seal();
    REQUIRE(report.verified);
    samples.push_back(report.to_verified);
    REQUIRE_OK((*sandbox)->Remove());
  }
  std::sort(samples.begin(), samples.end());
  std::printf("seal latency (netns uplink, trigger->verified, n=%zu): min %s median %s p95 %s max %s\n", samples.size(),
              absl::FormatDuration(samples.front()).c_str(), absl::FormatDuration(samples[samples.size() / 2]).c_str(),
              absl::FormatDuration(samples[samples.size() * 95 / 100]).c_str(),
              absl::FormatDuration(samples.back()).c_str());
}

TEST_CASE("no leftovers of the net tests on the host", "[net][root]") {
  SKIP_UNLESS_ROOT();
  std::string prefix = absl::StrCat("nt", ::getpid(), "-");
  CHECK_FALSE(absl::StrContains(Sh("ls /run/airlock/netns 2>/dev/null"), prefix));
  CHECK_FALSE(absl::StrContains(Sh("nft list tables"), absl::StrCat("airlock-", prefix)));
  CHECK_FALSE(absl::StrContains(Sh("grep airlock/netns/ /proc/self/mountinfo"), prefix));
  for (const char* tag : {"sbx", "nat", "natx", "crash-nat", "crash-ns", "sneak"}) {
    for (VethSide side : {VethSide::kHost, VethSide::kSandbox, VethSide::kUpstream}) {
      CHECK_FALSE(absl::StrContains(Sh("ip -o link show"), VethName(Unique(tag), side)));
    }
  }
}

namespace {
// The persistent-netns tests make /run/airlock/netns a shared mount point, as `ip netns add` does
// for /run/netns. The shim itself holds sandbox netns by fd and never creates it, so when the run
// is over and no netns is left there, the tests take the mount point down again.
class NetnsDirCleanup : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;
  void testRunEnded(const Catch::TestRunStats&) override {
    std::string dir(kDefaultNetnsDir);
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec) || !std::filesystem::is_empty(dir, ec)) return;
    while (::umount2(dir.c_str(), MNT_DETACH) == 0) {
    }
    ::rmdir(dir.c_str());
    ::unlink("/run/airlock/netns.lock");
  }
};
}  // namespace
CATCH_REGISTER_LISTENER(NetnsDirCleanup)
