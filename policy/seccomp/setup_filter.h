// The setup-phase seccomp filter: what the setup command (the repository's own code, run with
// network) may not do while it installs dependencies.
//
// Built by the shim with libseccomp like the execution filter and handed to airlock-init in the
// same sealed payload (policy/sandbox/init_payload_format.h); airlock-init installs it in the setup
// command's process only, just before the exec. airlock-init itself (PID 1) stays unfiltered until
// it installs the execution filter and execs the entrypoint.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace airlock::policy {

struct SetupFilterOptions {
  // The policy's `seccomp.setup: allow-mount`: the mount API stays open (mounting still needs
  // CAP_SYS_ADMIN, which only the policy's capabilities can give).
  bool allow_mount = false;
};

// Raw BPF (a multiple of sizeof(struct sock_filter)). Default ALLOW; EPERM for what
// shared_rules.h lists: every socket family but AF_UNIX/AF_INET/AF_INET6/AF_NETLINK (AF_VSOCK first
// of all: vsock is bound to no network namespace and would reach the hypervisor past the uplink),
// raw and packet sockets, new user namespaces, bpf, perf_event_open, keyctl/add_key/request_key,
// userfaultfd, io_uring, kexec, module loading, setns, and (unless allow_mount) the mount API; ENOSYS
// for clone3; syscalls of any other ABI kill the process. What package managers need stays: TCP/UDP
// over IPv4/IPv6, unix sockets, netlink, fork/exec, threads, setuid/setgroups (apt's _apt sandbox),
// seccomp(2) and prctl (apt and others stack filters of their own), ptrace.
absl::StatusOr<std::string> BuildSetupFilterBpf(const SetupFilterOptions& options);

// The same in libseccomp's pseudo filter code, for logs and debugging.
absl::StatusOr<std::string> BuildSetupFilterPfc(const SetupFilterOptions& options);

}  // namespace airlock::policy
