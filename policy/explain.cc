#include "policy/explain.h"

#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/capabilities.h"
#include "policy/duration_size.h"
#include "policy/proxy_presets.h"

namespace airlock::policy {
namespace {

std::string Quote(const std::string& arg) {
  if (!arg.empty() && arg.find_first_of(" \t\n'\"\\$`") == std::string::npos) return arg;
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string DescribeTmpfs(const Policy& p) {
  std::vector<std::string> parts;
  for (const TmpfsMount& m : p.filesystem.tmpfs) {
    parts.push_back(absl::StrCat(m.path, " (tmpfs, ", HumanByteSize(m.size_bytes), ")"));
  }
  return absl::StrJoin(parts, ", ");
}

// "a", "a and b", "a, b and c".
std::string JoinWords(const std::vector<std::string>& parts) {
  std::string joined;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) absl::StrAppend(&joined, i + 1 == parts.size() ? " and " : ", ");
    absl::StrAppend(&joined, parts[i]);
  }
  return joined;
}

std::string Writable(const Policy& p, bool rootfs_writable) {
  std::vector<std::string> parts;
  if (rootfs_writable) parts.push_back("the root filesystem");
  parts.push_back(absl::StrCat(p.workspace.target, " (the repository)"));
  if (!p.filesystem.tmpfs.empty()) parts.push_back(DescribeTmpfs(p));
  return JoinWords(parts);
}

std::string DescribeUplink(const Uplink& uplink) {
  switch (uplink.kind) {
    case UplinkKind::kNat:
      return "network through NAT (a veth to the host): global unicast IPv4 only; private, shared (CGNAT), "
             "loopback, link-local (the cloud metadata address 169.254.169.254), documentation, benchmarking, "
             "multicast and reserved ranges, and the host's own addresses, are dropped, unless the host config's "
             "nat.allow lists them";
    case UplinkKind::kNetns:
      return absl::StrCat("network through the network namespace ", uplink.netns_path,
                          " (whatever that namespace reaches)");
    case UplinkKind::kPod:
      return "network through the Kubernetes pod's network namespace (NAT to the pod's address: whatever the pod "
             "may reach, but never loopback, link-local (the cloud metadata address 169.254.169.254), multicast or "
             "reserved ranges, nor the pod's own addresses, unless the host config's nat.allow lists them)";
    case UplinkKind::kProxy:
      return "no network but loopback and the airlock proxy on 127.0.0.1:3128 (HTTP_PROXY/HTTPS_PROXY are set): "
             "only the hosts of network.proxy, see below";
    case UplinkKind::kNone:
      break;
  }
  return "no network but loopback";
}

std::string MethodList(const std::vector<std::string>& methods) { return absl::StrJoin(methods, ", "); }

// network.proxy in words: what passes, what cannot be seen, what bounds it.
void DescribeProxy(const Policy& p, const std::function<void(const std::string&)>& line) {
  const Proxy& proxy = p.network.proxy;
  line("The airlock proxy (127.0.0.1:3128 inside the sandbox, a socket the shim made and serves from outside):");
  if (proxy.preset == ProxyPreset::kAll) {
    line("  - hosts: any name (preset all)");
  } else {
    std::vector<std::string> hosts = proxy.allow;
    if (proxy.preset == ProxyPreset::kCommonDependencies) {
      hosts.insert(hosts.begin(), absl::StrCat("the common-dependencies preset (", PresetHosts(proxy.preset).size(),
                                               " package registries and forges)"));
    }
    line(absl::StrCat("  - hosts: ", JoinWords(hosts), " (\"*.x\" is every name under x, not x itself)"));
  }
  std::vector<std::string> ports;
  for (uint16_t port : proxy.ports) ports.push_back(absl::StrCat(port));
  line(absl::StrCat("  - ports: ", absl::StrJoin(ports, ", ")));
  if (p.network.execution == ExecutionNetwork::kProxy) {
    line(absl::StrCat("  - plain HTTP methods after the seal: ", MethodList(proxy.methods),
                      "; checked on every request, also on a kept-alive connection (403 otherwise)"));
  }
  if (p.network.setup.uplink.kind == UplinkKind::kProxy) {
    line(absl::StrCat("  - plain HTTP methods during setup: ",
                      proxy.setup_methods ? MethodList(*proxy.setup_methods) : std::string("all")));
  }
  line("  - HTTPS passes as a CONNECT tunnel to an allowed host and port; the TLS ClientHello's server name (SNI) "
       "must equal the CONNECT host, and anything that is not TLS is refused; the methods inside TLS cannot be seen "
       "(the proxy does not intercept TLS): an allowed HTTPS host takes any method");
  line("  - names are resolved by the host (the sandbox has no DNS), once per connection, and the checked address is "
       "the one connected to; loopback, private, link-local (the cloud metadata address), CGNAT, multicast, "
       "documentation and reserved addresses and the host's own are refused unless the host config's proxy.allow "
       "lists them; IP literals pass only when listed themselves");
  line(absl::StrCat("  - limits over the sandbox's life: ", proxy.limits.requests, " requests, ",
                    HumanByteSize(proxy.limits.bytes_up), " up, ", HumanByteSize(proxy.limits.bytes_down), " down, ",
                    proxy.limits.connections, " connections at once"));
  line("  - every request is a line of the audit log (method, host, port, path, bytes, decision, reason)");
}

// What both seccomp filters deny (policy/seccomp/shared_rules.h), in words.
constexpr absl::string_view kSocketsWords =
    "sockets only of the families unix, inet, inet6 and netlink (no vsock, which is bound to no network namespace and "
    "would reach the hypervisor; no packet, raw or other family)";
constexpr absl::string_view kKernelWords =
    "bpf, keyring, io_uring, perf events, userfaultfd, kexec, kernel modules or setns";

std::string DescribeSetupFilter(const Policy& p) {
  std::string mount = "no mount";
  if (p.seccomp.setup == SetupSeccompMode::kAllowMount) {
    bool admin = false;
    for (const std::string& cap : p.capabilities) admin = admin || cap == "CAP_SYS_ADMIN";
    mount = absl::StrCat("the mount API stays open (mounting needs CAP_SYS_ADMIN, which the capabilities ",
                         admin ? "give" : "do not give", ")");
  }
  return absl::StrCat(kSocketsWords, ", no new user namespaces, no ", kKernelWords, ", ", mount);
}

std::string CommandWords(const std::vector<std::string>& command) {
  std::vector<std::string> words;
  for (const std::string& arg : command) words.push_back(Quote(arg));
  return absl::StrJoin(words, " ");
}

// cache: in words: what the key is made of, what a hit does, when an entry is written.
void DescribeCache(const Policy& p, const std::function<void(const std::string&)>& line) {
  const Cache& cache = p.cache;
  if (!cache.enabled) {
    line("Setup cache (`airlock run`): off (no cache: section); setup runs in full every time");
    return;
  }
  line("Setup cache (`airlock run`): on");
  std::vector<std::string> files;
  for (const std::string& file : cache.key_files) files.push_back(Quote(file));
  line(absl::StrCat("  - key: the image, this policy, the setup command, the repository's identity and ",
                    files.empty() ? std::string("no file (cache.key_files is empty: no change to the repository's "
                                                "files makes a new entry)")
                                  : absl::StrCat("the content of ", JoinWords(files))));
  line(absl::StrCat("  - an entry is used for ", FormatGoDuration(cache.ttl), " after it was written"));
  line(absl::StrCat(
      "  - on a hit: the sandbox starts from the cached root filesystem and untracked workspace files, setup is "
      "skipped, and ",
      cache.maintenance.empty()
          ? std::string("nothing runs in its place")
          : absl::StrCat("the maintenance command runs in its place, with setup's network and secrets (deadline ",
                         FormatGoDuration(cache.maintenance_timeout.value_or(p.setup.timeout)),
                         "): ", CommandWords(cache.maintenance))));
  line("  - an entry is written only at the seal of a setup phase: never after the agent ran, never with a secret's "
       "value in it");
}

std::string DescribeOtherBinds(const Policy& p) {
  return p.filesystem.other_binds == OtherBinds::kReadonly
             ? "other bind mounts from the container spec are made read-only"
             : "other bind mounts from the container spec are refused (the container does not start)";
}

}  // namespace

std::string ExplainPolicy(const Policy& p) {
  std::string out;
  auto line = [&](auto&&... parts) { absl::StrAppend(&out, parts..., "\n"); };
  const bool setup_writable = p.filesystem.rootfs.setup == RootfsMode::kWritable;
  if (p.mode == PolicyMode::kPassthrough) {
    line("PASSTHROUGH: no airlock. The container runs exactly as its OCI spec says, as with containerd's runc");
    line("shim: no setup phase, no seal, the network, filesystem, capabilities and environment of the spec,");
    line("secrets included. Use it only for containers that are not sandboxes for untrusted code.");
    return out;
  }

  line("Workspace: the host directory named by the annotation airlock.dev/repo is mounted read-write at ",
       p.workspace.target, "; it must be a real directory under an allowed repository root (no symlinks).");
  line(p.workspace.required ? "  The annotation is required: without it the container does not start."
                            : "  The annotation is optional: without it no repository is mounted.");
  line();

  line("During setup:");
  if (p.setup.command.empty()) {
    line("  - no setup command in the policy (the annotation airlock.dev/setup may give one); without one the "
         "container is sealed before its entrypoint starts");
  } else {
    line("  - runs the setup command: ", CommandWords(p.setup.command));
  }
  line("  - deadline ", FormatGoDuration(p.setup.timeout),
       ": when it passes the container is sealed, whatever setup is doing");
  line("  - ", DescribeUplink(p.network.setup.uplink));
  line("  - root filesystem ", setup_writable ? "writable (setup may install packages)" : "read-only");
  line("  - writable: ", Writable(p, setup_writable));
  line("  - ", DescribeOtherBinds(p));
  if (p.secrets.empty()) {
    line("  - no secrets");
  } else {
    line("  - secrets present in the setup command's environment: ", absl::StrJoin(p.secrets, ", "));
  }
  line("  - seccomp (setup: ", ToString(p.seccomp.setup), "): ", DescribeSetupFilter(p), " (EPERM); a 32-bit or x32 "
       "syscall kills the process");
  line("  - what package managers need stays: TCP/UDP over IPv4 and IPv6, unix and netlink sockets, fork/exec, "
       "threads, setuid/setgroups (apt's _apt sandbox), seccomp filters of their own, ptrace");
  line("  - the filter is the setup command's (applied in its process before the exec): the airlock helper stays "
       "unfiltered until the seal, and execs into the container before the seal run without it");
  line("  - setup runs without CAP_SYS_PTRACE and cannot stop or steer the airlock helper");
  line("  - if setup fails (non-zero exit) the container stops; the entrypoint never runs");
  line();

  line("The seal (one-way; when setup exits successfully, on `airlock seal`, or at the deadline):");
  line("  - the uplink is deleted and the network namespace is verified to hold only loopback; if that cannot "
       "be verified the container is killed");
  line("  - tmpfs and mqueue mounts the policy does not name (e.g. /dev/shm, /run, /dev/mqueue) are emptied");
  if (!p.secrets.empty()) {
    line("  - every place setup could write is searched for the secrets' values (raw, hex, base64, "
         "percent-encoded): ",
         setup_writable ? "the root filesystem's changes, " : "",
         "the workspace's files changed since the container was made, the policy's tmpfs, /dev; a file holding one ",
         p.setup.leftover_secrets == LeftoverSecrets::kScrub
             ? "is removed (leftover_secrets: scrub; the audit log names it)"
             : "fails the seal and the container is killed (leftover_secrets: fail; the error and the audit log name "
               "the file, never the value)");
    if (p.setup.keep_processes) {
      line("  - keep_processes: true lets setup's processes, which had the secrets, run on into the execution phase: "
           "the sweep cannot vouch for what they write later");
    }
  }
  line("  - the root filesystem is remounted read-only");
  line(p.setup.keep_processes
           ? "  - processes left from setup keep running (keep_processes: true; a process holding a file open "
             "for writing makes the read-only remount fail, and then the container is killed)"
           : "  - every process left from setup is killed");
  line("  - the entrypoint starts only after the shim has answered \"sealed and verified\"");
  line();

  DescribeCache(p, [&](const std::string& text) { line(text); });
  line();

  line("After the seal (the entrypoint, e.g. the agent, runs):");
  line(p.network.execution == ExecutionNetwork::kProxy
           ? "  - no network but loopback (verified) and the airlock proxy on 127.0.0.1:3128 (verified to be the "
             "shim's socket; HTTP_PROXY/HTTPS_PROXY are set): only the hosts of network.proxy, see below"
           : "  - no network but loopback (verified)");
  line("  - root filesystem read-only");
  line("  - writable: only ", Writable(p, false));
  line("  - ", DescribeOtherBinds(p));
  if (!p.secrets.empty()) line("  - secrets removed from the environment: ", absl::StrJoin(p.secrets, ", "));
  line("  - seccomp (strict): ", kSocketsWords, ", no new network or user namespaces, no mount, ", kKernelWords,
       p.seccomp.allow_debuggers ? "; ptrace allowed (allow_debuggers: true)" : ", no ptrace",
       " (EPERM); TCP/UDP/unix sockets stay available on loopback");
  line("  - no new privileges");
  if (p.capabilities.empty()) {
    line("  - no capabilities");
  } else {
    line("  - capabilities: ", absl::StrJoin(p.capabilities, ", "));
  }
  line("  - execs into the container run under the same seccomp filter and without the secrets");
  line(p.execution.timeout == absl::InfiniteDuration()
           ? std::string("  - no deadline (execution.timeout: none): the container runs until it exits or is stopped")
           : absl::StrCat("  - deadline ", FormatGoDuration(p.execution.timeout),
                          " after the seal: then the container is killed (audited)"));
  line();

  line("Resources (both phases; the container's cgroup limits, each a ceiling over what the spec asks):");
  line("  - at most ", p.resources.pids, " processes and threads (a fork bomb stays inside)");
  line("  - memory ", HumanByteSize(p.resources.memory_bytes),
       p.resources.memory_swap_bytes == p.resources.memory_bytes
           ? std::string(", no swap")
           : absl::StrCat(", memory+swap ", HumanByteSize(p.resources.memory_swap_bytes)),
       " (past it the kernel's OOM killer acts inside the sandbox, reported as an OOM event)");
  line("  - CPU ", p.resources.cpu_millis / 1000, ".", absl::StrCat(1000 + p.resources.cpu_millis % 1000).substr(1),
       " core(s)");
  line("  - the workspace ", HumanByteSize(p.resources.workspace_bytes),
       " where airlock makes it (`airlock run`: a tmpfs, ENOSPC past it); a repository given by annotation is the "
       "caller's directory and is not limited here");
  line();

  if (UsesProxy(p.network)) {
    DescribeProxy(p, [&](const std::string& text) { line(text); });
    line();
  }

  line("Audit log: ", p.audit.dir.empty() ? "the host config's audit_dir" : p.audit.dir);

  for (const std::string& cap : p.capabilities) {
    if (absl::string_view risk = CapabilityRisk(cap); !risk.empty()) {
      line("WARNING: ", cap, ": ", risk, ".");
    }
  }
  if (p.seccomp.allow_debuggers) line("WARNING: allow_debuggers lets the sealed code ptrace its own processes.");
  return out;
}

}  // namespace airlock::policy
