// The setup battery: what the setup filter (policy/seccomp/setup_filter.h) promises, checked by a
// process under it. airlock-init runs it in the setup command's own process, after installing the
// filter and before the exec, and reports it to the shim (`airlock verify` shows it); `airlock-init
// probe --setup-filter MODE` runs it from wherever it is started (a setup command, a test).
//
// Nothing here may change the calling process: it goes on to exec the setup command. The calls use
// arguments the kernel refuses on its own with another error (probe_tally.h: ExpectFiltered), so
// none forks, mounts or enters a namespace even when no filter stops it.
#include <linux/netlink.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "cmd/airlock-init/probe_tally.h"
#include "cmd/airlock-init/probe_util.h"
#include "cmd/airlock-init/probes.h"

namespace airlock::init {
namespace {

void Try(Tally& tally, const char* what, long rc, int denial = EPERM) {
  ExpectFiltered(tally, what, rc, errno, denial);
}

ProbeResult UserNamespaceDenied() {
  Tally tally("ns.user-denied");
  // CLONE_PTRACE is no unshare flag (EINVAL), CLONE_NEWUSER|CLONE_FS no clone combination (EINVAL),
  // and clone3 with no arguments is EINVAL: only the filter answers EPERM (ENOSYS for clone3).
  Try(tally, "unshare(CLONE_NEWUSER)", syscall(SYS_unshare, CLONE_NEWUSER | CLONE_PTRACE));
  long pid = syscall(SYS_clone, CLONE_NEWUSER | CLONE_FS | SIGCHLD, 0, nullptr, nullptr, 0);
  if (pid == 0) syscall(SYS_exit_group, 0);
  if (pid > 0) WaitChild(static_cast<pid_t>(pid));
  Try(tally, "clone(CLONE_NEWUSER)", pid);
  Try(tally, "clone3", syscall(SYS_clone3, nullptr, 0), ENOSYS);
  return tally.Result();
}

ProbeResult MountDenied(bool mount_allowed) {
  if (mount_allowed) {
    return {"mount-denied", Verdict::kInfo,
            "allowed by the policy (seccomp.setup: allow-mount); mounting still needs CAP_SYS_ADMIN"};
  }
  Tally tally("mount-denied");
  Try(tally, "mount", syscall(SYS_mount, nullptr, nullptr, nullptr, 0, nullptr));       // EFAULT
  Try(tally, "umount2", syscall(SYS_umount2, "/", ~0));                                  // EINVAL
  Try(tally, "open_tree", syscall(SYS_open_tree, -1, nullptr, ~0U));                     // EINVAL
  Try(tally, "fsopen", syscall(SYS_fsopen, nullptr, ~0U));  // EPERM without CAP_SYS_ADMIN anyway
  return tally.Result();
}

// What package managers need must still open: a filter that says no here breaks apt, npm, pip, git.
ProbeResult SocketsAllowed() {
  struct Kind {
    int family, type, protocol;
    const char* what;
    bool optional;  // an IPv6-less kernel has no AF_INET6
  };
  constexpr Kind kKinds[] = {
      {AF_INET, SOCK_STREAM, 0, "AF_INET stream", false},
      {AF_INET, SOCK_DGRAM, 0, "AF_INET datagram", false},
      {AF_INET6, SOCK_STREAM, 0, "AF_INET6 stream", true},
      {AF_UNIX, SOCK_STREAM, 0, "AF_UNIX stream", false},
      {AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, "AF_NETLINK route", false},
  };
  ProbeResult result{"sockets-allowed", Verdict::kHeld, ""};
  std::string denied, failed;
  for (const Kind& k : kKinds) {
    int fd = socket(k.family, k.type | SOCK_CLOEXEC, k.protocol);
    if (fd >= 0) {
      close(fd);
      result.detail += std::string(result.detail.empty() ? "" : ", ") + k.what;
    } else if (errno == EPERM || errno == EACCES) {
      denied += std::string(denied.empty() ? "" : "; ") + k.what + ": " + ErrnoName(errno);
    } else if (!(k.optional && errno == EAFNOSUPPORT)) {
      failed += std::string(failed.empty() ? "" : "; ") + k.what + ": " + ErrnoName(errno);
    }
  }
  if (!denied.empty()) return {result.name, Verdict::kBroken, "denied: " + denied};
  if (!failed.empty()) return {result.name, Verdict::kError, failed};
  result.detail = "open: " + result.detail;
  return result;
}

}  // namespace

std::vector<ProbeResult> RunSetupFilterProbes(bool mount_allowed) {
  std::vector<ProbeResult> results = {
      ProbeSeccompActive(),        ProbeNoNewPrivs(),        ProbeVsockDenied(),     ProbeOtherFamiliesDenied(),
      ProbePacketSocketDenied(),   ProbeRawSocketDenied(),   UserNamespaceDenied(),  ProbeKernelFacilitiesDenied(),
      MountDenied(mount_allowed),  SocketsAllowed(),
  };
  for (ProbeResult& r : results) r.name = kSetupProbePrefix + r.name;
  return results;
}

}  // namespace airlock::init
