#include <catch2/catch.hpp>

#include <string>

#include "policy/host_config.h"

using namespace airlock::policy;

namespace {

std::string Error(const std::string& yaml) {
  absl::StatusOr<HostConfig> config = ParseHostConfig(yaml, "config.yaml");
  if (config.ok()) return "(parsed)";
  CHECK(absl::IsInvalidArgument(config.status()));
  return std::string(config.status().message());
}

}  // namespace

TEST_CASE("host config defaults", "[policy][host_config]") {
  absl::StatusOr<HostConfig> config = ParseHostConfig("version: 1\n", "config.yaml");
  REQUIRE(config.ok());
  CHECK(*config == DefaultHostConfig());
  CHECK(config->allowed_repo_roots.empty());
  CHECK(ToString(config->nat_pool) == "198.18.0.0/16");
  CHECK(config->profiles_dir == "/etc/airlock/policies");
  CHECK(config->default_policy == "/etc/airlock/policy.yaml");
  CHECK(config->audit_dir == "/var/log/airlock");
  CHECK(config->runtime_binary == "runc");
  CHECK(config->runtime_root == "/run/containerd/runc");
  CHECK(config->shim_protocol == airlock::bootstrap::Protocol::kAuto);
  CHECK(config->run_limits.max_files == 10000);
  CHECK(config->run_limits.max_file_size == 64 * kMiB);
  CHECK(config->run_limits.max_total_size == 256 * kMiB);
  // An empty section, or one with some keys, keeps the other defaults.
  CHECK(ParseHostConfig("version: 1\nrun: {}\n", "c")->run_limits == RunLimits{});
  CHECK(ParseHostConfig("version: 1\nrun: {max_files: 5}\n", "c")->run_limits == RunLimits{5, 64 * kMiB, 256 * kMiB});
}

TEST_CASE("host config with every key", "[policy][host_config]") {
  absl::StatusOr<HostConfig> config = ParseHostConfig(R"(version: 1
allowed_repo_roots: [/srv/airlock/repos, /data/repos/]
nat: {pool: 10.200.0.0/24, allow: [198.18.255.0/25, 10.9.0.0/16]}
profiles_dir: /opt/airlock/profiles
default_policy: /opt/airlock/policy.yaml
audit_dir: /data/audit
runtime: {binary: /usr/local/bin/crun, root: /run/my-runc/}
shim: {protocol: grpc}
run:
  max_files: 20
  max_file_size: 1048576
  max_total_size: 2Gi
cache:
  max_bytes: 5Gi
)",
                                                      "config.yaml");
  REQUIRE(config.ok());
  CHECK(config->allowed_repo_roots == std::vector<std::string>{"/srv/airlock/repos", "/data/repos"});
  CHECK(config->nat_pool == Ipv4Cidr{0x0AC80000u, 24});
  CHECK(config->nat_allow == std::vector<Ipv4Cidr>{{0xC612FF00u, 25}, {0x0A090000u, 16}});
  CHECK(config->profiles_dir == "/opt/airlock/profiles");
  CHECK(config->default_policy == "/opt/airlock/policy.yaml");
  CHECK(config->audit_dir == "/data/audit");
  CHECK(config->runtime_binary == "/usr/local/bin/crun");
  CHECK(config->runtime_root == "/run/my-runc");
  CHECK(config->shim_protocol == airlock::bootstrap::Protocol::kGrpc);
  CHECK(config->run_limits == RunLimits{20, kMiB, 2 * kGiB});
  CHECK(config->cache == CacheHostConfig{5 * kGiB});
  CHECK(ParseHostConfig("version: 1\nruntime: {binary: crun}\n", "c")->runtime_binary == "crun");
  CHECK_FALSE(ParseHostConfig("version: 1\nruntime: {root: run/runc}\n", "c").ok());
  // nat.allow: CIDRs, each range once (nft sets take disjoint intervals).
  CHECK(ParseHostConfig("version: 1\n", "c")->nat_allow.empty());
  absl::StatusOr<HostConfig> overlap = ParseHostConfig("version: 1\nnat: {allow: [10.0.0.0/8, 10.1.0.0/16]}\n", "c");
  REQUIRE_FALSE(overlap.ok());
  CHECK(std::string(overlap.status().message()).find("overlaps 10.0.0.0/8") != std::string::npos);
  CHECK_FALSE(ParseHostConfig("version: 1\nnat: {allow: [not-a-cidr]}\n", "c").ok());
  CHECK_FALSE(ParseHostConfig("version: 1\nnat: {allow: 10.0.0.0/8}\n", "c").ok());
}

TEST_CASE("host config errors name position and key", "[policy][host_config][errors]") {
  CHECK(Error("allowed_repo_roots: []\n") == "config.yaml:1:1: version: missing (want \"version: 1\")");
  CHECK(Error("version: 1\nroots: [/srv]\n") ==
        "config.yaml:2:1: roots: unknown key (want version, allowed_repo_roots, nat, profiles_dir, default_policy, "
        "audit_dir, runtime, shim, run, proxy or cache)");
  CHECK(Error("version: 1\nallowed_repo_roots: /srv/repos\n") ==
        "config.yaml:2:21: allowed_repo_roots: want a list of absolute directories, got \"/srv/repos\"");
  CHECK(Error("version: 1\nallowed_repo_roots: [srv/repos]\n") ==
        "config.yaml:2:22: allowed_repo_roots[0]: path \"srv/repos\" is not absolute (want an absolute path without \"..\")");
  CHECK(Error("version: 1\nallowed_repo_roots: [/srv/../etc]\n") ==
        "config.yaml:2:22: allowed_repo_roots[0]: path \"/srv/../etc\" contains \"..\" (want an absolute path without \"..\")");
  CHECK(Error("version: 1\nallowed_repo_roots: [/]\n") ==
        "config.yaml:2:22: allowed_repo_roots[0]: \"/\" is a system-wide directory, not a repository: it cannot be a "
        "repository root");
  CHECK(Error("version: 1\nallowed_repo_roots: [/etc/repos]\n") ==
        "config.yaml:2:22: allowed_repo_roots[0]: \"/etc/repos\" lies in the system directory /etc: it cannot be a "
        "repository root");
  CHECK(Error("version: 1\nallowed_repo_roots: [/srv/r, /srv/r/]\n") ==
        "config.yaml:2:30: allowed_repo_roots[1]: duplicate root \"/srv/r\" (first at line 2)");
  CHECK(Error("version: 1\nnat: {pool: 10.0.0.1/24}\n") ==
        "config.yaml:2:13: nat.pool: bad CIDR \"10.0.0.1/24\": host bits are set (want e.g. 198.18.0.0/16)");
  CHECK(Error("version: 1\nnat: {pool: 10.0.0.0/31}\n") ==
        "config.yaml:2:13: nat.pool: bad CIDR \"10.0.0.0/31\": the prefix length must be 1 to 30 (the pool hands out "
        "/30s) (want e.g. 198.18.0.0/16)");
  CHECK(Error("version: 1\nnat: {pool: 10.0.0.0}\n") ==
        "config.yaml:2:13: nat.pool: bad CIDR \"10.0.0.0\": no /prefix (want e.g. 198.18.0.0/16)");
  CHECK(Error("version: 1\nnat: {pool: 10.0.256.0/24}\n") ==
        "config.yaml:2:13: nat.pool: bad CIDR \"10.0.256.0/24\": not a dotted IPv4 address (want e.g. 198.18.0.0/16)");
  CHECK(Error("version: 1\nshim: {protocol: http}\n") ==
        "config.yaml:2:18: shim.protocol: unknown value \"http\" (want auto, ttrpc or grpc)");
  CHECK(Error("version: 1\nruntime: {binary: bin/runc}\n") ==
        "config.yaml:2:19: runtime.binary: path \"bin/runc\" is not absolute (want an absolute path without \"..\")");
  CHECK(Error("version: 1\nruntime: {binary: \"..\"}\n") ==
        "config.yaml:2:19: runtime.binary: want a program name (runc, crun) or an absolute path");
  CHECK(Error("version: 1\nrun:\n  max_files: 0\n") == "config.yaml:3:14: run.max_files: must be more than 0");
  CHECK(Error("version: 1\nrun:\n  max_files: -1\n") ==
        "config.yaml:3:14: run.max_files: want a whole number, e.g. 10000, got \"-1\"");
  CHECK(Error("version: 1\nrun:\n  max_files: 10Ki\n") ==
        "config.yaml:3:14: run.max_files: want a whole number, e.g. 10000, got \"10Ki\"");
  CHECK(Error("version: 1\nrun:\n  max_files: [1]\n") ==
        "config.yaml:3:14: run.max_files: want a whole number, e.g. 10000, got a list");
  CHECK(Error("version: 1\nrun:\n  max_files: 99999999999999999999\n") ==
        "config.yaml:3:14: run.max_files: number \"99999999999999999999\" too large");
  CHECK(Error("version: 1\nrun:\n  max_file_size: 0\n") == "config.yaml:3:18: run.max_file_size: size must be more than 0");
  CHECK(Error("version: 1\nrun:\n  max_file_size: 64MB\n") ==
        "config.yaml:3:18: run.max_file_size: bad size \"64MB\": no B suffix: Mi means MiB (want bytes or a number with "
        "Ki, Mi, Gi or Ti, e.g. 512Mi)");
  CHECK(Error("version: 1\nrun: {max_total_size: 0Gi}\n") ==
        "config.yaml:2:23: run.max_total_size: size must be more than 0");
  CHECK(Error("version: 1\nrun:\n  max_files: 10\n  max_size: 1Mi\n") ==
        "config.yaml:4:3: run.max_size: unknown key (want max_files, max_file_size or max_total_size)");
  CHECK(Error("version: 1\nrun: 10000\n") == "config.yaml:2:6: run: want a map, got \"10000\"");
  CHECK(Error("version: 1\nprofiles_dir: policies\n") ==
        "config.yaml:2:15: profiles_dir: path \"policies\" is not absolute (want an absolute path without \"..\")");
}

TEST_CASE("CIDR parsing", "[policy][host_config]") {
  CHECK(ParseIpv4Cidr("198.18.0.0/16").ok());
  CHECK(ParseIpv4Cidr("0.0.0.0/1").ok());
  CHECK(ToString(*ParseIpv4Cidr("192.168.4.0/30")) == "192.168.4.0/30");
  CHECK(ToString(*ParseIpv4Cidr("198.18.255.7/32")) == "198.18.255.7/32");  // one mirror (nat.allow, proxy.allow)
  for (const char* bad : {"", "/16", "1.2.3/16", "1.2.3.4.5/16", "a.b.c.d/8", "1.2.3.0/", "1.2.3.0/x", "1.2.3.0/0",
                          "1.2.3.0/33", "1.2.3.1/32x", "+1.2.3.0/24", "1.2.3.0/-1", "01234.0.0.0/8"}) {
    INFO(bad);
    CHECK_FALSE(ParseIpv4Cidr(bad).ok());
  }
}

TEST_CASE("host config proxy section: resolver and allowed ranges", "[policy][host_config][proxy]") {
  absl::StatusOr<HostConfig> defaults = ParseHostConfig("version: 1\n", "c");
  REQUIRE(defaults.ok());
  CHECK(defaults->proxy.hosts_file.empty());  // the system resolver
  CHECK(defaults->proxy.allow.empty());
  absl::StatusOr<HostConfig> set =
      ParseHostConfig("version: 1\nproxy: {resolver: \"hosts:/etc/airlock/hosts\", allow: [198.18.255.2/32]}\n", "c");
  REQUIRE(set.ok());
  CHECK(set->proxy.hosts_file == "/etc/airlock/hosts");
  CHECK(set->proxy.allow == std::vector<Ipv4Cidr>{{0xC612FF02u, 32}});
  CHECK(ParseHostConfig("version: 1\nproxy: {resolver: system}\n", "c")->proxy.hosts_file.empty());
  CHECK(Error("version: 1\nproxy: {resolver: dns}\n") ==
        "config.yaml:2:19: proxy.resolver: unknown resolver \"dns\" (want system or hosts:/path)");
  CHECK(Error("version: 1\nproxy: {resolver: \"hosts:etc/hosts\"}\n") ==
        "config.yaml:2:19: proxy.resolver: bad hosts file: path \"etc/hosts\" is not absolute (want hosts:/path)");
  CHECK(Error("version: 1\nproxy: {allow: [10.0.0.0/8, 10.1.0.0/16]}\n").find("overlaps 10.0.0.0/8") != std::string::npos);
  CHECK(Error("version: 1\nproxy: {cache: true}\n").find("unknown key") != std::string::npos);
  // The pool keeps its own bound.
  CHECK(Error("version: 1\nnat: {pool: 10.0.0.0/31}\n").find("the pool hands out /30s") != std::string::npos);
}

TEST_CASE("host config cache section: the bound on all setup cache entries", "[policy][host_config][cache]") {
  CHECK(DefaultHostConfig().cache.max_bytes == 20 * kGiB);
  CHECK(ParseHostConfig("version: 1\n", "c")->cache == CacheHostConfig{});
  CHECK(ParseHostConfig("version: 1\ncache: {}\n", "c")->cache.max_bytes == 20 * kGiB);
  CHECK(ParseHostConfig("version: 1\ncache:\n  max_bytes: 100Gi\n", "c")->cache.max_bytes == 100 * kGiB);
  CHECK(ParseHostConfig("version: 1\ncache: {max_bytes: 1Mi}\n", "c")->cache.max_bytes == kMiB);
  CHECK(ParseHostConfig("version: 1\ncache: {max_bytes: 1048576}\n", "c")->cache.max_bytes == kMiB);
  CHECK(Error("version: 1\ncache: {max_bytes: 1023Ki}\n") ==
        "config.yaml:2:20: cache.max_bytes: size must be at least 1Mi, got 1023Ki");
  CHECK(Error("version: 1\ncache: {max_bytes: 0}\n") == "config.yaml:2:20: cache.max_bytes: size must be more than 0");
  CHECK(Error("version: 1\ncache: {max_bytes: 20GB}\n").find("config.yaml:2:20: cache.max_bytes: bad size \"20GB\"") ==
        0);
  CHECK(Error("version: 1\ncache: {max_entries: 5}\n") ==
        "config.yaml:2:9: cache.max_entries: unknown key (want max_bytes)");
  CHECK(Error("version: 1\ncache: 20Gi\n") == "config.yaml:2:8: cache: want a map, got \"20Gi\"");
}
