#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "policy/net/listener_check.h"
#include "policy/parse.h"
#include "policy/proxy/resolver.h"
#include "policy/proxy/rules.h"
#include "shim/base/unique_fd.h"

using namespace airlock;
using namespace airlock::proxy;

namespace {

policy::Network NetworkOf(const std::string& yaml) {
  absl::StatusOr<policy::Policy> p = policy::ParsePolicy("version: 1\n" + yaml, "p.yaml");
  REQUIRE(p.ok());
  return p->network;
}

}  // namespace

TEST_CASE("proxy rules per phase: hosts, ports, methods", "[proxy]") {
  policy::Network net = NetworkOf(
      "network:\n  setup: {uplink: proxy}\n  execution: proxy\n  proxy:\n    preset: common-dependencies\n"
      "    allow: [docs.example.org, \"*.cdn.example.net\", 198.18.0.9]\n    setup_methods: [GET, POST]\n");
  ProxyRules setup = ProxyRules::ForSetup(net);
  ProxyRules exec = ProxyRules::ForExecution(net);
  CHECK_FALSE(exec.RefuseHost("pypi.org"));  // the preset
  CHECK_FALSE(exec.RefuseHost("docs.example.org"));
  CHECK_FALSE(exec.RefuseHost("a.cdn.example.net"));
  CHECK_FALSE(exec.RefuseHost("198.18.0.9"));
  CHECK(exec.RefuseHost("cdn.example.net"));
  CHECK(exec.RefuseHost("evil.example"));
  CHECK(*exec.RefuseHost("198.18.0.10") == "the address 198.18.0.10 is not in the allowlist");
  CHECK_FALSE(exec.RefusePort(443));
  CHECK(*exec.RefusePort(22) == "port 22 is not allowed");
  CHECK_FALSE(exec.RefuseMethod("GET"));
  CHECK(*exec.RefuseMethod("POST") == "method POST is not allowed");
  CHECK_FALSE(setup.RefuseMethod("POST"));
  CHECK(setup.RefuseMethod("DELETE"));

  policy::Network all = NetworkOf("network:\n  execution: proxy\n  proxy: {preset: all}\n");
  ProxyRules any = ProxyRules::ForExecution(all);
  CHECK_FALSE(any.RefuseHost("anything.example"));
  CHECK(any.RefuseHost("198.18.0.1"));  // "all" is every name, not every address
  CHECK(ProxyRules::ForSetup(all).RefuseHost("anything.example"));  // setup has no proxy here
  CHECK(*ProxyRules::ForSetup(all).RefuseMethod("GET") == "the proxy serves no requests in this phase");
}

TEST_CASE("proxy hosts file resolver: names, bounds, errors", "[proxy]") {
  char tmpl[] = "/tmp/airlock-hosts-XXXXXX";
  int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  close(fd);
  auto write = [&](const std::string& text) {
    std::ofstream(tmpl, std::ios::trunc) << text;
  };
  write("# test names\n198.18.0.2 Mirror.Test. alias.test\n2001:db8::5 mirror.test\n\n");
  absl::StatusOr<std::unique_ptr<Resolver>> r = HostsFileResolver(tmpl);
  REQUIRE(r.ok());
  CHECK((*r)->Immediate());
  absl::StatusOr<std::vector<Endpoint>> m = (*r)->Resolve("mirror.test", 443);
  REQUIRE(m.ok());
  REQUIRE(m->size() == 2);
  CHECK(ToString((*m)[0]) == "198.18.0.2:443");
  CHECK(ToString((*m)[1]) == "[2001:db8::5]:443");
  CHECK((*r)->Resolve("alias.test", 80).ok());
  CHECK(absl::IsNotFound((*r)->Resolve("other.test", 80).status()));
  write("127.1 short.test\n");
  CHECK_FALSE(HostsFileResolver(tmpl).ok());
  write("198.18.0.2\n");
  CHECK_FALSE(HostsFileResolver(tmpl).ok());
  write("198.18.0.2 bad_name!\n");
  CHECK_FALSE(HostsFileResolver(tmpl).ok());
  write(std::string((1 << 20) + 10, '#'));
  CHECK_FALSE(HostsFileResolver(tmpl).ok());
  unlink(tmpl);
  CHECK(absl::IsNotFound(HostsFileResolver(tmpl).status()));
}

TEST_CASE("the seal's listener check: only the shim's socket listens on the port", "[proxy][net]") {
  UniqueFd ours(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(ours.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(ours.get(), 1) == 0);
  socklen_t len = sizeof a;
  REQUIRE(getsockname(ours.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const uint16_t port = ntohs(a.sin_port);
  struct stat st;
  REQUIRE(fstat(ours.get(), &st) == 0);
  net::ListenerCheck check = net::CheckOnlyListener(getpid(), port, st.st_ino);
  CHECK(check.verified);
  CHECK(check.finding.find("the shim's socket") != std::string::npos);
  CHECK_FALSE(net::CheckOnlyListener(getpid(), port, st.st_ino + 1).verified);
  // Another listener on the same port (IPv6 loopback, which 127.0.0.1 does not block).
  UniqueFd other(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 b{};
  b.sin6_family = AF_INET6;
  b.sin6_addr = in6addr_loopback;
  b.sin6_port = htons(port);
  if (other && bind(other.get(), reinterpret_cast<sockaddr*>(&b), sizeof b) == 0 && listen(other.get(), 1) == 0) {
    net::ListenerCheck hijacked = net::CheckOnlyListener(getpid(), port, st.st_ino);
    CHECK_FALSE(hijacked.verified);
    CHECK(hijacked.finding.find("another socket listens") != std::string::npos);
  } else {
    WARN("no IPv6 loopback here: the second-listener case is not checked");
  }
}
