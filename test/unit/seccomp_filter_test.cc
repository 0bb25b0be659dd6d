// The execution seccomp filter, installed in forked children exactly as airlock-init installs it.
#include <catch2/catch.hpp>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "cmd/airlock-init/filter_install.h"
#include "policy/seccomp/execution_filter.h"

using airlock::policy::BuildExecutionFilterBpf;
using airlock::policy::SeccompOptions;

namespace {

// What a probe reports: 0 on success, the errno otherwise; kKilledBase + signal when the child
// died of a signal before reporting.
constexpr int kKilledBase = 100000;

int Result(long rc) { return rc < 0 ? errno : 0; }

// Forks; the child installs `bpf` (none when empty) the way airlock-init does, runs `probe` and
// reports its result through a pipe.
// A probe that faults (int 0x80 on a kernel without ia32 emulation) must die of its signal, as it
// would in a plain build: AddressSanitizer's handlers would turn the SIGSEGV into exit 1. The raw
// syscall, because the sanitizer intercepts sigaction() itself.
void RestoreDefaultFaultSignals() {
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

int RunProbe(const std::string& bpf, const std::function<int()>& probe) {
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
      if (!airlock::init::FilterFromBytes(bpf, &program, &error) || !airlock::init::InstallFilter(program, &error)) {
        _exit(3);
      }
    }
    int result = probe();
    ssize_t n = write(pipefd[1], &result, sizeof result);
    _exit(n == sizeof result ? 0 : 4);
  }
  close(pipefd[1]);
  int result = -1;
  ssize_t n = read(pipefd[0], &result, sizeof result);
  close(pipefd[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  if (WIFSIGNALED(status)) return kKilledBase + WTERMSIG(status);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(n == sizeof result);
  return result;
}

int SocketProbe(long domain, long type, long protocol) {
  long fd = syscall(SYS_socket, domain, type, protocol);
  if (fd < 0) return errno;
  close(static_cast<int>(fd));
  return 0;
}

// Raw clone without a new stack behaves like fork; the child leaves at once.
int CloneProbe(unsigned long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) return errno;
  if (pid == 0) _exit(0);
  waitpid(static_cast<pid_t>(pid), nullptr, 0);
  return 0;
}

// Syscall numbers that may be missing from older headers.
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

struct DeniedCase {
  const char* name;
  std::function<int()> probe;
};

// Each probe uses arguments that, without the filter and as root, fail with something other than
// EPERM (or succeed harmlessly in the throwaway child), so EPERM can only come from the filter.
std::vector<DeniedCase> DeniedCases() {
  return {
      {"socket(AF_PACKET, SOCK_RAW)", [] { return SocketProbe(AF_PACKET, SOCK_RAW, 0); }},
      {"socket(AF_PACKET, SOCK_DGRAM)", [] { return SocketProbe(AF_PACKET, SOCK_DGRAM, 0); }},
      {"socket(AF_PACKET with junk in the upper 32 bits)",
       [] { return SocketProbe((1L << 32) | AF_PACKET, SOCK_DGRAM, 0); }},
      {"socket(AF_INET, SOCK_PACKET) (an AF_PACKET socket in disguise)",
       [] { return SocketProbe(AF_INET, SOCK_PACKET, htons(ETH_P_ALL)); }},
      {"socket(AF_VSOCK, SOCK_STREAM)", [] { return SocketProbe(AF_VSOCK, SOCK_STREAM, 0); }},
      {"socket(AF_INET, SOCK_RAW)", [] { return SocketProbe(AF_INET, SOCK_RAW, IPPROTO_ICMP); }},
      {"socket(AF_INET, SOCK_RAW|SOCK_CLOEXEC)",
       [] { return SocketProbe(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP); }},
      {"socket(AF_INET6, SOCK_RAW|SOCK_NONBLOCK|SOCK_CLOEXEC)",
       [] { return SocketProbe(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6); }},
      {"unshare(CLONE_NEWNET)", [] { return Result(syscall(SYS_unshare, CLONE_NEWNET)); }},
      {"unshare(CLONE_NEWUSER)", [] { return Result(syscall(SYS_unshare, CLONE_NEWUSER)); }},
      {"unshare(CLONE_NEWNET|CLONE_NEWNS|CLONE_NEWUTS)",
       [] { return Result(syscall(SYS_unshare, CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS)); }},
      {"clone(CLONE_NEWNET)", [] { return CloneProbe(CLONE_NEWNET); }},
      {"clone(CLONE_NEWUSER)", [] { return CloneProbe(CLONE_NEWUSER); }},
      {"setns(-1, CLONE_NEWNET)", [] { return Result(syscall(SYS_setns, -1, CLONE_NEWNET)); }},
      {"setns(-1, 0)", [] { return Result(syscall(SYS_setns, -1, 0)); }},
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
      {"bpf", [] { return Result(syscall(SYS_bpf, 0xffff, 0, 0)); }},
      {"keyctl", [] { return Result(syscall(SYS_keyctl, 0xffff, 0, 0, 0, 0)); }},
      {"add_key", [] { return Result(syscall(SYS_add_key, 0, 0, 0, 0, 0)); }},
      {"request_key", [] { return Result(syscall(SYS_request_key, 0, 0, 0, 0)); }},
      {"io_uring_setup", [] { return Result(syscall(SYS_io_uring_setup, 0, 0)); }},
      {"io_uring_enter", [] { return Result(syscall(SYS_io_uring_enter, -1, 0, 0, 0, 0, 0)); }},
      {"io_uring_register", [] { return Result(syscall(SYS_io_uring_register, -1, 0, 0, 0)); }},
      {"perf_event_open", [] { return Result(syscall(SYS_perf_event_open, 0, 0, -1, -1, 0)); }},
      {"userfaultfd", [] { return Result(syscall(SYS_userfaultfd, ~0)); }},
  };
}

// ptrace on a process we do not trace: ESRCH when allowed.
int PtraceProbe() { return Result(ptrace(PTRACE_GETREGS, 1, nullptr, nullptr)); }
int ProcessVmReadvProbe() {
  char buf[8];
  iovec local{buf, sizeof buf}, remote{buf, sizeof buf};
  return Result(syscall(SYS_process_vm_readv, 0x7ffffff0, &local, 1, &remote, 1, 0));
}

std::string Filter(bool allow_debuggers = false) {
  auto bpf = BuildExecutionFilterBpf(SeccompOptions{.allow_debuggers = allow_debuggers});
  REQUIRE(bpf.ok());
  return *bpf;
}

void* ThreadBody(void* arg) {
  *static_cast<int*>(arg) = 42;
  return nullptr;
}

}  // namespace

TEST_CASE("execution filter exports as raw BPF", "[seccomp]") {
  std::string bpf = Filter();
  CHECK(!bpf.empty());
  CHECK(bpf.size() % sizeof(sock_filter) == 0);
  CHECK(Filter(true) != bpf);
  auto pfc = airlock::policy::BuildExecutionFilterPfc({});
  REQUIRE(pfc.ok());
  CHECK(pfc->find("ERRNO(1)") != std::string::npos);

  std::vector<sock_filter> program;
  std::string error;
  CHECK(airlock::init::FilterFromBytes(bpf, &program, &error));
  CHECK(program.size() * sizeof(sock_filter) == bpf.size());
  CHECK(!airlock::init::FilterFromBytes("", &program, &error));
  CHECK(!airlock::init::FilterFromBytes("12345", &program, &error));
}

TEST_CASE("execution filter denies what the design lists with EPERM", "[seccomp]") {
  const std::string bpf = Filter();
  for (const DeniedCase& c : DeniedCases()) {
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

TEST_CASE("execution filter answers clone3 with ENOSYS", "[seccomp]") {
  auto clone3 = [] { return Result(syscall(SYS_clone3, nullptr, 0)); };
  CHECK(RunProbe("", clone3) == EINVAL);
  CHECK(RunProbe(Filter(), clone3) == ENOSYS);
}

TEST_CASE("execution filter denies ptrace unless debuggers are allowed", "[seccomp]") {
  CHECK(RunProbe(Filter(), PtraceProbe) == EPERM);
  CHECK(RunProbe(Filter(), ProcessVmReadvProbe) == EPERM);
  CHECK(RunProbe(Filter(true), PtraceProbe) == ESRCH);
  CHECK(RunProbe(Filter(true), ProcessVmReadvProbe) == ESRCH);
}

TEST_CASE("execution filter keeps ordinary sockets, processes and threads working", "[seccomp]") {
  const std::string bpf = Filter();
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_INET, SOCK_STREAM, 0); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_UNIX, SOCK_STREAM, 0); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0); }) == 0);
  // Netlink is raw by type but talks only to the kernel about the sealed netns (`ip addr` works).
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6); }) == EPERM);
  CHECK(RunProbe(bpf, [] {
          int sv[2];
          if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) return errno;
          close(sv[0]);
          close(sv[1]);
          return 0;
        }) == 0);
  // Namespaces other than net and user stay available (to whoever holds the capability).
  if (geteuid() == 0) CHECK(RunProbe(bpf, [] { return Result(syscall(SYS_unshare, CLONE_NEWUTS)); }) == 0);
  CHECK(RunProbe(bpf, [] { return CloneProbe(0); }) == 0);
  CHECK(RunProbe(bpf, [] {
          pid_t pid = fork();
          if (pid < 0) return errno;
          if (pid == 0) _exit(7);
          int status = 0;
          waitpid(pid, &status, 0);
          return WIFEXITED(status) && WEXITSTATUS(status) == 7 ? 0 : -1;
        }) == 0);
  // glibc tries clone3 first for threads and falls back to clone on ENOSYS.
  CHECK(RunProbe(bpf, [] {
          int value = 0;
          pthread_t thread;
          int rc = pthread_create(&thread, nullptr, ThreadBody, &value);
          if (rc != 0) return rc;
          pthread_join(thread, nullptr);
          return value == 42 ? 0 : -1;
        }) == 0);
  CHECK(RunProbe(bpf, [] {
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
        }) == 0);
}

#if defined(__x86_64__)
namespace {

// A 32-bit (i386 ABI) syscall from a 64-bit process.
long Int80(long nr, long arg1) {
  long ret;
  // The compat entry may clear r8-r15; declare them clobbered.
  asm volatile("int $0x80"
               : "=a"(ret)
               : "a"(nr), "b"(arg1)
               : "memory", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15");
  return ret;
}

constexpr long kI386Getpid = 20;
constexpr long kI386Unshare = 310;
constexpr long kX32SyscallBit = 0x40000000;
constexpr long kX32Unshare = 272;

}  // namespace

TEST_CASE("execution filter kills 32-bit and x32 syscalls instead of letting them bypass", "[seccomp]") {
  const std::string bpf = Filter();
  int unfiltered = RunProbe("", [] { return Int80(kI386Getpid, 0) == getpid() ? 0 : -1; });
  if (unfiltered == kKilledBase + SIGSEGV) {
    WARN("no ia32 emulation in this kernel: int 0x80 faults before seccomp");
  } else {
    REQUIRE(unfiltered == 0);
    CHECK(RunProbe(bpf, [] { return static_cast<int>(-Int80(kI386Unshare, CLONE_NEWNET)); }) ==
          kKilledBase + SIGSYS);
    CHECK(RunProbe(bpf, [] { return static_cast<int>(-Int80(kI386Getpid, 0)); }) == kKilledBase + SIGSYS);
  }
  // seccomp sees x32 numbers whether or not the kernel implements the ABI.
  CHECK(RunProbe(bpf, [] { return Result(syscall(kX32SyscallBit | kX32Unshare, CLONE_NEWNET)); }) ==
        kKilledBase + SIGSYS);
}
#endif
