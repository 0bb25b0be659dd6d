// The rules both airlock filters apply: the setup filter (setup_filter.h, while setup has network)
// and the execution filter (execution_filter.h, after the seal). Each answers EPERM unless said.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "policy/seccomp/filter_builder.h"

namespace airlock::policy {

// socket(): only AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK; every other family (AF_VSOCK, AF_PACKET,
// AF_XDP, AF_ALG, ...) is either not bound to the sandbox's network namespace or reaches past its
// rules, and none is needed. No SOCK_RAW for AF_INET/AF_INET6, no SOCK_PACKET in any family.
// socketpair(): AF_UNIX only (no other family makes pairs; trying would load its module).
absl::Status AddSocketRules(FilterBuilder& b);

// clone()/unshare() with any of `flags` (CLONE_NEW*); clone3() gets ENOSYS: its flags sit in
// memory seccomp cannot read, and libc then falls back to clone(), which the rules do check.
absl::Status AddNewNamespaceRules(FilterBuilder& b, absl::Span<const uint64_t> flags);

// Kernel facilities no dependency install and no agent needs, each a large attack surface: bpf,
// perf_event_open, the key syscalls, userfaultfd, io_uring (its operations, sockets included,
// never pass through seccomp), kexec, module loading, and setns.
absl::Status AddKernelFacilityRules(FilterBuilder& b);

// The mount API, old and new.
absl::Status AddMountRules(FilterBuilder& b);

}  // namespace airlock::policy
