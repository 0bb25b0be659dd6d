// The setup-phase seccomp filter (policy/seccomp/setup_filter.h), installed in forked children
// exactly as airlock-init installs it in the setup command's process, and the setup battery
// (cmd/airlock-init/probe_setup_filter.cc) that process reports under it.
#include <catch2/catch.hpp>
#include <grp.h>
#include <linux/netlink.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctime>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <map>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "cmd/airlock-init/probe_result.h"
#include "cmd/airlock-init/probes.h"
#include "policy/seccomp/execution_filter.h"
#include "policy/seccomp/setup_filter.h"
#include "test/unit/seccomp_test_util.h"

using airlock::policy::BuildSetupFilterBpf;
using airlock::policy::SetupFilterOptions;
using namespace airlock::seccomp_test;

namespace {

std::string SetupFilter(bool allow_mount = false) {
  auto bpf = BuildSetupFilterBpf(SetupFilterOptions{.allow_mount = allow_mount});
  REQUIRE(bpf.ok());
  return *bpf;
}

bool HostHasVsock() { return SocketProbe(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0) == 0; }

// The setup battery run in a child under `bpf` (none when empty): {name: {result, detail}}.
std::map<std::string, std::pair<std::string, std::string>> Battery(const std::string& bpf, bool mount_allowed) {
  std::string text = RunProbeText(
      bpf, [&] { return airlock::init::ReportJson(airlock::init::RunSetupFilterProbes(mount_allowed)); });
  INFO(text);
  nlohmann::json report = nlohmann::json::parse(text, nullptr, false);
  REQUIRE(report.is_object());
  std::map<std::string, std::pair<std::string, std::string>> out;
  for (const auto& p : report["probes"]) out[p["name"]] = {p["result"], p["detail"]};
  return out;
}

const char* const kBatteryNames[] = {
    "setup.seccomp.active",         "setup.no_new_privs",     "setup.socket.vsock-denied",
    "setup.socket.families-denied", "setup.socket.packet-denied", "setup.socket.raw-denied",
    "setup.ns.user-denied",         "setup.kernel-denied",    "setup.mount-denied",
    "setup.sockets-allowed"};

}  // namespace

TEST_CASE("setup filter exports as raw BPF, different from the execution filter", "[seccomp][setup]") {
  std::string bpf = SetupFilter();
  CHECK(!bpf.empty());
  CHECK(bpf.size() % sizeof(sock_filter) == 0);
  CHECK(SetupFilter(true) != bpf);
  auto execution = airlock::policy::BuildExecutionFilterBpf({});
  REQUIRE(execution.ok());
  CHECK(*execution != bpf);
  auto pfc = airlock::policy::BuildSetupFilterPfc({});
  REQUIRE(pfc.ok());
  CHECK(pfc->find("ERRNO(1)") != std::string::npos);   // EPERM
  CHECK(pfc->find("ERRNO(38)") != std::string::npos);  // ENOSYS for clone3
}

TEST_CASE("setup filter denies what no dependency install needs with EPERM", "[seccomp][setup]") {
  CheckDenied(SetupFilter(), SharedDeniedCases());
  CheckDenied(SetupFilter(), MountDeniedCases());
  // allow-mount opens the mount API and nothing else.
  CheckDenied(SetupFilter(true), SharedDeniedCases());
  const std::string allow_mount = SetupFilter(true);
  for (const DeniedCase& c : MountDeniedCases()) {
    INFO(c.name);
    CHECK(RunProbe(allow_mount, c.probe) != EPERM);
  }
}

TEST_CASE("setup filter answers clone3 with ENOSYS and kills other ABIs", "[seccomp][setup]") {
  auto clone3 = [] { return Result(syscall(SYS_clone3, nullptr, 0)); };
  CHECK(RunProbe("", clone3) == EINVAL);
  CHECK(RunProbe(SetupFilter(), clone3) == ENOSYS);
#if defined(__x86_64__)
  CheckOtherAbisKilled(SetupFilter());
#endif
}

TEST_CASE("setup filter keeps what apt, npm, pip and git need", "[seccomp][setup]") {
  const std::string bpf = SetupFilter();
  // Sockets: TCP/UDP over IPv4 and IPv6, unix (credential helpers, daemons), netlink route
  // (getaddrinfo's AI_ADDRCONFIG, `ip`) and audit (useradd in apt's postinst scripts aborts without).
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_INET6, SOCK_STREAM, 0); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_INET6, SOCK_DGRAM, 0); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_UNIX, SOCK_STREAM, 0); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT); }) == 0);
  CHECK(RunProbe(bpf, [] { return SocketProbe(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG); }) == 0);
  CHECK(RunProbe(bpf, [] {
          int sv[2];
          if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return errno;
          close(sv[0]);
          close(sv[1]);
          return 0;
        }) == 0);
  // fork/exec (git runs git-remote-https, npm runs node-gyp and lifecycle scripts) and threads
  // (glibc tries clone3 first and falls back to clone on ENOSYS).
  CHECK(RunProbe(bpf, [] { return CloneProbe(0); }) == 0);
  CHECK(RunProbe(bpf, ForkExecProbe) == 0);
  CHECK(RunProbe(bpf, ThreadProbe) == 0);
  // apt and others stack a seccomp filter of their own (no_new_privs is already set).
  CHECK(RunProbe(bpf, [bpf] {
          std::vector<sock_filter> program;
          std::string error;
          if (!airlock::init::FilterFromBytes(bpf, &program, &error)) return -1;
          return airlock::init::InstallFilter(program, &error) ? 0 : -2;
        }) == 0);
  // ptrace stays (strace, debuggers in build scripts): ESRCH on a process we do not trace.
  CHECK(RunProbe(bpf, [] { return Result(ptrace(PTRACE_GETREGS, 1, nullptr, nullptr)); }) == ESRCH);
  if (geteuid() == 0) {
    // apt drops to its _apt user for downloads: setgroups, setresgid, setresuid.
    CHECK(RunProbe(bpf, [] {
            gid_t groups[] = {65534};
            if (setgroups(1, groups) != 0) return errno;
            if (setresgid(65534, 65534, 65534) != 0) return errno;
            return setresuid(65534, 65534, 65534) == 0 ? 0 : errno;
          }) == 0);
    // A network namespace of its own only narrows setup's reach: left to the capabilities.
    CHECK(RunProbe(bpf, [] { return Result(syscall(SYS_unshare, CLONE_NEWNET)); }) == 0);
  }
}

TEST_CASE("setup battery: every promise holds under the setup filter", "[seccomp][setup][probe]") {
  auto probes = Battery(SetupFilter(), false);
  REQUIRE(probes.size() == std::size(kBatteryNames));
  for (const char* name : kBatteryNames) {
    INFO(name << ": " << probes[name].second);
    CHECK(probes[name].first == "held");
  }
  CHECK(probes["setup.seccomp.active"].second == "Seccomp: 2");
  CHECK(probes["setup.socket.vsock-denied"].second.find("socket(AF_VSOCK, SOCK_STREAM): EPERM") != std::string::npos);
  CHECK(probes["setup.ns.user-denied"].second ==
        "unshare(CLONE_NEWUSER): EPERM; clone(CLONE_NEWUSER): EPERM; clone3: ENOSYS");
  CHECK(probes["setup.mount-denied"].second.find("mount: EPERM") != std::string::npos);
  CHECK(probes["setup.kernel-denied"].second.find("bpf: EPERM; perf_event_open: EPERM; keyctl: EPERM") == 0);
  CHECK(probes["setup.sockets-allowed"].second.find("open: AF_INET stream") == 0);

  // allow-mount: the mount probe is information, and the mount API reaches the kernel.
  auto allow_mount = Battery(SetupFilter(true), true);
  CHECK(allow_mount["setup.mount-denied"].first == "info");
  CHECK(allow_mount["setup.kernel-denied"].first == "held");
}

TEST_CASE("setup battery: without the filter each promise is broken, and nothing is changed",
          "[seccomp][setup][probe]") {
  if (geteuid() != 0) {
    WARN("skipped: needs root (the kernel's own answers differ without privileges)");
    return;
  }
  auto probes = Battery("", false);
  for (const char* name : {"setup.seccomp.active", "setup.socket.families-denied", "setup.ns.user-denied",
                           "setup.kernel-denied", "setup.mount-denied"}) {
    INFO(name << ": " << probes[name].second);
    CHECK(probes[name].first == "broken");
  }
  CHECK(probes["setup.socket.vsock-denied"].first == (HostHasVsock() ? "broken" : "held"));
  CHECK(probes["setup.ns.user-denied"].second.find("reached the kernel (EINVAL)") != std::string::npos);
  CHECK(probes["setup.mount-denied"].second.find("mount reached the kernel (EFAULT)") != std::string::npos);
  CHECK(probes["setup.sockets-allowed"].first == "held");
  // The calls are made so that the kernel refuses them: the prober is still in its namespaces.
  CHECK(RunProbeText("", [] {
          auto before = std::filesystem::read_symlink("/proc/self/ns/user");
          airlock::init::RunSetupFilterProbes(false);
          return std::string(std::filesystem::read_symlink("/proc/self/ns/user") == before ? "same" : "moved");
        }) == "same");
}

// Create pays for both filters (the setup one only when there is a setup command): what each costs.
// Run by hand: unit_tests '[.bench]' -s
TEST_CASE("filter build cost", "[.bench][seccomp][setup]") {
  constexpr int kRuns = 1000;
  auto cpu_us = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
  };
  double start = cpu_us();
  for (int i = 0; i < kRuns; ++i) REQUIRE(BuildSetupFilterBpf({}).ok());
  double setup = (cpu_us() - start) / kRuns;
  start = cpu_us();
  for (int i = 0; i < kRuns; ++i) REQUIRE(airlock::policy::BuildExecutionFilterBpf({}).ok());
  double execution = (cpu_us() - start) / kRuns;
  std::printf("BuildSetupFilterBpf: %.1f us CPU per build; BuildExecutionFilterBpf: %.1f us (%d runs each)\n", setup,
              execution, kRuns);
  CHECK(setup > 0);
}
