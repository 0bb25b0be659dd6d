// The airlock policy and the host config as C++ values (AIRLOCK_POLICY_DESIGN.md). The default member
// values ARE the built-in strictest policy: a key a file leaves out keeps its strictest value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "shim/bootstrap/address.h"

namespace airlock::policy {

inline constexpr uint64_t kKiB = uint64_t{1} << 10;
inline constexpr uint64_t kMiB = uint64_t{1} << 20;
inline constexpr uint64_t kGiB = uint64_t{1} << 30;

// ---- Policy ----

struct Workspace {
  std::string target = "/workspace";  // where the repository appears in the container
  bool required = true;               // a missing airlock.dev/repo annotation is an error
  bool operator==(const Workspace&) const = default;
};

enum class RootfsMode { kWritable, kReadonly };
enum class OtherBinds { kReadonly, kReject };

struct Rootfs {
  RootfsMode setup = RootfsMode::kReadonly;
  RootfsMode execution = RootfsMode::kReadonly;  // parsing accepts only readonly
  bool operator==(const Rootfs&) const = default;
};

struct TmpfsMount {
  std::string path;     // absolute container path
  uint64_t size_bytes;  // > 0
  bool operator==(const TmpfsMount&) const = default;
};

struct Filesystem {
  Rootfs rootfs;
  std::vector<TmpfsMount> tmpfs = {{"/tmp", 64 * kMiB}};  // file order
  OtherBinds other_binds = OtherBinds::kReject;
  bool operator==(const Filesystem&) const = default;
};

// kPod: NAT into the network namespace the container's spec joins (under Kubernetes the pod's,
// which CNI set up), so setup reaches what the pod may reach, under the pod's address.
// kProxy: no route at all; setup reaches only the shim's proxy (network.proxy), as the agent may.
enum class UplinkKind { kNone, kNat, kNetns, kPod, kProxy };

struct Uplink {
  UplinkKind kind = UplinkKind::kNone;
  std::string netns_path;  // kNetns only: absolute path of the upstream netns
  bool operator==(const Uplink&) const = default;
};

// Sealed either way: the netns holds loopback only. kProxy adds the shim's proxy listener on
// 127.0.0.1:3128 inside it (made by the shim before the seal, served from outside the sandbox).
enum class ExecutionNetwork { kDeny, kProxy };

struct NetworkSetup {
  Uplink uplink;
  bool operator==(const NetworkSetup&) const = default;
};

// Which host names the proxy lets through: a preset's list plus `allow`.
enum class ProxyPreset { kNone, kCommonDependencies, kAll };

// Per sandbox, over its whole life (setup and execution together); each > 0.
struct ProxyLimits {
  uint64_t requests = 10000;          // HTTP requests and CONNECT tunnels
  uint64_t bytes_up = 64 * kMiB;      // sandbox -> internet, request bodies and tunnel bytes
  uint64_t bytes_down = 4 * kGiB;     // internet -> sandbox
  uint64_t connections = 64;          // client connections open at once
  bool operator==(const ProxyLimits&) const = default;
};

struct Proxy {
  ProxyPreset preset = ProxyPreset::kNone;
  std::vector<std::string> allow;  // canonical host names, IP literals and "*.suffix" (host_names.h)
  std::vector<std::string> methods = {"GET", "HEAD", "OPTIONS"};  // plain HTTP, execution phase
  std::optional<std::vector<std::string>> setup_methods;          // `uplink: proxy`; nullopt: every method
  std::vector<uint16_t> ports = {80, 443};
  ProxyLimits limits;
  bool operator==(const Proxy&) const = default;
};

struct Network {
  NetworkSetup setup;
  ExecutionNetwork execution = ExecutionNetwork::kDeny;
  Proxy proxy;
  bool operator==(const Network&) const = default;
};

// Either phase goes through the proxy.
bool UsesProxy(const Network& network);

inline constexpr absl::Duration kDefaultSetupTimeout = absl::Minutes(10);
inline constexpr absl::Duration kMaxSetupTimeout = absl::Hours(24);
inline constexpr absl::Duration kMinSetupTimeout = absl::Milliseconds(1);

// What the seal does when it finds a secret's value in a file setup left (the secret sweep).
enum class LeftoverSecrets { kFail, kScrub };

struct Setup {
  std::vector<std::string> command;  // empty: none in the policy (annotation airlock.dev/setup may give one)
  absl::Duration timeout = kDefaultSetupTimeout;  // the deadline seals regardless
  bool keep_processes = false;
  LeftoverSecrets leftover_secrets = LeftoverSecrets::kFail;
  bool operator==(const Setup&) const = default;
};

inline constexpr absl::Duration kDefaultCacheTtl = absl::Hours(12);
inline constexpr absl::Duration kMinCacheTtl = absl::Minutes(1);
inline constexpr absl::Duration kMaxCacheTtl = absl::Hours(24 * 30);
inline constexpr size_t kMaxCacheKeyFiles = 64;
inline constexpr size_t kMaxCacheKeyFileBytes = 4096;

// The setup cache of `airlock run` (section cache:): what a setup phase left at its seal (the root
// filesystem and the workspace's untracked files) kept under a key, so a later run with the same key
// starts from it and skips setup.
struct Cache {
  bool enabled = false;                               // the section is present
  std::vector<std::string> key_files;                 // repo-relative (no "", ".", "..", ".git"), file order, each once
  absl::Duration ttl = kDefaultCacheTtl;              // [kMinCacheTtl, kMaxCacheTtl]
  std::vector<std::string> maintenance;               // runs on a hit instead of setup; empty: none
  std::optional<absl::Duration> maintenance_timeout;  // nullopt: setup.timeout
  bool operator==(const Cache&) const = default;
};

enum class SeccompMode { kStrict };
// The setup command's filter (policy/seccomp/setup_filter.h): strict, or strict with the mount API
// left open for a setup that mounts (it still needs CAP_SYS_ADMIN from `capabilities`).
enum class SetupSeccompMode { kStrict, kAllowMount };

struct Seccomp {
  SeccompMode execution = SeccompMode::kStrict;
  SetupSeccompMode setup = SetupSeccompMode::kStrict;
  bool allow_debuggers = false;
  bool operator==(const Seccomp&) const = default;
};

struct Audit {
  std::string dir;  // empty: the host config's audit_dir
  bool operator==(const Audit&) const = default;
};

// The sandbox's cgroup limits (the container's linux.resources; each a ceiling over what the spec
// itself asks), and the workspace's size where airlock makes the workspace (`airlock run`). The
// defaults keep a 2-core / 24 GiB host alive with a fork bomb and an allocation loop in each of 20
// sandboxes at once (README, "Resources": pid_max 32768 / 512 per sandbox leaves the host 7,000;
// 20 x 1 GiB leaves it 4 GiB; one core each keeps the shims and containerd scheduled).
struct Resources {
  uint64_t pids = 512;                        // processes and threads at once
  uint64_t memory_bytes = 1 * kGiB;           // RAM; the OOM killer acts inside the sandbox
  uint64_t memory_swap_bytes = 1 * kGiB;      // RAM + swap (equal to memory: no swap)
  uint64_t cpu_millis = 1000;                 // CPU time in thousandths of a core
  uint64_t workspace_bytes = 1 * kGiB;        // ENOSPC past it (a tmpfs workspace, airlock run)
  bool operator==(const Resources&) const = default;
};

inline constexpr absl::Duration kDefaultExecutionTimeout = absl::Hours(2);
inline constexpr absl::Duration kMaxExecutionTimeout = absl::Hours(24 * 7);
inline constexpr absl::Duration kMinExecutionTimeout = absl::Seconds(1);

// The execution phase's deadline, counted from the seal: the container is killed when it passes.
struct Execution {
  absl::Duration timeout = kDefaultExecutionTimeout;  // InfiniteDuration(): none ("timeout: none")
  bool operator==(const Execution&) const = default;
};

// The small capability set a container keeps (the OCI default set).
const std::vector<std::string>& DefaultCapabilities();

// passthrough: the shim runs the container exactly as containerd's runc shim would (no rewrite, no
// phases); for containers that are not sandboxes, and for measuring the shim itself. Opt-in only.
enum class PolicyMode { kAirlock, kPassthrough };
struct Policy {
  PolicyMode mode = PolicyMode::kAirlock;
  Workspace workspace;
  Filesystem filesystem;
  Network network;
  Setup setup;
  Cache cache;
  std::vector<std::string> secrets;  // env var names present in setup only
  Seccomp seccomp;
  std::vector<std::string> capabilities = DefaultCapabilities();
  Audit audit;
  Resources resources;
  Execution execution;
  bool operator==(const Policy&) const = default;
};

// The built-in policy used when no file applies: the strictest (rootfs read-only in both phases, no
// uplink, no setup, no secrets, /tmp 64Mi, other binds rejected, seccomp strict, small capability set).
Policy StrictestDefaultPolicy();

// ---- Host config (/etc/airlock/config.yaml) ----

inline constexpr absl::string_view kHostConfigPath = "/etc/airlock/config.yaml";

struct Ipv4Cidr {
  uint32_t address = 0;  // host byte order, host bits zero
  int prefix_length = 0;
  bool operator==(const Ipv4Cidr&) const = default;
};
std::string ToString(const Ipv4Cidr& cidr);  // "198.18.0.0/16"

// `airlock run`'s bounds on a change set (section run:), each > 0; its flags can change them per run.
struct RunLimits {
  uint64_t max_files = 10000;            // changed paths in one change set
  uint64_t max_file_size = 64 * kMiB;    // bytes of one changed file
  uint64_t max_total_size = 256 * kMiB;  // bytes of all changed files together
  bool operator==(const RunLimits&) const = default;
};

// The proxy's view of the world (section proxy:). Names are resolved by the host, once per
// connection, and the address that was checked is the one connected to.
struct ProxyHostConfig {
  std::string hosts_file;          // "" : the system resolver (getaddrinfo); else only this hosts(5) file
  std::vector<Ipv4Cidr> allow;     // non-global ranges the proxy may still connect to (a mirror, a test)
  bool operator==(const ProxyHostConfig&) const = default;
};

// The setup cache's bound on this host (section cache:): all entries together; the least recently
// used go first past it.
inline constexpr uint64_t kMinCacheMaxBytes = kMiB;
struct CacheHostConfig {
  uint64_t max_bytes = 20 * kGiB;  // >= kMinCacheMaxBytes
  bool operator==(const CacheHostConfig&) const = default;
};

struct HostConfig {
  std::vector<std::string> allowed_repo_roots;  // none: no repository may be mounted
  Ipv4Cidr nat_pool = {0xC6120000u, 16};        // 198.18.0.0/16 (RFC 2544 benchmarking range)
  // What setup behind `nat` (or `pod`) may reach beyond global unicast (net/forward_guard.h).
  std::vector<Ipv4Cidr> nat_allow;
  std::string profiles_dir = "/etc/airlock/policies";
  std::string default_policy = "/etc/airlock/policy.yaml";
  std::string audit_dir = "/var/log/airlock";
  std::string runtime_binary = "runc";          // a name looked up in PATH, or an absolute path
  // The parent of runc's state, <root>/<namespace>, when the runtime options name no Root (CRI
  // handlers of another runtime type cannot): containerd's runc shim's default.
  std::string runtime_root = "/run/containerd/runc";
  bootstrap::Protocol shim_protocol = bootstrap::Protocol::kAuto;
  RunLimits run_limits;
  ProxyHostConfig proxy;
  CacheHostConfig cache;
  bool operator==(const HostConfig&) const = default;
};

HostConfig DefaultHostConfig();

// Spellings used in YAML (and in messages).
absl::string_view ToString(PolicyMode mode);
absl::string_view ToString(RootfsMode mode);
absl::string_view ToString(OtherBinds mode);
absl::string_view ToString(ExecutionNetwork mode);
absl::string_view ToString(ProxyPreset preset);
absl::string_view ToString(SeccompMode mode);
absl::string_view ToString(SetupSeccompMode mode);
absl::string_view ToString(LeftoverSecrets mode);
absl::string_view ToString(bootstrap::Protocol protocol);
std::string ToString(const Uplink& uplink);  // "nat", "none", "netns:/path"

}  // namespace airlock::policy
