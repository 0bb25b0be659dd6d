// The setup battery as the shim keeps it (policy/sandbox/setup_report.h), and how the policy's
// setup filter mode reaches airlock-init (its config, policy/sandbox/spec_rewrite.h).
#include "policy/sandbox/setup_report.h"

#include <catch2/catch.hpp>

#include <string>

#include "policy/parse.h"
#include "policy/sandbox/spec_rewrite.h"

using airlock::sandbox::ParseSetupFilterReport;
using airlock::sandbox::SetupProbesForVerify;
using nlohmann::json;

TEST_CASE("setup report: the helper's JSON becomes verify's setup probes", "[setup][report]") {
  absl::StatusOr<json> probes = ParseSetupFilterReport(
      R"({"probes":[{"name":"setup.socket.vsock-denied","result":"held","detail":"socket(AF_VSOCK, SOCK_STREAM): EPERM"},)"
      R"({"name":"setup.mount-denied","result":"info","detail":"allowed by the policy"}],"held":true})");
  REQUIRE(probes.ok());
  REQUIRE(probes->size() == 2);
  CHECK((*probes)[0] == json{{"name", "setup.socket.vsock-denied"}, {"result", "held"},
                             {"detail", "socket(AF_VSOCK, SOCK_STREAM): EPERM"}});
  CHECK(SetupProbesForVerify(*probes, true, true) == *probes);
}

TEST_CASE("setup report: anything but a setup battery is refused", "[setup][report]") {
  for (const char* bad : {
           "", "not json", "[]", R"({"probes": []})", R"({"probes": {}})",
           R"({"probes":[{"name":"seccomp.active","result":"held","detail":""}]})",  // not a setup probe
           R"({"probes":[{"name":"setup.x","result":"fine","detail":""}]})",         // unknown word
           R"({"probes":[{"name":"setup.x","result":"held"}]})",                     // no detail
           R"({"probes":[{"name":"setup.x","result":"held","detail":7}]})",
       }) {
    INFO(bad);
    CHECK_FALSE(ParseSetupFilterReport(bad).ok());
  }
  json many = json::array();
  for (int i = 0; i < 65; ++i) many.push_back({{"name", "setup.x"}, {"result", "held"}, {"detail", ""}});
  CHECK_FALSE(ParseSetupFilterReport(json{{"probes", many}}.dump()).ok());
  CHECK_FALSE(ParseSetupFilterReport(
                  json{{"probes", {{{"name", "setup.x"}, {"result", "held"}, {"detail", std::string(5000, 'x')}}}}}.dump())
                  .ok());
}

TEST_CASE("setup report: without one, verify says why", "[setup][report]") {
  json none = SetupProbesForVerify(nullptr, /*has_setup_command=*/false, /*setup_ran=*/false);
  REQUIRE(none.size() == 1);
  CHECK(none[0]["name"] == "setup.filter");
  CHECK(none[0]["result"] == "info");
  CHECK(SetupProbesForVerify(nullptr, true, false)[0]["result"] == "info");
  json missing = SetupProbesForVerify(nullptr, true, true);
  CHECK(missing[0]["result"] == "error");
  CHECK(missing[0]["detail"].get<std::string>().find("sent no report") != std::string::npos);
}

TEST_CASE("spec rewrite: the setup filter's mode reaches airlock-init only when not strict", "[setup][spec_rewrite]") {
  const json spec = {{"ociVersion", "1.0.2"},
                     {"process", {{"args", {"sh"}}, {"cwd", "/"}, {"env", {"PATH=/bin"}}}},
                     {"root", {{"path", "rootfs"}}},
                     {"linux", {{"namespaces", json::array()}}}};
  auto rewrite = [&](const std::string& yaml) {
    absl::StatusOr<airlock::policy::Policy> policy = airlock::policy::ParsePolicy(yaml, "p.yaml");
    REQUIRE(policy.ok());
    airlock::policy::RewriteInput in;
    in.policy = &*policy;
    in.repo_source = "/run/airlock/workspaces/x";
    in.netns_path = "/run/airlock/netns/x";
    in.init_binary = "/usr/libexec/airlock/airlock-init";
    in.setup_command = {"sh", "-c", "npm ci"};
    absl::StatusOr<airlock::policy::RewriteOutput> out = airlock::policy::RewriteSpec(spec, in);
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    return out->init_config["setup"];
  };
  CHECK_FALSE(rewrite("version: 1\n").contains("seccomp"));
  CHECK(rewrite("version: 1\nseccomp: {setup: allow-mount}\n")["seccomp"] == "allow-mount");
}
