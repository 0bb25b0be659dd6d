#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "policy/host_config.h"
#include "policy/json.h"
#include "policy/load.h"
#include "policy/parse.h"

using namespace airlock::policy;

namespace {

const std::string kExamples = std::string(AIRLOCK_SOURCE_DIR) + "/examples";

// Policy -> JSON -> ParsePolicy gives the same policy.
void CheckRoundTrip(const Policy& policy) {
  std::string json = PolicyToJson(policy).dump(2);
  INFO(json);
  absl::StatusOr<Policy> back = ParsePolicy(json, "round-trip.json");
  REQUIRE(back.ok());
  CHECK(*back == policy);
}

}  // namespace

TEST_CASE("every example policy parses and round-trips", "[policy][examples]") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kExamples + "/policies")) {
    if (entry.path().extension() != ".yaml") continue;
    INFO(entry.path().string());
    absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFile(entry.path().string());
    REQUIRE(loaded.ok());
    CHECK(loaded->digest == PolicyDigest(*ReadConfigFile(entry.path().string())));
    CheckRoundTrip(loaded->policy);
    ++count;
  }
  CHECK(count >= 3);
}

TEST_CASE("the examples say what they promise", "[policy][examples]") {
  absl::StatusOr<LoadedPolicy> strict = LoadPolicyFile(kExamples + "/policies/default.yaml");
  REQUIRE(strict.ok());
  CHECK(strict->policy == StrictestDefaultPolicy());

  absl::StatusOr<LoadedPolicy> npm = LoadPolicyFile(kExamples + "/policies/npm.yaml");
  REQUIRE(npm.ok());
  CHECK(npm->policy.network.setup.uplink.kind == UplinkKind::kNat);
  CHECK(npm->policy.filesystem.rootfs.setup == RootfsMode::kWritable);
  CHECK(npm->policy.secrets == std::vector<std::string>{"NPM_TOKEN", "GITHUB_TOKEN"});
  CHECK_FALSE(npm->policy.setup.command.empty());

  absl::StatusOr<LoadedPolicy> tests = LoadPolicyFile(kExamples + "/policies/tests.yaml");
  REQUIRE(tests.ok());
  CHECK(tests->policy.network.setup.uplink == Uplink{UplinkKind::kNetns, "/run/netns/airlock-upstream"});

  absl::StatusOr<HostConfig> host = LoadHostConfig(kExamples + "/host-config.yaml");
  REQUIRE(host.ok());
  CHECK(host->allowed_repo_roots == std::vector<std::string>{"/srv/airlock/repos"});
  CHECK(ToString(host->nat_pool) == "198.18.0.0/16");
}

TEST_CASE("the built-in and other policies round-trip through JSON", "[policy][examples]") {
  CheckRoundTrip(StrictestDefaultPolicy());
  Policy p;
  p.filesystem.tmpfs = {{"/tmp", 1000}, {"/var/tmp", 3 * kGiB}};
  p.network.setup.uplink = {UplinkKind::kNetns, "/run/netns/x y"};
  p.setup.command = {"sh", "-c", "echo \"hi\"; exit 0"};
  p.setup.timeout = absl::Milliseconds(1500);
  p.audit.dir = "/srv/audit";
  p.capabilities.clear();
  CheckRoundTrip(p);
}

TEST_CASE("loading files", "[policy][examples]") {
  CHECK(absl::IsNotFound(LoadPolicyFile("/nonexistent/policy.yaml").status()));
  CHECK(absl::IsInvalidArgument(ReadConfigFile("/").status()));
  CHECK(ReadConfigFile("/").status().message() == "/: not a regular file");
  // A missing host config means the defaults.
  absl::StatusOr<HostConfig> host = LoadHostConfig("/nonexistent/config.yaml");
  REQUIRE(host.ok());
  CHECK(*host == DefaultHostConfig());
}
