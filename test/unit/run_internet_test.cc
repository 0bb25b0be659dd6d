#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cmd/airlock/run/audit_excerpt.h"
#include "cmd/airlock/run/run_args.h"
#include "cmd/airlock/run/run_policy.h"
#include "policy/parse.h"

using namespace airlock;
using namespace airlock::run;

TEST_CASE("run --internet: parsed, and the built-in run policy gets the proxy", "[run][proxy]") {
  absl::StatusOr<InternetAccess> access = ParseInternetFlag("common-dependencies, Docs.Python.org,*.Example.com");
  REQUIRE(access.ok());
  CHECK(access->preset == "common-dependencies");
  CHECK(access->hosts == std::vector<std::string>{"docs.python.org", "*.example.com"});
  CHECK_FALSE(ParseInternetFlag("all,common-dependencies").ok());
  CHECK_FALSE(ParseInternetFlag("a.org,,b.org").ok());
  CHECK_FALSE(ParseInternetFlag("\"a.org\"").ok());
  CHECK_FALSE(ParseInternetFlag("a.org\n  execution: deny").ok());  // no YAML smuggled into the policy

  absl::StatusOr<policy::Policy> p = policy::ParsePolicy(BuiltinRunPolicyYaml({"TOK"}, &*access), "built-in");
  REQUIRE(p.ok());
  CHECK(p->network.execution == policy::ExecutionNetwork::kProxy);
  CHECK(p->network.proxy.preset == policy::ProxyPreset::kCommonDependencies);
  CHECK(p->network.proxy.allow == access->hosts);
  CHECK(p->network.setup.uplink.kind == policy::UplinkKind::kNat);
  absl::StatusOr<policy::Policy> off = policy::ParsePolicy(BuiltinRunPolicyYaml({}), "built-in");
  REQUIRE(off.ok());
  CHECK(off->network.execution == policy::ExecutionNetwork::kDeny);

  RunArgs args;
  std::string problem;
  REQUIRE(ParseRunArgs({"--repo", "/r", "--image", "i", "--internet", "all", "--", "agent"}, &args, &problem));
  CHECK(args.internet == "all");
  CHECK_FALSE(ParseRunArgs({"--repo", "/r", "--image", "i", "--internet", "a", "--internet", "b", "--", "x"}, &args,
                           &problem));
}

TEST_CASE("run summary: the proxy's records tallied, hostile host fields left out", "[run][proxy]") {
  std::vector<std::string> lines = {
      R"({"time":"t","event":"proxy","decision":"allowed","host":"a.test"})",
      R"({"time":"t","event":"proxy","decision":"refused","host":"b.test"})",
      R"({"time":"t","event":"proxy","decision":"refused","host":"b.test"})",
      R"({"time":"t","event":"proxy","decision":"refused","host":"\u001b[31mred"})",
      R"({"time":"t","event":"proxy","decision":"error","host":"c.test"})",
      R"({"time":"t","event":"seal","decision":"refused","host":"not-proxy.test"})",
      "not json",
  };
  ProxyTally t = TallyProxy(lines);
  CHECK(t.allowed == 1);
  CHECK(t.refused == 3);
  CHECK(t.errors == 1);
  CHECK(t.refused_hosts == std::vector<std::string>{"b.test"});
  for (int i = 0; i < 15; ++i) {
    lines.push_back(R"({"event":"proxy","decision":"refused","host":"h)" + std::to_string(i) + R"(.test"})");
  }
  ProxyTally many = TallyProxy(lines);
  CHECK(many.refused_hosts.size() == kMaxTalliedHosts);
  CHECK(many.more_refused_hosts == 6);
}

TEST_CASE("run summary: the verification's own proxy requests are not the agent's", "[run][proxy]") {
  std::vector<std::string> lines = {
      R"({"time":"t","event":"proxy","decision":"allowed","host":"probe.test"})",
      R"({"time":"t","event":"proxy","decision":"refused","host":"unlisted.test"})",
      R"({"time":"t","event":"verify","held":true})",
      R"({"time":"t","event":"proxy","decision":"allowed","host":"agent.test"})",
      R"({"time":"t","event":"verify","held":true})",
      R"({"time":"t","event":"proxy","decision":"refused","host":"later.test"})",
  };
  ProxyTally agent = TallyProxy(lines, /*after_verify=*/true);
  CHECK(agent.allowed == 1);
  CHECK(agent.refused == 1);
  CHECK(agent.refused_hosts == std::vector<std::string>{"later.test"});
  ProxyTally all = TallyProxy(lines);
  CHECK(all.allowed == 2);
  CHECK(all.refused == 2);
  // No verify record at all: nothing is counted (a run that never verified never ran its agent).
  CHECK(TallyProxy({R"({"event":"proxy","decision":"allowed","host":"a.test"})"}, true).allowed == 0);
}
