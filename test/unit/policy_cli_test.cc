#include <catch2/catch.hpp>

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "policy/load.h"
#include "policy/parse.h"

namespace {

const std::string kAirlock = std::string(AIRLOCK_BINARY_DIR) + "/bin/airlock";
const std::string kExamples = std::string(AIRLOCK_SOURCE_DIR) + "/examples";

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs the CLI with `args` (already shell-quoted where needed).
Result Run(const std::string& args) {
  Result result;
  FILE* pipe = popen((kAirlock + " " + args + " 2>&1 </dev/null").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0 && result.output.size() < (1 << 20)) {
    result.output.append(buffer, n);
  }
  int status = pclose(pipe);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("airlock policy check and explain", "[policy][cli]") {
  if (access(kAirlock.c_str(), X_OK) != 0) {
    WARN("skipped: " << kAirlock << " is not built");
    return;
  }
  const std::string npm = kExamples + "/policies/npm.yaml";
  Result ok = Run("policy check " + npm);
  CHECK(ok.exit_code == 0);
  CHECK(ok.output == npm + ": ok (" + airlock::policy::PolicyDigest(*airlock::policy::ReadConfigFile(npm)) + ")\n");

  Result host = Run("policy check --host-config " + kExamples + "/host-config.yaml");
  CHECK(host.exit_code == 0);
  CHECK(Has(host.output, "host-config.yaml: ok (sha256:"));

  // A host config is not a policy.
  Result wrong = Run("policy check " + kExamples + "/host-config.yaml");
  CHECK(wrong.exit_code == 1);
  CHECK(Has(wrong.output, "host-config.yaml:8:1: allowed_repo_roots: unknown key"));

  Result missing = Run("policy check /nonexistent.yaml");
  CHECK(missing.exit_code == 1);
  CHECK(Has(missing.output, "/nonexistent.yaml"));

  Result explain = Run("policy explain " + npm);
  CHECK(explain.exit_code == 0);
  CHECK(Has(explain.output, "During setup:"));
  CHECK(Has(explain.output, "no network but loopback (verified)"));
  CHECK(Run("policy explain --builtin").exit_code == 0);
}

TEST_CASE("airlock usage errors exit 2", "[policy][cli]") {
  if (access(kAirlock.c_str(), X_OK) != 0) {
    WARN("skipped: " << kAirlock << " is not built");
    return;
  }
  Result none = Run("");
  CHECK(none.exit_code == 2);
  CHECK(Has(none.output, "usage: airlock"));
  Result unknown = Run("frobnicate");
  CHECK(unknown.exit_code == 2);
  CHECK(Has(unknown.output, "unknown command \"frobnicate\""));
  CHECK(Run("--bogus").exit_code == 2);
  CHECK(Run("policy").exit_code == 2);
  CHECK(Run("policy lint x.yaml").exit_code == 2);
  CHECK(Run("policy check").exit_code == 2);
  CHECK(Run("policy check --strict x.yaml").exit_code == 2);
  CHECK(Run("policy explain").exit_code == 2);
  CHECK(Run("policy explain a.yaml b.yaml").exit_code == 2);
  CHECK(Run("policy explain --builtin a.yaml").exit_code == 2);
  CHECK(Run("--help").exit_code == 0);
  CHECK(Run("policy --help").exit_code == 0);
  CHECK(Run("--version").output == std::string("airlock ") + AIRLOCK_VERSION + "\n");
}
