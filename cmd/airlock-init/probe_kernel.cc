// socket.vsock-denied, socket.families-denied, kernel-denied: what both seccomp filters shut
// (policy/seccomp/shared_rules.h), asked in both phases: the sealed battery and the setup one.
#include <linux/keyctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "cmd/airlock-init/probe_tally.h"
#include "cmd/airlock-init/probes.h"

namespace airlock::init {
namespace {

// No socket type is this large (SOCK_MAX is 11): the kernel refuses it with EINVAL before it looks
// for the family (no module is loaded), while the family filter answers EPERM first.
constexpr int kBadSocketType = 15;

struct Family {
  int number;
  const char* name;
};

// Families that are not bound to the sandbox's network namespace or reach past its rules.
constexpr Family kOtherFamilies[] = {
    {AF_PACKET, "AF_PACKET"}, {AF_XDP, "AF_XDP"},   {AF_ALG, "AF_ALG"},         {AF_BLUETOOTH, "AF_BLUETOOTH"},
    {AF_TIPC, "AF_TIPC"},     {AF_RDS, "AF_RDS"},   {AF_QIPCRTR, "AF_QIPCRTR"}, {AF_KEY, "AF_KEY"},
    {AF_CAN, "AF_CAN"},       {AF_MAX, "AF_MAX"},
};

void Try(Tally& tally, const char* what, long rc) { ExpectFiltered(tally, what, rc, errno); }

}  // namespace

ProbeResult ProbeVsockDenied() {
  Tally tally("socket.vsock-denied");
  // vsock is bound to no network namespace: a socket that opens reaches the hypervisor. One that
  // does open here is closed at once, unconnected.
  TrySocket(tally, AF_VSOCK, SOCK_STREAM, 0, "socket(AF_VSOCK, SOCK_STREAM)");
  TrySocket(tally, AF_VSOCK, SOCK_DGRAM, 0, "socket(AF_VSOCK, SOCK_DGRAM)");
  return tally.Result();
}

ProbeResult ProbeOtherFamiliesDenied() {
  Tally tally("socket.families-denied");
  for (const Family& f : kOtherFamilies) {
    Try(tally, f.name, syscall(SYS_socket, f.number, kBadSocketType, 0));
  }
  // The kernel reads the family as an int: junk above it must not pass for AF_INET.
  Try(tally, "AF_INET with junk in the upper 32 bits",
      syscall(SYS_socket, (int64_t{1} << 32) | AF_INET, kBadSocketType, 0));
  Try(tally, "socketpair(AF_INET)", syscall(SYS_socketpair, AF_INET, SOCK_STREAM, 0, nullptr));
  return tally.Result();
}

ProbeResult ProbeKernelFacilitiesDenied() {
  Tally tally("kernel-denied");
  // Arguments the kernel refuses on its own with EINVAL/EFAULT/EBADF: nothing is created whatever
  // happens. kexec and modules answer EPERM themselves without the capability: either way, denied.
  Try(tally, "bpf", syscall(SYS_bpf, 0xffff, nullptr, 0));
  Try(tally, "perf_event_open", syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0));
  Try(tally, "keyctl", syscall(SYS_keyctl, 0xffff, 0, 0, 0, 0));
  Try(tally, "add_key", syscall(SYS_add_key, nullptr, nullptr, nullptr, 0, KEY_SPEC_THREAD_KEYRING));
  Try(tally, "request_key", syscall(SYS_request_key, nullptr, nullptr, nullptr, 0));
  Try(tally, "userfaultfd", syscall(SYS_userfaultfd, ~0));
  Try(tally, "io_uring_setup", syscall(SYS_io_uring_setup, 0, nullptr));
  Try(tally, "kexec_load", syscall(SYS_kexec_load, 0, 0, nullptr, ~0UL));
  Try(tally, "finit_module", syscall(SYS_finit_module, -1, nullptr, ~0));
  Try(tally, "setns", syscall(SYS_setns, -1, 0));
  return tally.Result();
}

}  // namespace airlock::init
