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

  CHECK_FALSE(npm->policy.cache.enabled);

  absl::StatusOr<LoadedPolicy> cached = LoadPolicyFile(kExamples + "/policies/setup-cache.yaml");
  REQUIRE(cached.ok());
  CHECK(cached->policy.cache.enabled);
  CHECK(cached->policy.cache.key_files == std::vector<std::string>{"package.json", "package-lock.json"});
  CHECK(cached->policy.cache.ttl == absl::Hours(12));
  CHECK_FALSE(cached->policy.cache.maintenance.empty());
  CHECK(cached->policy.cache.maintenance_timeout == absl::Minutes(5));
  CHECK_FALSE(cached->policy.setup.command.empty());

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

  // The cache section: written only when on (its presence turns it on), each field as in a file.
  CHECK_FALSE(PolicyToJson(StrictestDefaultPolicy()).contains("cache"));
  Policy on;
  on.cache.enabled = true;
  CheckRoundTrip(on);
  CHECK(PolicyToJson(on)["cache"] == nlohmann::json{{"key_files", nlohmann::json::array()}, {"ttl", "12h"}});
  on.cache.key_files = {"package-lock.json", "sub dir/setup.sh"};
  on.cache.ttl = absl::Hours(24 * 30);
  on.cache.maintenance = {"sh", "-c", "npm ci --prefer-offline"};
  on.cache.maintenance_timeout = absl::Seconds(90);
  CheckRoundTrip(on);
  CHECK(PolicyToJson(on)["cache"] == nlohmann::json{{"key_files", {"package-lock.json", "sub dir/setup.sh"}},
                                                    {"ttl", "720h"},
                                                    {"maintenance", {"sh", "-c", "npm ci --prefer-offline"}},
                                                    {"maintenance_timeout", "1m30s"}});
  // A different cache section is a different policy (and JSON).
  Policy other = on;
  other.cache.ttl = absl::Hours(1);
  CHECK(PolicyToJson(other) != PolicyToJson(on));
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
