// network.peer-unreachable and network.only-loopback.
#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "cmd/airlock-init/init_config.h"
#include "cmd/airlock-init/probe_util.h"
#include "cmd/airlock-init/probes.h"
#include "shim/base/unique_fd.h"

namespace airlock::init {
namespace {

constexpr int kConnectTimeoutMs = 1000;

enum class Reach { kBlocked, kReached, kUnknown };

struct Attempt {
  Reach reach;
  std::string detail;
};

int64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// Only `peer` is ever contacted. A sealed sandbox has no route, so connect() fails at once with
// ENETUNREACH and nothing is sent; anything that gets as far as an answer or a pending SYN means a
// route exists.
Attempt TryConnect(const Peer& peer) {
  UniqueFd fd(socket(peer.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    int err = errno;
    if (err == EPERM || err == EACCES || err == EAFNOSUPPORT) return {Reach::kBlocked, "socket: " + ErrnoName(err)};
    return {Reach::kUnknown, "socket: " + ErrnoName(err)};
  }
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&peer.address), peer.address_len) == 0) {
    return {Reach::kReached, "connected"};
  }
  int err = errno;
  if (err == ENETUNREACH || err == EHOSTUNREACH) return {Reach::kBlocked, ErrnoName(err) + " (no route)"};
  if (err == EADDRNOTAVAIL) return {Reach::kBlocked, ErrnoName(err) + " (no source address)"};
  if (err == EPERM || err == EACCES) return {Reach::kBlocked, ErrnoName(err) + " (blocked before sending)"};
  if (err == ECONNREFUSED) return {Reach::kReached, "refused: the peer answered"};
  if (err != EINPROGRESS) return {Reach::kUnknown, "connect: " + ErrnoName(err)};

  const int64_t deadline = NowMs() + kConnectTimeoutMs;
  for (int64_t left = kConnectTimeoutMs; left > 0; left = deadline - NowMs()) {
    pollfd pfd{fd.get(), POLLOUT, 0};
    int n = poll(&pfd, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return {Reach::kUnknown, "poll: " + ErrnoName(errno)};
    if (n == 0) break;
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) {
      return {Reach::kUnknown, "getsockopt: " + ErrnoName(errno)};
    }
    if (so_error == 0) return {Reach::kReached, "connected"};
    if (so_error == ECONNREFUSED) return {Reach::kReached, "refused: the peer answered"};
    return {Reach::kReached, ErrnoName(so_error) + " after the SYN was sent (a route exists)"};
  }
  return {Reach::kReached, "no answer within 1 s, but the SYN was sent (a route exists)"};
}

// Whitespace-separated words of a /proc line (no sscanf: it would pull scanf and strtod into the
// static binary).
std::vector<std::string> Fields(const std::string& line) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (out.size() < 32) {
    pos = line.find_first_not_of(" \t", pos);
    if (pos == std::string::npos) break;
    size_t end = line.find_first_of(" \t", pos);
    out.push_back(line.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    if (end == std::string::npos) break;
    pos = end;
  }
  return out;
}

std::string Ipv4Text(uint32_t raw) {
  in_addr addr{};
  addr.s_addr = raw;  // /proc/net/route prints the network-order word as a host integer
  char text[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &addr, text, sizeof text);
  return text;
}

// Routes of the main IPv4 table and every IPv6 table that use a device other than lo.
std::vector<std::string> RoutesNotViaLoopback(bool* readable) {
  std::vector<std::string> routes;
  *readable = false;
  std::string text, error;
  if (ReadSmallFile("/proc/net/route", 1 << 20, &text, &error)) {
    *readable = true;
    size_t pos = text.find('\n');  // header
    while (pos != std::string::npos && pos + 1 < text.size()) {
      size_t end = text.find('\n', pos + 1);
      std::string line = text.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
      pos = end;
      // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
      std::vector<std::string> f = Fields(line);
      uint64_t dest = 0, gateway = 0, mask = 0;
      if (f.size() < 8 || !ParseHexMask(f[1], &dest) || !ParseHexMask(f[2], &gateway) || !ParseHexMask(f[7], &mask)) {
        continue;
      }
      const std::string& iface = f[0];
      if (iface == "lo") continue;
      std::string route = Ipv4Text(static_cast<uint32_t>(dest)) + "/" +
                          std::to_string(__builtin_popcountll(mask)) + " dev " + iface;
      if (gateway != 0) route += " via " + Ipv4Text(static_cast<uint32_t>(gateway));
      routes.push_back(route);
    }
  }
  if (ReadSmallFile("/proc/net/ipv6_route", 1 << 20, &text, &error)) {
    *readable = true;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(pos, end - pos);
      pos = end + 1;
      // dest dest_len src src_len next_hop metric refcnt use flags device
      std::vector<std::string> f = Fields(line);
      uint64_t dest_len = 0;
      if (f.size() < 10 || f[0].size() != 32 || !ParseHexMask(f[1], &dest_len)) continue;
      const std::string& dest = f[0];
      const std::string& dev = f[9];
      if (dev == "lo") continue;
      in6_addr addr{};
      for (int i = 0; i < 16; ++i) {
        uint64_t byte = 0;
        ParseHexMask(dest.substr(2 * i, 2), &byte);
        addr.s6_addr[i] = static_cast<uint8_t>(byte);
      }
      char shown[INET6_ADDRSTRLEN] = "?";
      inet_ntop(AF_INET6, &addr, shown, sizeof shown);
      routes.push_back(std::string(shown) + "/" + std::to_string(dest_len) + " dev " + dev);
    }
  }
  return routes;
}

std::string Join(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

ProbeResult ProbePeerUnreachable(const std::vector<Peer>& peers) {
  ProbeResult result{"network.peer-unreachable", Verdict::kHeld, ""};
  std::string held, broken, unknown;
  for (const Peer& peer : peers) {
    Attempt attempt = TryConnect(peer);
    std::string& bucket = attempt.reach == Reach::kBlocked ? held : attempt.reach == Reach::kReached ? broken : unknown;
    bucket += (bucket.empty() ? "" : "; ") + peer.text + ": " + attempt.detail;
  }
  bool readable = false;
  std::vector<std::string> routes = RoutesNotViaLoopback(&readable);
  std::string route_text;
  for (const std::string& r : routes) route_text += (route_text.empty() ? "" : ", ") + r;

  if (!broken.empty() || !routes.empty()) {
    result.verdict = Verdict::kBroken;
    result.detail = broken;
    if (!routes.empty()) result.detail += (broken.empty() ? "" : "; ") + std::string("routes leave: ") + route_text;
    return result;
  }
  if (!unknown.empty()) {
    result.verdict = Verdict::kError;
    result.detail = unknown;
    return result;
  }
  result.detail = peers.empty() ? "no peer given" : held;
  result.detail += readable ? "; no route but via lo" : "; /proc/net routes unreadable";
  return result;
}

ProbeResult ProbeOnlyLoopback() {
  ProbeResult result{"network.only-loopback", Verdict::kHeld, ""};
  std::set<std::string> others;
  std::vector<std::string> sources, unreadable;

  if (DIR* dir = opendir("/sys/class/net")) {
    sources.push_back("/sys/class/net");
    for (int i = 0; i < 4096; ++i) {
      dirent* entry = readdir(dir);
      if (entry == nullptr) break;
      std::string name = entry->d_name;
      if (name != "." && name != ".." && name != "lo") others.insert(name);
    }
    closedir(dir);
  } else {
    unreadable.push_back("/sys/class/net: " + ErrnoName(errno));
  }

  std::string text, error;
  if (ReadSmallFile("/proc/net/dev", 1 << 20, &text, &error)) {
    sources.push_back("/proc/net/dev");
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(pos, end - pos);
      pos = end + 1;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;  // the two header lines have none
      size_t begin = line.find_first_not_of(' ');
      std::string name = line.substr(begin, colon - begin);
      if (name != "lo") others.insert(name);
    }
  } else {
    unreadable.push_back(error);
  }

  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd) {
    ifreq requests[64];
    ifconf conf{};
    conf.ifc_len = sizeof requests;
    conf.ifc_req = requests;
    if (ioctl(fd.get(), SIOCGIFCONF, &conf) == 0) {
      sources.push_back("SIOCGIFCONF");
      size_t count = static_cast<size_t>(conf.ifc_len) / sizeof(ifreq);
      for (size_t i = 0; i < count && i < 64; ++i) {
        std::string name(requests[i].ifr_name, strnlen(requests[i].ifr_name, IFNAMSIZ));
        if (name != "lo") others.insert(name);
      }
    } else {
      unreadable.push_back("SIOCGIFCONF: " + ErrnoName(errno));
    }
  } else {
    unreadable.push_back("SIOCGIFCONF socket: " + ErrnoName(errno));
  }

  std::string source_text;
  for (const std::string& s : sources) source_text += (source_text.empty() ? "" : ", ") + s;
  if (!others.empty()) {
    result.verdict = Verdict::kBroken;
    result.detail = "interfaces besides lo: " + Join(others) + " (" + source_text + ")";
  } else if (sources.empty()) {
    result.verdict = Verdict::kError;
    for (const std::string& u : unreadable) result.detail += (result.detail.empty() ? "" : "; ") + u;
  } else {
    result.detail = "only lo (" + source_text + ")";
  }
  return result;
}

}  // namespace airlock::init
