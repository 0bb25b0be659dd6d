// Running a probe in a forked child under a seccomp program, exactly as airlock-init installs one
// (cmd/airlock-init/filter_install.h): shared by the execution and the setup filter's tests.
#pragma once

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>
#include <vector>

#include "cmd/airlock-init/filter_install.h"

namespace airlock::seccomp_test {

// What a probe reports: 0 on success, the errno otherwise; kKilledBase + signal when the child
// died of a signal before reporting.
inline constexpr int kKilledBase = 100000;

inline int Result(long rc) { return rc < 0 ? errno : 0; }

// A probe that faults (int 0x80 on a kernel without ia32 emulation) must die of its signal, as it
// would in a plain build: AddressSanitizer's handlers would turn the SIGSEGV into exit 1. The raw
// syscall, because the sanitizer intercepts sigaction() itself.
inline void RestoreDefaultFaultSignals() {
  struct KernelSigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    unsigned long mask;
  } dfl{SIG_DFL, 0, nullptr, 0};
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGTRAP, SIGABRT}) {
    syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof dfl.mask);
  }
}

// Forks; the child installs `bpf` (none when empty) the way airlock-init does, runs `probe` and
// writes what it returns into a pipe. Returns that text, or "killed:<signal>" when the child died
// of a signal first.
inline std::string RunProbeText(const std::string& bpf, const std::function<std::string()>& probe) {
  int pipefd[2];
  REQUIRE(pipe2(pipefd, O_CLOEXEC) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(pipefd[0]);
    // A filter kill dumps core by default: keep the test directory clean.
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    RestoreDefaultFaultSignals();
    if (!bpf.empty()) {
      std::vector<sock_filter> program;
      std::string error;
      if (!init::FilterFromBytes(bpf, &program, &error) || !init::InstallFilter(program, &error)) _exit(3);
    }
    std::string text = probe();
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = write(pipefd[1], text.data() + done, text.size() - done);
      if (n <= 0) _exit(4);
      done += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(pipefd[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  if (WIFSIGNALED(status)) return "killed:" + std::to_string(WTERMSIG(status));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return text;
}

// The same for a probe that returns an errno (0: success).
inline int RunProbe(const std::string& bpf, const std::function<int()>& probe) {
  std::string text = RunProbeText(bpf, [&] { return std::to_string(probe()); });
  if (text.rfind("killed:", 0) == 0) return kKilledBase + std::stoi(text.substr(7));
  REQUIRE(!text.empty());
  return std::stoi(text);
}

// A thread started and joined: glibc tries clone3 first and falls back to clone on ENOSYS.
inline void* ThreadBody(void* arg) {
  *static_cast<int*>(arg) = 42;
  return nullptr;
}
inline int ThreadProbe() {
  int value = 0;
  pthread_t thread;
  int rc = pthread_create(&thread, nullptr, ThreadBody, &value);
  if (rc != 0) return rc;
  pthread_join(thread, nullptr);
  return value == 42 ? 0 : -1;
}

inline int SocketProbe(long domain, long type, long protocol) {
  long fd = syscall(SYS_socket, domain, type, protocol);
  if (fd < 0) return errno;
  close(static_cast<int>(fd));
  return 0;
}

// Raw clone without a new stack behaves like fork; the child leaves at once.
inline int CloneProbe(unsigned long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) return errno;
  if (pid == 0) _exit(0);
  waitpid(static_cast<pid_t>(pid), nullptr, 0);
  return 0;
}

// fork + execve of /bin/true, waited for: what git, npm and build scripts do all the time.
inline int ForkExecProbe() {
  pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    char* argv[] = {const_cast<char*>("true"), nullptr};
    char* envp[] = {nullptr};
    execve("/bin/true", argv, envp);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

// Syscall numbers that may be missing from older headers.
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

struct DeniedCase {
  const char* name;
  std::function<int()> probe;
};

// What both filters deny (policy/seccomp/shared_rules.h). Each probe uses arguments that, without
// the filter and as root, fail with something other than EPERM (or succeed harmlessly in the
// throwaway child), so EPERM can only come from the filter.
inline std::vector<DeniedCase> SharedDeniedCases() {
  return {
      {"socket(AF_PACKET, SOCK_RAW)", [] { return SocketProbe(AF_PACKET, SOCK_RAW, 0); }},
      {"socket(AF_PACKET, SOCK_DGRAM)", [] { return SocketProbe(AF_PACKET, SOCK_DGRAM, 0); }},
      {"socket(AF_PACKET with junk in the upper 32 bits)",
       [] { return SocketProbe((1L << 32) | AF_PACKET, SOCK_DGRAM, 0); }},
      {"socket(AF_INET, SOCK_PACKET) (an AF_PACKET socket in disguise)",
       [] { return SocketProbe(AF_INET, SOCK_PACKET, htons(ETH_P_ALL)); }},
      {"socket(AF_VSOCK, SOCK_STREAM)", [] { return SocketProbe(AF_VSOCK, SOCK_STREAM, 0); }},
      {"socket(AF_VSOCK, SOCK_SEQPACKET|SOCK_CLOEXEC)",
       [] { return SocketProbe(AF_VSOCK, SOCK_SEQPACKET | SOCK_CLOEXEC, 0); }},
      {"socket(AF_VSOCK with junk in the upper 32 bits)",
       [] { return SocketProbe((7L << 32) | AF_VSOCK, SOCK_STREAM, 0); }},
      {"socket(AF_INET with junk in the upper 32 bits)",
       [] { return SocketProbe((1L << 32) | AF_INET, SOCK_STREAM, 0); }},
      {"socket(AF_UNSPEC)", [] { return SocketProbe(AF_UNSPEC, SOCK_STREAM, 0); }},
      {"socket(AF_ALG)", [] { return SocketProbe(AF_ALG, SOCK_SEQPACKET, 0); }},
      {"socket(AF_XDP)", [] { return SocketProbe(AF_XDP, SOCK_RAW, 0); }},
      {"socket(AF_KEY)", [] { return SocketProbe(AF_KEY, SOCK_RAW, 2); }},
      {"socket(AF_BLUETOOTH)", [] { return SocketProbe(AF_BLUETOOTH, SOCK_STREAM, 0); }},
      {"socket(AF_TIPC)", [] { return SocketProbe(AF_TIPC, SOCK_RDM, 0); }},
      {"socket(AF_AX25) (between AF_INET and AF_INET6)", [] { return SocketProbe(AF_AX25, SOCK_DGRAM, 0); }},
      {"socket(AF_X25) (just below AF_INET6)", [] { return SocketProbe(AF_X25, SOCK_SEQPACKET, 0); }},
      {"socket(AF_ROSE) (just above AF_INET6)", [] { return SocketProbe(AF_ROSE, SOCK_SEQPACKET, 0); }},
      {"socket(15) (just below AF_NETLINK)", [] { return SocketProbe(15, SOCK_RAW, 2); }},
      {"socket(-1)", [] { return SocketProbe(-1, SOCK_STREAM, 0); }},
      {"socketpair(AF_INET)", [] {
         int sv[2];
         return Result(syscall(SYS_socketpair, AF_INET, SOCK_STREAM, 0, sv));
       }},
      {"socketpair(AF_VSOCK)", [] {
         int sv[2];
         return Result(syscall(SYS_socketpair, AF_VSOCK, SOCK_STREAM, 0, sv));
       }},
      {"socket(AF_INET, SOCK_RAW)", [] { return SocketProbe(AF_INET, SOCK_RAW, IPPROTO_ICMP); }},
      {"socket(AF_INET, SOCK_RAW|SOCK_CLOEXEC)",
       [] { return SocketProbe(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP); }},
      {"socket(AF_INET6, SOCK_RAW|SOCK_NONBLOCK|SOCK_CLOEXEC)",
       [] { return SocketProbe(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6); }},
      {"unshare(CLONE_NEWUSER)", [] { return Result(syscall(SYS_unshare, CLONE_NEWUSER)); }},
      {"unshare(CLONE_NEWUSER|CLONE_NEWNS)", [] { return Result(syscall(SYS_unshare, CLONE_NEWUSER | CLONE_NEWNS)); }},
      {"clone(CLONE_NEWUSER)", [] { return CloneProbe(CLONE_NEWUSER); }},
      {"setns(-1, 0)", [] { return Result(syscall(SYS_setns, -1, 0)); }},
      {"bpf", [] { return Result(syscall(SYS_bpf, 0xffff, 0, 0)); }},
      {"keyctl", [] { return Result(syscall(SYS_keyctl, 0xffff, 0, 0, 0, 0)); }},
      {"add_key", [] { return Result(syscall(SYS_add_key, 0, 0, 0, 0, 0)); }},
      {"request_key", [] { return Result(syscall(SYS_request_key, 0, 0, 0, 0)); }},
      {"io_uring_setup", [] { return Result(syscall(SYS_io_uring_setup, 0, 0)); }},
      {"io_uring_enter", [] { return Result(syscall(SYS_io_uring_enter, -1, 0, 0, 0, 0, 0)); }},
      {"io_uring_register", [] { return Result(syscall(SYS_io_uring_register, -1, 0, 0, 0)); }},
      {"perf_event_open", [] { return Result(syscall(SYS_perf_event_open, 0, 0, -1, -1, 0)); }},
      {"userfaultfd", [] { return Result(syscall(SYS_userfaultfd, ~0)); }},
      // Invalid flags: as root without the filter the kernel says EINVAL (or ENOSYS without
      // kexec or module support), and nothing is loaded or unloaded.
      {"kexec_load", [] { return Result(syscall(SYS_kexec_load, 0, 0, 0, ~0UL)); }},
      {"kexec_file_load", [] { return Result(syscall(SYS_kexec_file_load, -1, -1, 0, 0, ~0UL)); }},
      {"init_module", [] { return Result(syscall(SYS_init_module, 0, 0, 0)); }},
      {"finit_module", [] { return Result(syscall(SYS_finit_module, -1, 0, ~0)); }},
      {"delete_module", [] { return Result(syscall(SYS_delete_module, 0, 0)); }},
  };
}

// The mount API, old and new.
inline std::vector<DeniedCase> MountDeniedCases() {
  return {
      {"mount", [] { return Result(syscall(SYS_mount, 0, "/nonexistent-airlock", 0, MS_REMOUNT, 0)); }},
      {"umount2", [] { return Result(syscall(SYS_umount2, "/nonexistent-airlock", 0)); }},
      {"pivot_root", [] { return Result(syscall(SYS_pivot_root, "/nonexistent-a", "/nonexistent-b")); }},
      {"move_mount", [] { return Result(syscall(SYS_move_mount, -1, "", -1, "", 0)); }},
      {"open_tree", [] { return Result(syscall(SYS_open_tree, -1, "/nonexistent-airlock", 0)); }},
      {"fsopen", [] { return Result(syscall(SYS_fsopen, "nonexistent-airlock-fs", 0)); }},
      {"fsmount", [] { return Result(syscall(SYS_fsmount, -1, 0, 0)); }},
      {"fsconfig", [] { return Result(syscall(SYS_fsconfig, -1, 0, 0, 0, 0)); }},
      {"fspick", [] { return Result(syscall(SYS_fspick, -1, "/nonexistent-airlock", 0)); }},
      {"mount_setattr", [] { return Result(syscall(SYS_mount_setattr, -1, "/nonexistent-airlock", 0, 0, 0)); }},
  };
}

// Each case answers EPERM under `bpf`; as root without it, something else.
inline void CheckDenied(const std::string& bpf, const std::vector<DeniedCase>& cases) {
  for (const DeniedCase& c : cases) {
    INFO(c.name);
    if (geteuid() == 0) {
      // As root nothing here fails with EPERM on its own: the filter is what says no.
      int unfiltered = RunProbe("", c.probe);
      CHECK(unfiltered != EPERM);
      CHECK(unfiltered < kKilledBase);
    }
    CHECK(RunProbe(bpf, c.probe) == EPERM);
  }
}

#if defined(__x86_64__)
// A 32-bit (i386 ABI) syscall from a 64-bit process.
inline long Int80(long nr, long arg1) {
  long ret;
  // The compat entry may clear r8-r15; declare them clobbered.
  asm volatile("int $0x80"
               : "=a"(ret)
               : "a"(nr), "b"(arg1)
               : "memory", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15");
  return ret;
}

inline constexpr long kI386Getpid = 20;
inline constexpr long kI386Unshare = 310;
inline constexpr long kX32SyscallBit = 0x40000000;
inline constexpr long kX32Unshare = 272;

// Both other ABIs die of SIGSYS under `bpf` (int 0x80 only where the kernel has ia32 emulation:
// without it the instruction faults before seccomp sees anything, and the check says so).
inline void CheckOtherAbisKilled(const std::string& bpf) {
  int unfiltered = RunProbe("", [] { return Int80(kI386Getpid, 0) == getpid() ? 0 : -1; });
  if (unfiltered == kKilledBase + SIGSEGV) {
    WARN("no ia32 emulation in this kernel: int 0x80 faults before seccomp");
  } else {
    REQUIRE(unfiltered == 0);
    CHECK(RunProbe(bpf, [] { return static_cast<int>(-Int80(kI386Unshare, CLONE_NEWNET)); }) == kKilledBase + SIGSYS);
    CHECK(RunProbe(bpf, [] { return static_cast<int>(-Int80(kI386Getpid, 0)); }) == kKilledBase + SIGSYS);
  }
  // seccomp sees x32 numbers whether or not the kernel implements the ABI.
  CHECK(RunProbe(bpf, [] { return Result(syscall(kX32SyscallBit | kX32Unshare, CLONE_NEWNET)); }) ==
        kKilledBase + SIGSYS);
}
#endif

}  // namespace airlock::seccomp_test
