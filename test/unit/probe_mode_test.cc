// `airlock-init probe`: its parts (options, verdicts, report) and the real static binary run on the
// host in a forked child that first makes itself look sealed (own netns with only lo, a read-only
// "rootfs", the small capability set, the execution seccomp filter) or deliberately unsealed
// (a private netns with a veth, everything allowed). Nothing here touches the host's own network:
// both variants live in network and mount namespaces the child creates, which die with it.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <map>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cmd/airlock-init/capability_names.h"
#include "cmd/airlock-init/filter_install.h"
#include "cmd/airlock-init/probe_options.h"
#include "cmd/airlock-init/probe_result.h"
#include "cmd/airlock-init/probe_util.h"
#include "cmd/airlock-init/probes.h"
#include "policy/seccomp/execution_filter.h"

namespace {

using airlock::init::Verdict;

const std::string kInitBinary = std::string(AIRLOCK_BINARY_DIR) + "/bin/airlock-init";
constexpr int kTimeoutMs = 60000;
constexpr char kSecretName[] = "AIRLOCK_PROBE_TEST_SECRET";
constexpr char kSecretValue[] = "hunter2-value-never-printed";

// The policy's small default capability set.
const std::vector<std::string> kDefaultCaps = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER",     "CAP_FSETID",      "CAP_KILL",        "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_MKNOD"};

const std::vector<std::string> kProbeNames = {
    "network.peer-unreachable", "network.only-loopback", "socket.packet-denied", "socket.raw-denied",
    "socket.vsock-denied",      "socket.families-denied", "ns.net-denied",       "ns.user-denied",
    "mount-denied",             "kernel-denied",          "rootfs.readonly",     "workspace.writable",
    "caps.bounded",             "secrets.absent",         "seccomp.active",      "no_new_privs",
    "stdio.no-host-fifo"};

// Whether this kernel has vsock: without it socket.vsock-denied holds even unfiltered.
bool HostHasVsock() {
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class TempDir {
 public:
  explicit TempDir(const char* prefix) {
    std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

uint64_t Mask(const std::vector<std::string>& names) {
  uint64_t mask = 0;
  for (const std::string& n : names) mask |= uint64_t{1} << airlock::init::CapabilityNumber(n);
  return mask;
}

int LastCap() {
  std::ifstream file("/proc/sys/kernel/cap_last_cap");
  int last = 40;
  file >> last;
  return last;
}

// Async-signal-safe failure report from the forked child.
[[noreturn]] void ChildFail(const char* step) {
  char line[256];
  int n = snprintf(line, sizeof line, "child setup failed: %s: %s\n", step, strerrorname_np(errno));
  if (n > 0) {
    ssize_t ignored = write(STDOUT_FILENO, line, static_cast<size_t>(n));
    (void)ignored;
  }
  _exit(120);
}

enum class Look { kSealed, kUnsealed };

struct Outcome {
  int exit_code = -1;
  std::string output;
};

// Runs `airlock-init probe ARGS` in a child prepared to look `look`. Everything the child needs is
// built here, before fork(): the child only makes system calls and execs.
Outcome RunProbe(Look look, const std::vector<std::string>& probe_args, const std::string& rootfs_dir,
                 std::vector<std::string> env) {
  std::vector<std::string> args = {kInitBinary, "probe"};
  args.insert(args.end(), probe_args.begin(), probe_args.end());
  if (look == Look::kUnsealed) {
    // A veth pair inside the child's own netns gives it an interface and a route; the shell then
    // execs the probe in that netns.
    const std::string script =
        "ip link add airlock-p0 type veth peer name airlock-p1 && "
        "ip addr add 10.213.0.1/30 dev airlock-p0 && ip link set airlock-p0 up && ip link set airlock-p1 up && "
        "ip link set lo up && exec \"$0\" \"$@\"";
    args.insert(args.begin(), {"/bin/sh", "-c", script});
  }
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  std::vector<sock_filter> filter;
  if (look == Look::kSealed) {
    auto bpf = airlock::policy::BuildExecutionFilterBpf({});
    REQUIRE(bpf.ok());
    std::string error;
    REQUIRE(airlock::init::FilterFromBytes(*bpf, &filter, &error));
  }
  const uint64_t allowed = Mask(kDefaultCaps);
  const int last_cap = LastCap();

  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, STDIN_FILENO);
    if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) ChildFail("unshare");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ChildFail("make / private");
    // sysfs shows the netns it was mounted in: a fresh one shows the child's, as in a container.
    if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, nullptr) != 0) {
      ChildFail("mount sysfs");
    }
    if (look == Look::kSealed) {
      if (mount(rootfs_dir.c_str(), rootfs_dir.c_str(), nullptr, MS_BIND, nullptr) != 0) ChildFail("bind rootfs");
      if (mount(nullptr, rootfs_dir.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
        ChildFail("remount rootfs read-only");
      }
      for (int cap = 0; cap <= last_cap; ++cap) {
        if ((allowed & (uint64_t{1} << cap)) == 0 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) ChildFail("capbset");
      }
      prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
      __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
      __user_cap_data_struct data[2] = {};
      data[0].effective = data[0].permitted = static_cast<uint32_t>(allowed);
      data[1].effective = data[1].permitted = static_cast<uint32_t>(allowed >> 32);
      if (syscall(SYS_capset, &header, data) != 0) ChildFail("capset");
      std::string ignored;
      if (!airlock::init::InstallFilter(filter, &ignored)) ChildFail("seccomp");
    }
    execve(argv[0], argv.data(), envp.data());
    ChildFail("execve");
  }
  close(out[1]);

  Outcome outcome;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 200) == 0) continue;
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    outcome.output.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int status = 0;
  pid_t reaped = 0;
  for (int i = 0; i < 500 && reaped == 0; ++i) {  // EOF comes a moment before the child is a zombie
    reaped = waitpid(pid, &status, WNOHANG);
    if (reaped == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (reaped != pid) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL("the probe did not finish: " << outcome.output);
  }
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return outcome;
}

std::vector<std::string> CommonArgs(const std::string& workspace, const std::string& rootfs_dir,
                                    const std::vector<std::string>& peers) {
  std::vector<std::string> args = {"--json", "--workspace", workspace, "--secret", kSecretName,
                                   "--rootfs-probe-dir", rootfs_dir};
  for (const std::string& p : peers) args.insert(args.end(), {"--peer", p});
  for (const std::string& c : kDefaultCaps) args.insert(args.end(), {"--cap", c});
  return args;
}

// name -> {result, detail} from the JSON report; checks the report's shape on the way.
std::map<std::string, std::pair<std::string, std::string>> ParseReport(const std::string& output) {
  INFO(output);
  nlohmann::json report = nlohmann::json::parse(output, nullptr, false);
  REQUIRE(report.is_object());
  REQUIRE(report["probes"].is_array());
  std::map<std::string, std::pair<std::string, std::string>> probes;
  std::vector<std::string> order;
  for (const auto& p : report["probes"]) {
    order.push_back(p["name"].get<std::string>());
    probes[p["name"]] = {p["result"].get<std::string>(), p["detail"].get<std::string>()};
  }
  CHECK(order == kProbeNames);
  return probes;
}

bool NeedsRoot() {
  if (geteuid() != 0) {
    WARN("skipped: needs root (namespaces, mounts)");
    return false;
  }
  return true;
}

bool NeedsRootAndIp() {
  if (!NeedsRoot()) return false;
  if (access("/usr/sbin/ip", X_OK) != 0 && access("/sbin/ip", X_OK) != 0 && access("/usr/bin/ip", X_OK) != 0) {
    WARN("skipped: needs iproute2's ip");
    return false;
  }
  return true;
}

}  // namespace

TEST_CASE("probe options parse peers, caps, phase and reject mistakes", "[probe]") {
  using airlock::init::ParseProbeOptions;
  airlock::init::ProbeOptions options;
  std::string error;
  REQUIRE(ParseProbeOptions({"--json", "--workspace", "/workspace", "--secret", "NPM_TOKEN", "--secret=GH",
                             "--peer", "198.18.0.1:8080", "--peer=[fd00::1]:443", "--cap", "CAP_CHOWN", "--cap",
                             "kill", "--expect-phase", "setup"},
                            &options, &error));
  CHECK(options.json);
  CHECK(options.workspace == "/workspace");
  CHECK(options.secrets == std::vector<std::string>{"NPM_TOKEN", "GH"});
  REQUIRE(options.peers.size() == 2);
  CHECK(options.peers[0].address.ss_family == AF_INET);
  CHECK(ntohs(reinterpret_cast<sockaddr_in*>(&options.peers[0].address)->sin_port) == 8080);
  CHECK(options.peers[1].address.ss_family == AF_INET6);
  CHECK(options.peers[1].text == "[fd00::1]:443");
  CHECK(options.allowed_caps == ((uint64_t{1} << 0) | (uint64_t{1} << 5)));
  CHECK(options.phase == airlock::init::ExpectedPhase::kSetup);
  CHECK(options.rootfs_dir == "/");

  for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
           {"--peer", "example.com:80"}, {"--peer", "10.0.0.1"}, {"--peer", "10.0.0.1:0"}, {"--peer", "[::1]80"},
           {"--peer", "10.0.0.1:99999"}, {"--cap", "CAP_NOPE"}, {"--expect-phase", "later"}, {"--workspace", "rel"},
           {"--bogus", "x"}, {"--workspace"}, {"stray"}, {"--secret", "A=B"}}) {
    INFO(bad[0]);
    CHECK_FALSE(ParseProbeOptions(bad, &options, &error));
    CHECK(!error.empty());
  }
}

TEST_CASE("capability names and /proc status parsing", "[probe]") {
  using namespace airlock::init;
  CHECK(CapabilityNumber("CAP_SYS_ADMIN") == 21);
  CHECK(CapabilityNumber("sys_admin") == 21);
  CHECK(CapabilityNumber("CAP_CHECKPOINT_RESTORE") == 40);
  CHECK(CapabilityNumber("CAP_BOGUS") == -1);
  CHECK(CapabilityName(13) == "CAP_NET_RAW");
  CHECK(CapabilityName(55) == "CAP_55");
  CHECK(CapabilityList(0x3) == "CAP_CHOWN, CAP_DAC_OVERRIDE");

  const std::string status =
      "Name:\tprobe\nNoNewPrivs:\t1\nSeccomp:\t2\nCapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\n"
      "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n";
  std::string value;
  REQUIRE(StatusField(status, "Seccomp", &value));
  CHECK(value == "2");
  CHECK_FALSE(StatusField(status, "Missing", &value));

  // 0xa80425fb is the classic Docker default set.
  uint64_t docker = 0xa80425fb;
  CHECK(CapsBoundedVerdict(status, docker).verdict == Verdict::kHeld);
  ProbeResult narrower = CapsBoundedVerdict(status, docker & ~(uint64_t{1} << 13));
  CHECK(narrower.verdict == Verdict::kBroken);
  CHECK(narrower.detail == "CapEff, CapPrm, CapBnd beyond the policy: CAP_NET_RAW");
  CHECK(CapsBoundedVerdict("Name:\tx\n", docker).verdict == Verdict::kError);
}

TEST_CASE("probe report: JSON shape, escaping and exit semantics", "[probe]") {
  using namespace airlock::init;
  std::vector<ProbeResult> results = {{"a", Verdict::kHeld, "quote \" backslash \\ tab \t"},
                                      {"b", Verdict::kInfo, "setup: open: \x01 bad \xff utf8 \xc3\xa9"}};
  CHECK(AllHeld(results));
  nlohmann::json report = nlohmann::json::parse(ReportJson(results));
  CHECK(report["held"] == true);
  CHECK(report["probes"][0]["detail"] == "quote \" backslash \\ tab \t");
  CHECK(report["probes"][1]["result"] == "info");
  CHECK(report["probes"][1]["detail"] == "setup: open: \x01 bad \xef\xbf\xbd utf8 \xc3\xa9");
  results.push_back({"c", Verdict::kBroken, "oops"});
  CHECK_FALSE(AllHeld(results));
  CHECK(nlohmann::json::parse(ReportJson(results))["held"] == false);
  std::string table = ReportTable(results);
  CHECK(Contains(table, "\nc      BROKEN  oops\n"));
  CHECK(Contains(table, "airlock NOT verified: 1 broken, 0 error\n"));
  CHECK(AllHeld({}) == true);
  CHECK_FALSE(AllHeld({{"x", Verdict::kError, ""}}));
}

TEST_CASE("probe: workspace and rootfs probes on plain directories", "[probe]") {
  using namespace airlock::init;
  TempDir dir("airlock-probe-fs");
  CHECK(ProbeWorkspaceWritable(dir.path()).verdict == Verdict::kHeld);
  CHECK(ProbeWorkspaceWritable(dir.path() + "/missing").verdict == Verdict::kBroken);
  CHECK(ProbeWorkspaceWritable("").verdict == Verdict::kHeld);
  ProbeResult writable_root = ProbeRootfsReadonly(dir.path());
  CHECK(writable_root.verdict == Verdict::kBroken);
  // Nothing is left behind.
  CHECK(std::filesystem::is_empty(dir.path()));
  CHECK(ProbeSecretsAbsent({}).verdict == Verdict::kHeld);
  CHECK(ProbeSecretsAbsent({"PATH"}).verdict == Verdict::kBroken);
  CHECK(Contains(ProbeSecretsAbsent({"PATH"}).detail, "PATH in the own environment"));
}

TEST_CASE("probe: stdio fds that are host fifos or files are told apart from pipes and devices", "[probe]") {
  using airlock::init::StdioFdProblem;
  struct stat fifo {};
  fifo.st_mode = S_IFIFO | 0600;
  fifo.st_dev = 0x801;
  fifo.st_ino = 42;
  struct stat other = fifo;
  other.st_ino = 43;
  struct stat devnull {};
  devnull.st_mode = S_IFCHR | 0666;
  devnull.st_rdev = makedev(1, 3);
  devnull.st_dev = 5;
  devnull.st_ino = 6;
  struct stat devnull_here = devnull;  // another node (the sandbox's /dev), the same device
  devnull_here.st_dev = 0x2f;
  devnull_here.st_ino = 7;
  struct stat zero = devnull_here;
  zero.st_rdev = makedev(1, 5);

  CHECK(StdioFdProblem("pipe:[123]", fifo, nullptr).empty());
  CHECK(StdioFdProblem("socket:[9]", fifo, nullptr).empty());
  CHECK(StdioFdProblem("anon_inode:[eventfd]", fifo, nullptr).empty());
  CHECK(StdioFdProblem("/dev/null", devnull, &devnull_here).empty());
  CHECK(StdioFdProblem("/workspace/fifo", fifo, &fifo).empty());  // the sandbox's own fifo
  CHECK(StdioFdProblem("/run/containerd/fifo/1/c-stdout", fifo, nullptr) ==
        "/run/containerd/fifo/1/c-stdout: a fifo outside the sandbox");
  CHECK(Contains(StdioFdProblem("/tmp/x-stdout", fifo, &other), "a fifo outside the sandbox (that path here is another inode)"));
  CHECK(Contains(StdioFdProblem("/dev/null", devnull, &zero), "a character device outside the sandbox"));
  struct stat file = fifo;
  file.st_mode = S_IFREG | 0640;
  CHECK(StdioFdProblem("/var/log/c.log", file, nullptr) == "/var/log/c.log: a file outside the sandbox");
}

TEST_CASE("probe: a sealed-looking process holds every promise", "[probe][netns]") {
  if (!NeedsRoot()) return;
  TempDir rootfs("airlock-probe-root");
  TempDir workspace("airlock-probe-ws");
  // Only these peers are ever contacted, and in the child's netns there is no route to them.
  auto args = CommonArgs(workspace.path(), rootfs.path(), {"198.18.0.1:80", "[fd00:a1::1]:443"});
  Outcome outcome = RunProbe(Look::kSealed, args, rootfs.path(), {"PATH=/usr/bin:/bin", "KEEP=1"});
  INFO(outcome.output);
  auto probes = ParseReport(outcome.output);
  for (const std::string& name : kProbeNames) {
    INFO(name << ": " << probes[name].second);
    CHECK(probes[name].first == "held");
  }
  CHECK(outcome.exit_code == 0);
  CHECK(Contains(probes["network.peer-unreachable"].second, "198.18.0.1:80: ENETUNREACH (no route)"));
  CHECK(Contains(probes["network.only-loopback"].second, "only lo (/sys/class/net, /proc/net/dev"));
  CHECK(Contains(probes["rootfs.readonly"].second, "EROFS"));
  CHECK(Contains(probes["ns.net-denied"].second, "clone3(CLONE_NEWNET): ENOSYS"));
  CHECK(Contains(probes["mount-denied"].second, "mount(tmpfs): EPERM"));
  CHECK(probes["seccomp.active"].second == "Seccomp: 2");
  // The probes leave nothing behind in the workspace or the rootfs.
  CHECK(std::filesystem::is_empty(workspace.path()));
  CHECK(std::filesystem::is_empty(rootfs.path()));
}

TEST_CASE("probe: an unsealed process is reported broken, promise by promise", "[probe][netns]") {
  if (!NeedsRootAndIp()) return;
  TempDir rootfs("airlock-probe-root");
  TempDir workspace("airlock-probe-ws");
  // 10.213.0.1 is the child's own veth address inside its private netns: a route exists there.
  auto args = CommonArgs(workspace.path(), rootfs.path(), {"10.213.0.1:9"});
  std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                                  std::string(kSecretName) + "=" + kSecretValue};

  SECTION("sealed expectations") {
    Outcome outcome = RunProbe(Look::kUnsealed, args, rootfs.path(), env);
    INFO(outcome.output);
    CHECK(outcome.exit_code == 1);
    CHECK(!Contains(outcome.output, kSecretValue));
    auto probes = ParseReport(outcome.output);
    for (const std::string& name : kProbeNames) {
      INFO(name << ": " << probes[name].second);
      // The stdio probe holds on the host too: every path it sees is in its own view.
      const bool holds_anyway = name == "workspace.writable" || name == "stdio.no-host-fifo" ||
                                (name == "socket.vsock-denied" && !HostHasVsock());
      CHECK(probes[name].first == (holds_anyway ? "held" : "broken"));
    }
    CHECK(Contains(probes["network.peer-unreachable"].second, "10.213.0.1:9: refused: the peer answered"));
    CHECK(Contains(probes["network.peer-unreachable"].second, "10.213.0.0/30 dev airlock-p0"));
    CHECK(Contains(probes["network.only-loopback"].second, "airlock-p0, airlock-p1"));
    CHECK(Contains(probes["caps.bounded"].second, "CAP_SYS_ADMIN"));
    CHECK(probes["secrets.absent"].second == std::string(kSecretName) + " in the own environment");
    CHECK(Contains(probes["ns.user-denied"].second, "unshare(CLONE_NEWUSER) succeeded"));
    // What the probes did was undone: no file, no directory, no mount left.
    CHECK(std::filesystem::is_empty(workspace.path()));
    CHECK(std::filesystem::is_empty(rootfs.path()));
  }
  SECTION("setup phase: the open network is information, not a verdict") {
    args.insert(args.end(), {"--expect-phase", "setup"});
    Outcome outcome = RunProbe(Look::kUnsealed, args, rootfs.path(), env);
    INFO(outcome.output);
    auto probes = ParseReport(outcome.output);
    CHECK(probes["network.peer-unreachable"].first == "info");
    CHECK(probes["network.peer-unreachable"].second.rfind("setup: open: ", 0) == 0);
    CHECK(probes["network.only-loopback"].first == "info");
    CHECK(probes["seccomp.active"].first == "broken");
    CHECK(outcome.exit_code == 1);
  }
  SECTION("table for a person") {
    args.erase(args.begin());  // no --json
    Outcome outcome = RunProbe(Look::kUnsealed, args, rootfs.path(), env);
    INFO(outcome.output);
    CHECK(outcome.exit_code == 1);
    CHECK(Contains(outcome.output, "seccomp.active            BROKEN  Seccomp: 0"));
    CHECK(Contains(outcome.output, "workspace.writable        held    created, wrote and removed"));
    const int broken = HostHasVsock() ? 15 : 14;
    CHECK(Contains(outcome.output, "airlock NOT verified: " + std::to_string(broken) + " broken, 0 error\n"));
  }
}

TEST_CASE("probe: bad command lines exit 2 with the usage", "[probe]") {
  Outcome outcome;
  FILE* pipe = popen((kInitBinary + " probe --peer nowhere 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[1024];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) outcome.output.append(buf, n);
  int status = pclose(pipe);
  CHECK(WEXITSTATUS(status) == 2);
  CHECK(Contains(outcome.output, "airlock-init probe: bad --peer \"nowhere\""));
  CHECK(Contains(outcome.output, "usage: airlock-init probe"));
}
