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
#include "test/unit/seccomp_test_util.h"

using airlock::policy::BuildExecutionFilterBpf;
using airlock::policy::SeccompOptions;

using namespace airlock::seccomp_test;

namespace {

// What only the execution filter denies besides the shared rules and the mount API: a network
// namespace of its own.
std::vector<DeniedCase> DeniedCases() {
  std::vector<DeniedCase> cases = SharedDeniedCases();
  for (DeniedCase& c : MountDeniedCases()) cases.push_back(std::move(c));
  cases.push_back({"unshare(CLONE_NEWNET)", [] { return Result(syscall(SYS_unshare, CLONE_NEWNET)); }});
  cases.push_back({"unshare(CLONE_NEWNET|CLONE_NEWNS|CLONE_NEWUTS)",
                   [] { return Result(syscall(SYS_unshare, CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS)); }});
  cases.push_back({"clone(CLONE_NEWNET)", [] { return CloneProbe(CLONE_NEWNET); }});
  cases.push_back({"setns(-1, CLONE_NEWNET)", [] { return Result(syscall(SYS_setns, -1, CLONE_NEWNET)); }});
  return cases;
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
  CheckDenied(Filter(), DeniedCases());
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
  CHECK(RunProbe(bpf, ThreadProbe) == 0);
  CHECK(RunProbe(bpf, ForkExecProbe) == 0);
}

#if defined(__x86_64__)
TEST_CASE("execution filter kills 32-bit and x32 syscalls instead of letting them bypass", "[seccomp]") {
  CheckOtherAbisKilled(Filter());
}
#endif
