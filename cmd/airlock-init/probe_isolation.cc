// socket.packet-denied, socket.raw-denied, ns.net-denied, ns.user-denied, mount-denied.
#include <linux/sched.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "cmd/airlock-init/probe_tally.h"
#include "cmd/airlock-init/probe_util.h"
#include "cmd/airlock-init/probes.h"

namespace airlock::init {
namespace {

// Errors that mean "not allowed": the filter's EPERM, a missing capability, clone3's ENOSYS, a
// user namespace limit of 0.
bool IsDenial(int err) { return err == EPERM || err == EACCES || err == ENOSYS || err == ENOSPC; }

int UnshareNet() { return unshare(CLONE_NEWNET) == 0 ? 0 : errno; }
int UnshareUser() { return unshare(CLONE_NEWUSER) == 0 ? 0 : errno; }

// unshare() changes the caller, so it runs in a child that exits right after.
void TryUnshare(Tally& tally, int (*attempt)(), const std::string& what) {
  std::string error;
  int code = RunInChild(attempt, &error);
  if (code == 0) {
    tally.Succeeded(what);
  } else if (code > 0 && IsDenial(code)) {
    tally.Denied(what, code);
  } else if (code > 0) {
    tally.Unknown(what + ": " + ErrnoName(code));
  } else {
    tally.Unknown(what + ": " + error);
  }
}

// A fork-like clone/clone3 (no new stack) whose child exits at once, in the new namespace if any.
void TryClone(Tally& tally, unsigned long flag, bool use_clone3, const std::string& what) {
  long pid;
  if (use_clone3) {
    clone_args args{};
    args.flags = flag;
    args.exit_signal = SIGCHLD;
    pid = syscall(SYS_clone3, &args, sizeof args);
  } else {
    pid = syscall(SYS_clone, flag | SIGCHLD, 0, nullptr, nullptr, 0);
  }
  if (pid == 0) syscall(SYS_exit_group, 0);
  if (pid > 0) {
    WaitChild(static_cast<pid_t>(pid));
    tally.Succeeded(what);
  } else if (IsDenial(errno)) {
    tally.Denied(what, errno);
  } else {
    tally.Unknown(what + ": " + ErrnoName(errno));
  }
}

ProbeResult NamespaceDenied(const std::string& name, unsigned long flag, int (*unshare_attempt)(),
                            const std::string& flag_name) {
  Tally tally(name);
  TryUnshare(tally, unshare_attempt, "unshare(" + flag_name + ")");
  TryClone(tally, flag, false, "clone(" + flag_name + ")");
  TryClone(tally, flag, true, "clone3(" + flag_name + ")");
  return tally.Result();
}

// A fresh empty directory to mount on: in the workspace, else in /tmp. "" when neither works.
std::string MakeMountPoint(const std::string& workspace) {
  if (!workspace.empty()) {
    std::string dir = workspace + "/.airlock-probe-mnt." + std::to_string(getpid());
    if (mkdir(dir.c_str(), 0700) == 0) return dir;
  }
  char tmp[] = "/tmp/.airlock-probe-mnt.XXXXXX";
  if (mkdtemp(tmp) != nullptr) return tmp;
  return "";
}

constexpr unsigned kFsopenCloexec = 0x00000001;  // FSOPEN_CLOEXEC (linux/mount.h clashes with sys/mount.h)

}  // namespace

ProbeResult ProbePacketSocketDenied() {
  Tally tally("socket.packet-denied");
  // Protocol 0: even a socket that does get created receives nothing before it is closed.
  TrySocket(tally, AF_PACKET, SOCK_RAW, 0, "socket(AF_PACKET, SOCK_RAW)");
  TrySocket(tally, AF_PACKET, SOCK_DGRAM, 0, "socket(AF_PACKET, SOCK_DGRAM)");
  TrySocket(tally, AF_INET, SOCK_PACKET, 0, "socket(AF_INET, SOCK_PACKET)");
  return tally.Result();
}

ProbeResult ProbeRawSocketDenied() {
  Tally tally("socket.raw-denied");
  TrySocket(tally, AF_INET, SOCK_RAW, IPPROTO_ICMP, "socket(AF_INET, SOCK_RAW)");
  TrySocket(tally, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_RAW, "socket(AF_INET, SOCK_RAW|SOCK_NONBLOCK)");
  TrySocket(tally, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, "socket(AF_INET6, SOCK_RAW)");
  return tally.Result();
}

ProbeResult ProbeNetNamespaceDenied() {
  return NamespaceDenied("ns.net-denied", CLONE_NEWNET, UnshareNet, "CLONE_NEWNET");
}

ProbeResult ProbeUserNamespaceDenied() {
  return NamespaceDenied("ns.user-denied", CLONE_NEWUSER, UnshareUser, "CLONE_NEWUSER");
}

ProbeResult ProbeMountDenied(const std::string& workspace) {
  Tally tally("mount-denied");
  std::string target = MakeMountPoint(workspace);
  if (target.empty()) {
    // Seccomp answers before the path is looked up; without a filter, ENOENT tells nothing.
    std::string missing = "/.airlock-probe-mnt." + std::to_string(getpid()) + ".missing";
    if (mount("airlock-probe", missing.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k") == 0) {
      umount2(missing.c_str(), MNT_DETACH);
      tally.Succeeded("mount(tmpfs)");
    } else if (errno == EPERM || errno == EACCES) {
      tally.Denied("mount(tmpfs)", errno);
    } else {
      tally.Unknown("mount(tmpfs) reached the path lookup (" + ErrnoName(errno) +
                    "): not stopped by seccomp, and no directory to test further");
    }
  } else {
    if (mount("airlock-probe", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k") == 0) {
      umount2(target.c_str(), MNT_DETACH);
      tally.Succeeded("mount(tmpfs)");
    } else if (errno == EPERM || errno == EACCES) {
      tally.Denied("mount(tmpfs)", errno);
    } else {
      tally.Unknown("mount(tmpfs): " + ErrnoName(errno));
    }
    rmdir(target.c_str());
  }
  // The new mount API must be shut too (fsopen creates nothing visible: the fd is just closed).
  long fd = syscall(SYS_fsopen, "tmpfs", kFsopenCloexec);
  if (fd >= 0) {
    close(static_cast<int>(fd));
    tally.Succeeded("fsopen(tmpfs)");
  } else if (errno == ENOSYS) {
    // An old kernel without the new mount API: nothing to deny.
  } else if (errno == EPERM || errno == EACCES) {
    tally.Denied("fsopen(tmpfs)", errno);
  } else {
    tally.Unknown("fsopen(tmpfs): " + ErrnoName(errno));
  }
  return tally.Result();
}

}  // namespace airlock::init
