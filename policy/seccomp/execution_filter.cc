#include "policy/seccomp/execution_filter.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"
#include "shim/base/files.h"
#include "shim/base/unique_fd.h"

namespace airlock::policy {
namespace {

// socket()'s type argument carries SOCK_NONBLOCK/SOCK_CLOEXEC above the type proper; the kernel
// masks them off the same way (SOCK_TYPE_MASK in include/linux/net.h).
constexpr uint64_t kSockTypeMask = 0xf;
// Integer arguments are compared on their low 32 bits only: the kernel truncates an `int` argument,
// so junk in the upper half must not slip a value past an equality test.
constexpr uint64_t kLow32 = 0xffffffffULL;
constexpr uint64_t kDeniedNamespaces[] = {CLONE_NEWNET, CLONE_NEWUSER};

// Syscalls denied outright with EPERM.
constexpr const char* kDeniedSyscalls[] = {
    // Joining another namespace. nstype 0 means "whatever the fd is", so flags cannot tell a net or
    // user namespace apart: deny setns as a whole (it needs CAP_SYS_ADMIN in a container anyway).
    "setns",
    // The mount API, old and new: the read-only rootfs and the sealed view must stay as they are.
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig",
    "fspick", "mount_setattr",
    "bpf",
    "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "perf_event_open",
    "userfaultfd",
};

// Denied unless the policy allows debuggers: ptrace and its memory-poking siblings.
constexpr const char* kDebuggerSyscalls[] = {"ptrace", "process_vm_readv", "process_vm_writev"};

struct ContextDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

absl::Status LibseccompStatus(int rc, absl::string_view what) {
  // libseccomp returns -errno.
  return ErrnoStatus(-rc, absl::StrCat("libseccomp: ", what));
}

class FilterBuilder {
 public:
  absl::Status Init() {
    ctx_.reset(seccomp_init(SCMP_ACT_ALLOW));
    if (!ctx_) return absl::InternalError("libseccomp: seccomp_init failed");
    // The filter holds the native arch only (x86_64 here); an i386 (int 0x80) or x32 syscall
    // would otherwise go unchecked, so any other ABI kills the process. libseccomp's x86_64
    // filter also treats syscall numbers with the x32 bit as a bad arch.
    int rc = seccomp_attr_set(ctx_.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc < 0) return LibseccompStatus(rc, "set bad-arch action");
    // Every allowed syscall walks the filter: a binary search over syscall numbers beats a list.
    rc = seccomp_attr_set(ctx_.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (rc < 0) return LibseccompStatus(rc, "set optimize level");
    return absl::OkStatus();
  }

  absl::Status Add(uint32_t action, const char* name, std::vector<scmp_arg_cmp> args = {}) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return absl::InternalError(absl::StrCat("libseccomp: unknown syscall ", name));
    int rc = seccomp_rule_add_array(ctx_.get(), action, nr, static_cast<unsigned>(args.size()),
                                    args.empty() ? nullptr : args.data());
    if (rc < 0) return LibseccompStatus(rc, absl::StrCat("add rule for ", name));
    return absl::OkStatus();
  }

  // Runs one of libseccomp's exporters into a memfd and returns what it wrote.
  absl::StatusOr<std::string> Export(int (*exporter)(const scmp_filter_ctx, int)) {
    UniqueFd fd(memfd_create("airlock-seccomp", MFD_CLOEXEC));
    if (!fd) return ErrnoStatus("memfd_create");
    int rc = exporter(ctx_.get(), fd.get());
    if (rc < 0) return LibseccompStatus(rc, "export");
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) return ErrnoStatus("fstat memfd");
    std::string out(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = pread(fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus("read memfd");
      if (n == 0) return absl::InternalError("memfd shorter than its size");
      done += static_cast<size_t>(n);
    }
    return out;
  }

 private:
  Context ctx_;
};

absl::Status AddRules(FilterBuilder& b, const SeccompOptions& options) {
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);

  // Sockets: packet sockets in any form, raw IP sockets, and vsock, which is not bound to a network
  // namespace and would reach the host past the sealed netns. AF_INET/AF_INET6/AF_UNIX stream and
  // datagram sockets stay (the sealed netns has only lo anyway), and so do netlink sockets (raw by
  // type, but they only talk to the kernel about the sealed netns: `ip addr` must work, and
  // changing anything there needs CAP_NET_ADMIN, which the container does not have).
  for (uint64_t family : {AF_PACKET, AF_VSOCK}) {
    if (auto s = b.Add(eperm, "socket", {SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, family)}); !s.ok()) return s;
  }
  for (uint64_t family : {AF_INET, AF_INET6}) {
    if (auto s = b.Add(eperm, "socket",
                       {SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, family), SCMP_A1(SCMP_CMP_MASKED_EQ, kSockTypeMask, SOCK_RAW)});
        !s.ok()) {
      return s;
    }
  }
  // SOCK_PACKET: the kernel turns socket(AF_INET, SOCK_PACKET, ...) into an AF_PACKET socket.
  if (auto s = b.Add(eperm, "socket", {SCMP_A1(SCMP_CMP_MASKED_EQ, kSockTypeMask, SOCK_PACKET)}); !s.ok()) return s;

  // New network or user namespaces, by clone or unshare (flags are arg 0 on x86_64 and aarch64).
  for (const char* name : {"clone", "unshare"}) {
    for (uint64_t flag : kDeniedNamespaces) {
      if (auto s = b.Add(eperm, name, {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)}); !s.ok()) return s;
    }
  }
  // clone3 passes its flags in a struct seccomp cannot read: pretend it does not exist so libc
  // falls back to clone, which the rules above do check.
  if (auto s = b.Add(SCMP_ACT_ERRNO(ENOSYS), "clone3"); !s.ok()) return s;

  for (const char* name : kDeniedSyscalls) {
    if (auto s = b.Add(eperm, name); !s.ok()) return s;
  }
  if (!options.allow_debuggers) {
    for (const char* name : kDebuggerSyscalls) {
      if (auto s = b.Add(eperm, name); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Build(const SeccompOptions& options, int (*exporter)(const scmp_filter_ctx, int)) {
  FilterBuilder builder;
  if (auto s = builder.Init(); !s.ok()) return s;
  if (auto s = AddRules(builder, options); !s.ok()) return s;
  return builder.Export(exporter);
}

}  // namespace

absl::StatusOr<std::string> BuildExecutionFilterBpf(const SeccompOptions& options) {
  return Build(options, seccomp_export_bpf);
}

absl::StatusOr<std::string> BuildExecutionFilterPfc(const SeccompOptions& options) {
  return Build(options, seccomp_export_pfc);
}

}  // namespace airlock::policy
