#include "policy/sandbox/cri_pod.h"

#include <catch2/catch.hpp>

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
