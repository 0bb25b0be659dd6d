#include <catch2/catch.hpp>

#include <string>

#include "policy/explain.h"
#include "policy/parse.h"

using namespace airlock::policy;

namespace {

std::string Explain(const std::string& yaml) {
  absl::StatusOr<Policy> policy = ParsePolicy(yaml, "p.yaml");
  REQUIRE(policy.ok());
  return ExplainPolicy(*policy);
}

// The text between `from` and `to` (or the end).
std::string Section(const std::string& text, const std::string& from, const std::string& to) {
  size_t start = text.find(from);
  REQUIRE(start != std::string::npos);
  size_t end = to.empty() ? std::string::npos : text.find(to, start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("explain names the facts of each phase", "[policy][explain]") {
  std::string text = Explain(R"(version: 1
filesystem:
  rootfs: {setup: writable}
  tmpfs: {/tmp: 512Mi}
network: {setup: {uplink: nat}}
setup: {command: [sh, -c, "npm ci"], timeout: 15m}
secrets: [NPM_TOKEN]
)");
  INFO(text);
  std::string setup = Section(text, "During setup:", "The seal");
  std::string after = Section(text, "After the seal", "");
  CHECK(Has(setup, "runs the setup command: sh -c 'npm ci'"));
  CHECK(Has(setup, "network through NAT"));
  CHECK(Has(setup, "root filesystem writable"));
  CHECK(Has(setup, "NPM_TOKEN"));
  CHECK(Has(setup, "deadline 15m"));
  CHECK(Has(after, "no network but loopback (verified)"));
  CHECK(Has(after, "root filesystem read-only"));
  CHECK(Has(after, "writable: only /workspace (the repository) and /tmp (tmpfs, 512 MiB)"));
  CHECK(Has(after, "secrets removed from the environment: NPM_TOKEN"));
  CHECK(Has(after, "no ptrace"));
  CHECK(Has(after, "capabilities: CAP_CHOWN"));
  CHECK(Has(text, "every process left from setup is killed"));
  CHECK(Has(text, "if that cannot be verified the container is killed"));
  CHECK_FALSE(Has(text, "WARNING"));
}

TEST_CASE("explain the strictest default", "[policy][explain]") {
  std::string text = ExplainPolicy(StrictestDefaultPolicy());
  INFO(text);
  std::string setup = Section(text, "During setup:", "The seal");
  CHECK(Has(setup, "no setup command in the policy"));
  CHECK(Has(setup, "no network but loopback"));
  CHECK(Has(setup, "root filesystem read-only"));
  CHECK(Has(setup, "no secrets"));
  CHECK(Has(setup, "refused"));
  CHECK(Has(text, "/tmp (tmpfs, 64 MiB)"));
  CHECK(Has(text, "The annotation is required"));
  CHECK(Has(text, "Audit log: the host config's audit_dir"));
}

TEST_CASE("explain netns uplinks, kept processes and risky settings", "[policy][explain]") {
  std::string text = Explain(R"(version: 1
workspace: {target: /src, required: false}
network: {setup: {uplink: "netns:/run/netns/up"}}
filesystem: {tmpfs: {}}
setup: {keep_processes: true}
seccomp: {allow_debuggers: true}
capabilities: [CAP_SYS_ADMIN, CAP_KILL]
audit: {dir: /srv/audit}
)");
  INFO(text);
  CHECK(Has(text, "network through the network namespace /run/netns/up"));
  CHECK(Has(text, "mounted read-write at /src"));
  CHECK(Has(text, "without it no repository is mounted"));
  CHECK(Has(text, "writable: only /src (the repository)\n"));
  CHECK(Has(text, "processes left from setup keep running"));
  CHECK(Has(text, "ptrace allowed (allow_debuggers: true)"));
  CHECK(Has(text, "WARNING: CAP_SYS_ADMIN: near-root power over the host."));
  CHECK_FALSE(Has(text, "WARNING: CAP_KILL"));
  CHECK(Has(text, "WARNING: allow_debuggers"));
  CHECK(Has(text, "Audit log: /srv/audit"));
}
