#include "policy/sandbox/cri_pod.h"

#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/status/status.h"
#include "policy/sandbox/uts_hostname.h"

using airlock::sandbox::IsPodSandboxContainer;
using airlock::sandbox::SpecNetnsPath;
using nlohmann::json;

TEST_CASE("a pod's sandbox container is the one the CRI marks so, with its own id as the pod's", "[sandbox][cri]") {
  const std::string type = "io.kubernetes.cri.container-type", pod = "io.kubernetes.cri.sandbox-id";
  CHECK(IsPodSandboxContainer({{type, "sandbox"}, {pod, "p1"}}, "p1"));
  // A pod's other container (the pod's id is not its own), even if it claims the type.
  CHECK_FALSE(IsPodSandboxContainer({{type, "sandbox"}, {pod, "p1"}}, "c1"));
  CHECK_FALSE(IsPodSandboxContainer({{type, "container"}, {pod, "p1"}}, "p1"));
  CHECK_FALSE(IsPodSandboxContainer({{type, "Sandbox"}, {pod, "p1"}}, "p1"));
  CHECK_FALSE(IsPodSandboxContainer({{type, "sandbox"}}, "p1"));
  CHECK_FALSE(IsPodSandboxContainer({{type, "sandbox"}, {pod, ""}}, ""));
  CHECK_FALSE(IsPodSandboxContainer({{pod, "p1"}}, "p1"));
  CHECK_FALSE(IsPodSandboxContainer({}, "p1"));
}

TEST_CASE("the network namespace a spec joins", "[sandbox][cri]") {
  CHECK(SpecNetnsPath(json::parse(R"({"linux": {"namespaces": [{"type": "pid"},
      {"type": "network", "path": "/proc/42/ns/net"}, {"type": "ipc"}]}})")) == "/proc/42/ns/net");
  // A new namespace, the host's (no entry), or no linux section at all: nothing to join.
  CHECK(SpecNetnsPath(json::parse(R"({"linux": {"namespaces": [{"type": "network"}]}})")).empty());
  CHECK(SpecNetnsPath(json::parse(R"({"linux": {"namespaces": [{"type": "network", "path": ""}]}})")).empty());
  CHECK(SpecNetnsPath(json::parse(R"({"linux": {"namespaces": [{"type": "mount"}]}})")).empty());
  CHECK(SpecNetnsPath(json::parse(R"({"process": {}})")).empty());
  // Malformed shapes are not a path either (the spec rewrite reports them).
  CHECK(SpecNetnsPath(json::parse(R"({"linux": {"namespaces": {"type": "network"}}})")).empty());
  CHECK(SpecNetnsPath(json::parse(R"({"linux": {"namespaces": [{"type": "network", "path": 7}]}})")).empty());
  CHECK(SpecNetnsPath(json::parse(R"({"linux": {"namespaces": ["network", {"type": 3}]}})")).empty());
  CHECK(SpecNetnsPath(json::parse(R"({"linux": []})")).empty());
}

TEST_CASE("a /proc/<pid>/ path and a cgroup naming the pod", "[sandbox][cri]") {
  using airlock::sandbox::CgroupNamesPod;
  using airlock::sandbox::ProcPid;
  CHECK(ProcPid("/proc/42/ns/net") == 42);
  CHECK(ProcPid("/proc/42/task/42/ns/net") == 42);
  CHECK(ProcPid("/proc/42//ns/net") == 42);
  CHECK(ProcPid("/proc/self/ns/net") == 0);
  CHECK(ProcPid("/proc//ns/net") == 0);
  CHECK(ProcPid("/proc/-4/ns/net") == 0);
  CHECK(ProcPid("/proc/4 2/ns/net") == 0);
  CHECK(ProcPid("/proc/42") == 0);
  CHECK(ProcPid("/var/run/netns/cni-1234") == 0);
  CHECK(ProcPid("/procx/42/ns/net") == 0);

  const std::string id = "0f3a9c";
  CHECK(CgroupNamesPod("12:memory:/kubepods/besteffort/pod1/0f3a9c\n11:cpu:/x\n", id));
  CHECK(CgroupNamesPod("0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-0f3a9c.scope\n", id));
  CHECK(CgroupNamesPod("0::/airlock-it/0f3a9c/sub\n", id));
  CHECK_FALSE(CgroupNamesPod("12:memory:/kubepods/besteffort/pod1/99aa\n0::/\n", id));
  CHECK_FALSE(CgroupNamesPod("12:0f3a9c:/\n", id));  // a controller's name is not the path
  CHECK_FALSE(CgroupNamesPod("0::/x0f3a9c\n0::/0f3a9cx\n0::/cri-containerd-0f3a9cx.scope\n", id));  // not whole
  CHECK_FALSE(CgroupNamesPod("0::/a/b/c\n", "a/b"));
  CHECK_FALSE(CgroupNamesPod("0::/0f3a9c\n", ""));
  CHECK_FALSE(CgroupNamesPod("", id));
}

TEST_CASE("uplink pod: the netns of a process outside the pod is refused", "[sandbox][cri]") {
  using airlock::sandbox::OpenPodNetns;
  if (geteuid() != 0) {
    WARN("needs root (a child in a netns of its own)");
    return;
  }
  int ready[2], release[2];
  REQUIRE(pipe(ready) == 0);
  REQUIRE(pipe(release) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    char byte = unshare(CLONE_NEWNET) == 0 ? '1' : '0';
    (void)!write(ready[1], &byte, 1);
    (void)!read(release[0], &byte, 1);
    _exit(0);
  }
  char byte = 0;
  REQUIRE(read(ready[0], &byte, 1) == 1);
  REQUIRE(byte == '1');
  std::string path = "/proc/" + std::to_string(child) + "/ns/net";
  json spec = {{"linux", {{"namespaces", json::array({{{"type", "network"}, {"path", path}}})}}}};
  // Without the CRI's pod id there is nothing to check it against: the netns is lent.
  CHECK(OpenPodNetns(spec, {}).ok());
  // With it, the child (in the test's own cgroup) is not the pod's.
  absl::StatusOr<airlock::UniqueFd> refused = OpenPodNetns(spec, {{"io.kubernetes.cri.sandbox-id", "pod-0f3a9c"}});
  CHECK(absl::IsFailedPrecondition(refused.status()));
  CHECK(refused.status().message().find("is not pod pod-0f3a9c's") != std::string::npos);
  // The shim's own netns is never lent.
  json host = {{"linux", {{"namespaces", json::array({{{"type", "network"}, {"path", "/proc/self/ns/net"}}})}}}};
  CHECK(OpenPodNetns(host, {}).status().message().find("is the host's network namespace") != std::string::npos);
  (void)!write(release[1], "x", 1);
  waitpid(child, nullptr, 0);
  for (int fd : {ready[0], ready[1], release[0], release[1]}) close(fd);
}

TEST_CASE("a CRI container's pod sysctls come from the pod's sandbox bundle next to its own", "[sandbox][cri]") {
  char tmpl[] = "/tmp/airlock-pod-sysctls-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  const std::string type = "io.kubernetes.cri.container-type", pod = "io.kubernetes.cri.sandbox-id";
  auto write = [&](const std::string& id, const std::string& config) {
    REQUIRE(mkdir((dir + "/" + id).c_str(), 0700) == 0);
    std::ofstream(dir + "/" + id + "/config.json") << config;
  };
  write("pod1", R"({"linux": {"sysctl": {"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shm_rmid_forced": "1"}}})");
  write("ctr1", "{}");
  write("pod2", R"({"linux": {"sysctl": {"net.ipv4.ping_group_range": 7}}})");
  write("pod3", "not json");
  write("pod4", R"({"linux": {}})");

  auto sysctls = airlock::sandbox::PodSysctls(dir + "/ctr1", {{type, "container"}, {pod, "pod1"}});
  REQUIRE(sysctls.ok());
  CHECK(*sysctls == std::map<std::string, std::string>{{"net.ipv4.ip_unprivileged_port_start", "80"},
                                                        {"kernel.shm_rmid_forced", "1"}});
  // No pod, the sandbox container itself, a pod without sysctls: none.
  CHECK(airlock::sandbox::PodSysctls(dir + "/ctr1", {})->empty());
  CHECK(airlock::sandbox::PodSysctls(dir + "/pod1", {{type, "sandbox"}, {pod, "pod1"}})->empty());
  CHECK(airlock::sandbox::PodSysctls(dir + "/ctr1", {{type, "container"}, {pod, "pod4"}})->empty());
  // Broken or missing: an error naming the place, never a silent nothing.
  CHECK_FALSE(airlock::sandbox::PodSysctls(dir + "/ctr1", {{type, "container"}, {pod, "pod2"}}).ok());
  CHECK_FALSE(airlock::sandbox::PodSysctls(dir + "/ctr1", {{type, "container"}, {pod, "pod3"}}).ok());
  CHECK(absl::IsNotFound(airlock::sandbox::PodSysctls(dir + "/ctr1", {{type, "container"}, {pod, "gone"}}).status()));
  // A pod id that would leave the namespace's directory.
  for (const char* bad : {"../pod1", "a/b", "..", ""}) {
    CHECK(absl::IsInvalidArgument(airlock::sandbox::PodSysctls(dir + "/ctr1", {{type, "container"}, {pod, bad}}).status()));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("the hostname of a UTS namespace the shim is not in", "[sandbox][cri]") {
  if (geteuid() != 0) {
    WARN("skipped: needs root (a UTS namespace of its own)");
    return;
  }
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(ready[0]);
    if (unshare(CLONE_NEWUTS) != 0 || sethostname("airlock-pod-uts", 15) != 0) _exit(1);
    if (write(ready[1], "x", 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c;
  REQUIRE(read(ready[0], &c, 1) == 1);
  close(ready[0]);
  auto name = airlock::sandbox::HostnameOfUtsNamespace("/proc/" + std::to_string(child) + "/ns/uts");
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  REQUIRE(name.ok());
  CHECK(*name == "airlock-pod-uts");
  char own[256] = {};
  gethostname(own, sizeof own - 1);
  CHECK(std::string(own) != "airlock-pod-uts");  // the shim's own namespace untouched
  CHECK_FALSE(airlock::sandbox::HostnameOfUtsNamespace("/proc/0/ns/uts").ok());
}
