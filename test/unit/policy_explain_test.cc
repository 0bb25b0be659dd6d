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

TEST_CASE("explain says the resources and the execution deadline", "[policy][explain]") {
  std::string text = ExplainPolicy(StrictestDefaultPolicy());
  CHECK(text.find("at most 512 processes and threads") != std::string::npos);
  CHECK(text.find("memory 1 GiB, no swap") != std::string::npos);
  CHECK(text.find("CPU 1.000 core(s)") != std::string::npos);
  CHECK(text.find("the workspace 1 GiB") != std::string::npos);
  CHECK(text.find("deadline 2h after the seal") != std::string::npos);
  absl::StatusOr<Policy> none = ParsePolicy("version: 1\nexecution: {timeout: none}\n", "p.yaml");
  REQUIRE(none.ok());
  CHECK(ExplainPolicy(*none).find("no deadline (execution.timeout: none)") != std::string::npos);
}

TEST_CASE("explain says what the seal does with secrets setup left on disk", "[policy][explain]") {
  std::string strict = ExplainPolicy(StrictestDefaultPolicy());
  CHECK(strict.find("tmpfs and mqueue mounts the policy does not name (e.g. /dev/shm, /run, /dev/mqueue) are emptied") !=
        std::string::npos);
  CHECK(strict.find("searched for the secrets' values") == std::string::npos);  // no secrets, nothing to search for
  absl::StatusOr<Policy> fail = ParsePolicy(
      "version: 1\nsecrets: [NPM_TOKEN]\nfilesystem: {rootfs: {setup: writable}}\n", "p.yaml");
  REQUIRE(fail.ok());
  std::string text = ExplainPolicy(*fail);
  CHECK(text.find("searched for the secrets' values (raw, hex, base64, percent-encoded): the root filesystem's changes") !=
        std::string::npos);
  CHECK(text.find("fails the seal and the container is killed (leftover_secrets: fail") != std::string::npos);
  absl::StatusOr<Policy> scrub =
      ParsePolicy("version: 1\nsecrets: [NPM_TOKEN]\nsetup: {leftover_secrets: scrub, keep_processes: true}\n", "p.yaml");
  REQUIRE(scrub.ok());
  text = ExplainPolicy(*scrub);
  CHECK(text.find("is removed (leftover_secrets: scrub") != std::string::npos);
  CHECK(text.find("the sweep cannot vouch for what they write later") != std::string::npos);
}

TEST_CASE("explain says what the setup filter denies, and what it keeps", "[policy][explain]") {
  std::string text = ExplainPolicy(StrictestDefaultPolicy());
  INFO(text);
  std::string setup = Section(text, "During setup:", "The seal");
  CHECK(Has(setup, "seccomp (setup: strict): sockets only of the families unix, inet, inet6 and netlink (no vsock"));
  CHECK(Has(setup, "no new user namespaces, no bpf, keyring, io_uring, perf events, userfaultfd, kexec, kernel modules "
                   "or setns, no mount (EPERM); a 32-bit or x32 syscall kills the process"));
  CHECK(Has(setup, "what package managers need stays: TCP/UDP over IPv4 and IPv6, unix and netlink sockets"));
  CHECK(Has(setup, "the airlock helper stays unfiltered until the seal"));
  std::string after = Section(text, "After the seal", "");
  CHECK(Has(after, "seccomp (strict): sockets only of the families unix, inet, inet6 and netlink (no vsock"));
  CHECK(Has(after, "no new network or user namespaces, no mount, bpf, keyring, io_uring"));

  std::string mount = Explain("version: 1\nseccomp: {setup: allow-mount}\n");
  CHECK(Has(mount, "seccomp (setup: allow-mount): "));
  CHECK(Has(mount, "the mount API stays open (mounting needs CAP_SYS_ADMIN, which the capabilities do not give)"));
  std::string admin = Explain("version: 1\nseccomp: {setup: allow-mount}\ncapabilities: [CAP_SYS_ADMIN]\n");
  CHECK(Has(admin, "which the capabilities give)"));
}

TEST_CASE("explain says what the proxy lets through and what it cannot see", "[policy][explain][proxy]") {
  std::string text = Explain(
      "version: 1\nnetwork:\n  setup: {uplink: proxy}\n  execution: proxy\n  proxy:\n    preset: common-dependencies\n"
      "    allow: [docs.example.org, \"*.cdn.example.net\"]\n    setup_methods: [GET, POST]\n");
  std::string after = Section(text, "After the seal", "Resources");
  CHECK(Has(after, "the airlock proxy on 127.0.0.1:3128 (verified to be the shim's socket"));
  std::string proxy = Section(text, "The airlock proxy", "Audit log");
  CHECK(Has(proxy, "the common-dependencies preset ("));
  CHECK(Has(proxy, "docs.example.org and *.cdn.example.net"));
  CHECK(Has(proxy, "ports: 80, 443"));
  CHECK(Has(proxy, "plain HTTP methods after the seal: GET, HEAD, OPTIONS"));
  CHECK(Has(proxy, "plain HTTP methods during setup: GET, POST"));
  CHECK(Has(proxy, "the methods inside TLS cannot be seen"));
  CHECK(Has(proxy, "SNI"));
  CHECK(Has(proxy, "the cloud metadata address"));
  CHECK(Has(proxy, "10000 requests"));
  CHECK(Has(Section(text, "During setup", "The seal"), "the airlock proxy on 127.0.0.1:3128"));
  // Without the proxy, explain says nothing of it.
  CHECK_FALSE(Has(Explain("version: 1\n"), "airlock proxy"));
}

TEST_CASE("explain says whether the setup cache is on, its key and what a hit does", "[policy][explain][cache]") {
  std::string off = ExplainPolicy(StrictestDefaultPolicy());
  INFO(off);
  CHECK(Has(off, "Setup cache (`airlock run`): off (no cache: section); setup runs in full every time\n"));
  CHECK_FALSE(Has(off, "on a hit"));

  std::string text = Explain(R"(version: 1
setup: {command: [sh, -c, ./setup.sh], timeout: 20m}
secrets: [NPM_TOKEN]
cache:
  key_files: [package-lock.json, requirements.txt, setup.sh]
  ttl: 36h
  maintenance: ["sh", "-c", "npm ci --prefer-offline"]
)");
  INFO(text);
  std::string cache = Section(text, "Setup cache", "After the seal");
  CHECK(Has(cache, "Setup cache (`airlock run`): on\n"));
  CHECK(Has(cache, "key: the image, this policy, the setup command, the repository's identity and the content of "
                   "package-lock.json, requirements.txt and setup.sh\n"));
  CHECK(Has(cache, "used for 36h after it was written"));
  CHECK(Has(cache, "starts from the cached root filesystem and untracked workspace files, setup is skipped"));
  CHECK(Has(cache, "the maintenance command runs in its place, with setup's network and secrets (deadline 20m): "
                   "sh -c 'npm ci --prefer-offline'\n"));
  CHECK(Has(cache, "written only at the seal of a setup phase: never after the agent ran, never with a secret's value"));
  // The phases' sections are where they were.
  CHECK(text.find("The seal") < text.find("Setup cache"));
  CHECK(Has(Section(text, "During setup:", "The seal"), "runs the setup command: sh -c ./setup.sh"));

  std::string bare = Explain("version: 1\ncache: {maintenance: [npm, ci], maintenance_timeout: 90s}\n");
  INFO(bare);
  CHECK(Has(bare, "the repository's identity and no file (cache.key_files is empty"));
  CHECK(Has(bare, "used for 12h after it was written"));
  CHECK(Has(bare, "(deadline 1m30s): npm ci\n"));
  std::string nothing = Explain("version: 1\ncache: {}\n");
  CHECK(Has(nothing, "setup is skipped, and nothing runs in its place\n"));
}
