// The execution-phase seccomp filter: what untrusted code may no longer do once the airlock is sealed.
//
// The shim compiles it with libseccomp and hands it as raw BPF (`struct sock_filter` array) to
// airlock-init in its payload (policy/sandbox/init_payload_format.h); airlock-init installs it with
// seccomp(2) without linking libseccomp.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace airlock::policy {

struct SeccompOptions {
  // Keeps ptrace (and process_vm_readv/writev) allowed after the seal.
  bool allow_debuggers = false;
};

// Builds the filter and returns its raw BPF program (a multiple of sizeof(struct sock_filter)).
// Default ALLOW; EPERM for what shared_rules.h lists (sockets but unix/inet/inet6/netlink, raw and
// packet sockets, new user namespaces, bpf, perf_event_open, the key syscalls, userfaultfd, io_uring,
// kexec, modules, setns, the mount API), new network namespaces, and (unless allow_debuggers)
// ptrace; ENOSYS for clone3 (its flags sit in memory seccomp cannot read, libc then falls back to
// clone); syscalls of any other ABI (i386 int 0x80, x32) kill the process.
absl::StatusOr<std::string> BuildExecutionFilterBpf(const SeccompOptions& options);

// Same filter in libseccomp's human-readable pseudo filter code, for logs and debugging.
absl::StatusOr<std::string> BuildExecutionFilterPfc(const SeccompOptions& options);

}  // namespace airlock::policy
