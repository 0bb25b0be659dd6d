#include "policy/sandbox/pod_netns_record.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io_test_util.h"

using airlock::UniqueFd;
using airlock::io::testing::TempDir;
using namespace airlock::sandbox;

namespace {

void WriteText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

}  // namespace

TEST_CASE("pod netns record: written, reopened only while it names the same netns", "[sandbox][cri]") {
  TempDir dir;
  std::string record = PodNetnsRecordPath(dir.path(), "k8s.io", "c1");
  CHECK(record == dir / "pod-netns/k8s.io/c1");
  CHECK(absl::IsNotFound(ReopenPodNetns(record).status()));

  UniqueFd net(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  REQUIRE(net);
  REQUIRE(WritePodNetnsRecord(record, "/proc/self/ns/net", net.get(), "").ok());  // makes the directory
  absl::StatusOr<UniqueFd> again = ReopenPodNetns(record);
  REQUIRE(again.ok());
  struct stat a, b;
  REQUIRE(fstat(net.get(), &a) == 0);
  REQUIRE(fstat(again->get(), &b) == 0);
  CHECK((a.st_dev == b.st_dev && a.st_ino == b.st_ino));

  // The path now leads to another namespace (here: another type): not ours to touch.
  UniqueFd mnt(open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
  REQUIRE(mnt);
  REQUIRE(WritePodNetnsRecord(record, "/proc/self/ns/net", mnt.get(), "").ok());
  CHECK(absl::IsNotFound(ReopenPodNetns(record).status()));
  // Gone, or unreadable.
  WriteText(record, "/no/such/netns\n1 2\n");
  CHECK(absl::IsNotFound(ReopenPodNetns(record).status()));
  WriteText(record, "relative/path\n1 2\n");
  CHECK(absl::IsDataLoss(ReopenPodNetns(record).status()));
  WriteText(record, "/proc/self/ns/net\n");
  CHECK(absl::IsDataLoss(ReopenPodNetns(record).status()));

  RemovePodNetnsRecord(record);
  CHECK_FALSE(std::filesystem::exists(record));
  CHECK_FALSE(std::filesystem::exists(dir / "pod-netns/k8s.io"));  // with the namespace's last record
}

TEST_CASE("pod netns record: a /proc/<pid>/ path holds only while the process is the pod's", "[sandbox][cri]") {
  TempDir dir;
  std::string record = PodNetnsRecordPath(dir.path(), "k8s.io", "c1");
  std::string path = "/proc/" + std::to_string(getpid()) + "/ns/net";
  UniqueFd net(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(net);
  // A pid whose process is not in the pod's cgroup (here: a pod id nowhere in ours), or no pod id.
  REQUIRE(WritePodNetnsRecord(record, path, net.get(), "pod-0f3a9c-not-ours").ok());
  CHECK(absl::IsNotFound(ReopenPodNetns(record).status()));
  REQUIRE(WritePodNetnsRecord(record, path, net.get(), "").ok());
  CHECK(absl::IsNotFound(ReopenPodNetns(record).status()));
  // A component of our own cgroup path stands for the pod: then it holds.
  std::ifstream in("/proc/self/cgroup");
  std::string line, component;
  while (component.empty() && std::getline(in, line)) {
    std::string cgroup_path = line.substr(line.find(':', line.find(':') + 1) + 1);
    for (const auto& part : std::filesystem::path(cgroup_path)) {
      if (part.string() != "/" && !part.string().empty()) component = part.string();
    }
  }
  if (component.empty()) {
    WARN("the test runs in the root cgroup: no component to stand for a pod");
    return;
  }
  REQUIRE(WritePodNetnsRecord(record, path, net.get(), component).ok());
  CHECK(ReopenPodNetns(record).ok());
}

TEST_CASE("pod netns record: the pinned path from the pod's sandbox bundle next door", "[sandbox][cri]") {
  TempDir dir;
  std::string agent_bundle = dir / "k8s.io/agent1";
  std::filesystem::create_directories(agent_bundle);
  auto sandbox_spec = [&](const std::string& netns_path) {
    nlohmann::json spec = {
        {"linux", {{"namespaces", nlohmann::json::array({{{"type", "network"}, {"path", netns_path}}})}}}};
    WriteText(dir / "k8s.io/pod1/config.json", spec.dump());
  };
  UniqueFd net(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  REQUIRE(net);
  std::map<std::string, std::string> annotations = {{"io.kubernetes.cri.sandbox-id", "pod1"}};

  sandbox_spec("/proc/self/ns/net");
  CHECK(PinnedPodNetnsPath(agent_bundle, annotations, net.get()) == "/proc/self/ns/net");
  // A process's path pins nothing (the pause container's own /proc path dies with it).
  sandbox_spec("/proc/" + std::to_string(getpid()) + "/ns/net");
  CHECK(PinnedPodNetnsPath(agent_bundle, annotations, net.get()).empty());
  sandbox_spec("/proc/self/ns/net");
  // Another netns than the one opened, no such file, no pod id, a pod id that is a path: nothing.
  UniqueFd mnt(open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
  CHECK(PinnedPodNetnsPath(agent_bundle, annotations, mnt.get()).empty());
  sandbox_spec("/no/such/netns");
  CHECK(PinnedPodNetnsPath(agent_bundle, annotations, net.get()).empty());
  sandbox_spec("/proc/self/ns/net");
  CHECK(PinnedPodNetnsPath(agent_bundle, {}, net.get()).empty());
  CHECK(PinnedPodNetnsPath(agent_bundle, {{"io.kubernetes.cri.sandbox-id", "../k8s.io/pod1"}}, net.get()).empty());
  CHECK(PinnedPodNetnsPath(agent_bundle, {{"io.kubernetes.cri.sandbox-id", ".."}}, net.get()).empty());
  WriteText(dir / "k8s.io/pod1/config.json", "not json");
  CHECK(PinnedPodNetnsPath(agent_bundle, annotations, net.get()).empty());
}
