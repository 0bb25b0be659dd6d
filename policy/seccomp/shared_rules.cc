#include "policy/seccomp/shared_rules.h"

#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace airlock::policy {
namespace {

// socket()'s type argument carries SOCK_NONBLOCK/SOCK_CLOEXEC above the type proper; the kernel
// masks them off the same way (SOCK_TYPE_MASK in include/linux/net.h).
constexpr uint64_t kSockTypeMask = 0xf;
// Integer arguments are compared on their low 32 bits: the kernel truncates an `int` argument,
// so junk in the upper half must not slip a value past an equality test.
constexpr uint64_t kLow32 = 0xffffffffULL;

constexpr uint32_t kSocketFamilies[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
constexpr uint32_t kSocketpairFamilies[] = {AF_UNIX};

constexpr const char* kKernelFacilities[] = {
    "bpf",
    "perf_event_open",
    "keyctl", "add_key", "request_key",
    "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module",
    // Joining another namespace. nstype 0 means "whatever the fd is", so flags cannot tell a net or
    // user namespace apart: deny setns as a whole (it needs CAP_SYS_ADMIN in a container anyway).
    "setns",
};

constexpr const char* kMountApi[] = {
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick",
    "mount_setattr",
};

bool AnyAllowedIn(absl::Span<const uint32_t> allowed, uint64_t first, uint64_t last) {
  return std::any_of(allowed.begin(), allowed.end(), [&](uint32_t a) { return a >= first && a <= last; });
}

// Denies every value of argument `arg` of `name` outside `allowed` (small numbers). libseccomp
// compares an argument only once per rule, so "not one of these" becomes rules for the aligned
// blocks between the allowed values (masked, on the low 32 bits) and one for everything above the
// largest: that one compares all 64 bits, so junk in the upper half lands on the denied side.
absl::Status DenyOutside(FilterBuilder& b, const char* name, unsigned arg, absl::Span<const uint32_t> allowed) {
  const uint64_t max = *std::max_element(allowed.begin(), allowed.end());
  uint64_t value = 0;
  while (value <= max) {
    if (AnyAllowedIn(allowed, value, value)) {
      ++value;
      continue;
    }
    uint64_t size = 1;
    // The largest aligned block from here that holds no allowed value and stays below the largest.
    while (value % (2 * size) == 0 && value + 2 * size - 1 <= max &&
           !AnyAllowedIn(allowed, value, value + 2 * size - 1)) {
      size *= 2;
    }
    scmp_arg_cmp block{arg, SCMP_CMP_MASKED_EQ, kLow32 & ~(size - 1), value};
    if (absl::Status s = b.Add(SCMP_ACT_ERRNO(EPERM), name, {block}); !s.ok()) return s;
    value += size;
  }
  return b.Add(SCMP_ACT_ERRNO(EPERM), name, {scmp_arg_cmp{arg, SCMP_CMP_GT, max, 0}});
}

}  // namespace

absl::Status AddSocketRules(FilterBuilder& b) {
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  if (absl::Status s = DenyOutside(b, "socket", 0, kSocketFamilies); !s.ok()) return s;
  // Raw IP sockets craft any packet. Netlink stays whole: raw by type, but it only talks to the
  // kernel, about the sandbox's own netns for routes (getaddrinfo's AI_ADDRCONFIG, `ip`), and
  // useradd's audit socket must open (shadow aborts when it cannot), which apt's postinst scripts need.
  for (uint64_t family : {AF_INET, AF_INET6}) {
    if (absl::Status s = b.Add(eperm, "socket",
                               {SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, family),
                                SCMP_A1(SCMP_CMP_MASKED_EQ, kSockTypeMask, SOCK_RAW)});
        !s.ok()) {
      return s;
    }
  }
  // SOCK_PACKET: the kernel turns socket(AF_INET, SOCK_PACKET, ...) into an AF_PACKET socket.
  if (absl::Status s = b.Add(eperm, "socket", {SCMP_A1(SCMP_CMP_MASKED_EQ, kSockTypeMask, SOCK_PACKET)}); !s.ok()) {
    return s;
  }
  return DenyOutside(b, "socketpair", 0, kSocketpairFamilies);
}

absl::Status AddNewNamespaceRules(FilterBuilder& b, absl::Span<const uint64_t> flags) {
  // Flags are argument 0 of both on x86_64 and aarch64.
  for (const char* name : {"clone", "unshare"}) {
    for (uint64_t flag : flags) {
      if (absl::Status s = b.Add(SCMP_ACT_ERRNO(EPERM), name, {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)}); !s.ok()) {
        return s;
      }
    }
  }
  return b.Add(SCMP_ACT_ERRNO(ENOSYS), "clone3");
}

absl::Status AddKernelFacilityRules(FilterBuilder& b) { return b.AddAll(SCMP_ACT_ERRNO(EPERM), kKernelFacilities); }

absl::Status AddMountRules(FilterBuilder& b) { return b.AddAll(SCMP_ACT_ERRNO(EPERM), kMountApi); }

}  // namespace airlock::policy
