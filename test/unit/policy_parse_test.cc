#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>

#include "policy/load.h"
#include "policy/parse.h"

using namespace airlock::policy;

namespace {

// The whole error text for `yaml`, parsed as "p.yaml".
std::string Error(const std::string& yaml) {
  absl::StatusOr<Policy> policy = ParsePolicy(yaml, "p.yaml");
  if (policy.ok()) return "(parsed)";
  CHECK(absl::IsInvalidArgument(policy.status()));
  return std::string(policy.status().message());
}

}  // namespace

TEST_CASE("a policy with only a version is the strictest default", "[policy][parse]") {
  absl::StatusOr<Policy> policy = ParsePolicy("version: 1\n", "p.yaml");
  REQUIRE(policy.ok());
  CHECK(*policy == StrictestDefaultPolicy());
  const Policy& p = *policy;
  CHECK(p.workspace.target == "/workspace");
  CHECK(p.workspace.required);
  CHECK(p.filesystem.rootfs.setup == RootfsMode::kReadonly);
  CHECK(p.filesystem.rootfs.execution == RootfsMode::kReadonly);
  REQUIRE(p.filesystem.tmpfs.size() == 1);
  CHECK(p.filesystem.tmpfs[0] == TmpfsMount{"/tmp", 64 * kMiB});
  CHECK(p.filesystem.other_binds == OtherBinds::kReject);
  CHECK(p.network.setup.uplink.kind == UplinkKind::kNone);
  CHECK(p.network.execution == ExecutionNetwork::kDeny);
  CHECK(p.setup.command.empty());
  CHECK(p.setup.timeout == absl::Minutes(10));
  CHECK_FALSE(p.setup.keep_processes);
  CHECK(p.secrets.empty());
  CHECK(p.seccomp.execution == SeccompMode::kStrict);
  CHECK_FALSE(p.seccomp.allow_debuggers);
  CHECK(p.capabilities == DefaultCapabilities());
  CHECK(p.capabilities.size() == 12);
  CHECK(p.audit.dir.empty());
}

TEST_CASE("the built-in policy text is the strictest default", "[policy][parse]") {
  absl::StatusOr<Policy> policy = ParsePolicy(kBuiltinPolicyYaml, "built-in");
  REQUIRE(policy.ok());
  CHECK(*policy == StrictestDefaultPolicy());
  CHECK(BuiltinPolicy().digest == PolicyDigest(kBuiltinPolicyYaml));
  CHECK(BuiltinPolicy().source == "built-in");
}

TEST_CASE("the design document's policy parses to what it says", "[policy][parse]") {
  absl::StatusOr<Policy> policy = ParsePolicy(R"(version: 1
workspace:
  target: /workspace
  required: true
filesystem:
  rootfs:
    setup: writable
    execution: readonly
  tmpfs:
    /tmp: 512Mi
    /var/cache/x: 1Gi
  other_binds: readonly
network:
  setup:
    uplink: netns:/run/netns/up
  execution: deny
setup:
  command: ["sh", "-c", "./setup.sh"]
  timeout: 1h30m
  keep_processes: True
secrets: [NPM_TOKEN, GITHUB_TOKEN]
seccomp:
  execution: strict
  allow_debuggers: true
capabilities: [CAP_CHOWN, CAP_KILL]
audit:
  dir: /var/log/airlock/
)",
                                              "p.yaml");
  REQUIRE(policy.ok());
  const Policy& p = *policy;
  CHECK(p.filesystem.rootfs.setup == RootfsMode::kWritable);
  REQUIRE(p.filesystem.tmpfs.size() == 2);
  CHECK(p.filesystem.tmpfs[0] == TmpfsMount{"/tmp", 512 * kMiB});
  CHECK(p.filesystem.tmpfs[1] == TmpfsMount{"/var/cache/x", kGiB});
  CHECK(p.filesystem.other_binds == OtherBinds::kReadonly);
  CHECK(p.network.setup.uplink == Uplink{UplinkKind::kNetns, "/run/netns/up"});
  CHECK(p.setup.command == std::vector<std::string>{"sh", "-c", "./setup.sh"});
  CHECK(p.setup.timeout == absl::Minutes(90));
  CHECK(p.setup.keep_processes);
  CHECK(p.secrets == std::vector<std::string>{"NPM_TOKEN", "GITHUB_TOKEN"});
  CHECK(p.seccomp.allow_debuggers);
  CHECK(p.capabilities == std::vector<std::string>{"CAP_CHOWN", "CAP_KILL"});
  CHECK(p.audit.dir == "/var/log/airlock");  // cleaned
}

TEST_CASE("explicit empty lists and maps replace the defaults", "[policy][parse]") {
  absl::StatusOr<Policy> policy = ParsePolicy("version: 1\nfilesystem: {tmpfs: {}}\ncapabilities: []\n", "p.yaml");
  REQUIRE(policy.ok());
  CHECK(policy->filesystem.tmpfs.empty());
  CHECK(policy->capabilities.empty());
}

TEST_CASE("version is required and only 1", "[policy][parse][errors]") {
  CHECK(Error("") == "p.yaml:1:1: version: missing (the file is empty; want at least \"version: 1\")");
  CHECK(Error("# just a comment\n") == "p.yaml:1:1: version: missing (the file is empty; want at least \"version: 1\")");
  CHECK(Error("secrets: []\n") == "p.yaml:1:1: version: missing (want \"version: 1\")");
  CHECK(Error("version: 2\n") == "p.yaml:1:10: version: unsupported version \"2\" (want 1)");
  CHECK(Error("version: \"1\"\n") == "p.yaml:1:10: version: want the number 1, got the string \"1\" (drop the quotes)");
  CHECK(Error("version: [1]\n") == "p.yaml:1:10: version: want the number 1, got a list");
}

TEST_CASE("the document must be one map", "[policy][parse][errors]") {
  CHECK(Error("- version: 1\n") == "p.yaml:1:1: want a map, got a list");
  CHECK(Error("hello\n") == "p.yaml:1:1: want a map, got \"hello\"");
  CHECK(Error("version: 1\n---\nversion: 1\n") == "p.yaml:2:1: more than one YAML document (want exactly one)");
  CHECK(Error("version: 1\nsecrets: [a,\n") == "p.yaml:3:1: YAML syntax error: end of sequence flow not found");
  CHECK(Error("version: 1\nworkspace: *nope\n") == "p.yaml:2:12: YAML syntax error: the referenced anchor is not defined");
  CHECK(Error("version: 1\n[a]: 1\n") == "p.yaml:2:1: keys must be strings, got a list");
  // yaml-cpp's parser never gets past a stray "," at document level: reported, not looped on.
  CHECK(Error(",version: 1\n") == "p.yaml:1:1: YAML syntax error: unexpected \",\"");
  CHECK(Error("# comment\n  ,\n") == "p.yaml:2:3: YAML syntax error: unexpected \",\"");
  CHECK(Error("--- {version: 1}\n--- {version: 1}\n") == "p.yaml:2:1: more than one YAML document (want exactly one)");
}

TEST_CASE("unknown and duplicate keys name their position and key path", "[policy][parse][errors]") {
  CHECK(Error("version: 1\nbogus: 1\n") ==
        "p.yaml:2:1: bogus: unknown key (want version, mode, workspace, filesystem, network, setup, cache, secrets, "
        "seccomp, capabilities, audit, resources or execution)");
  CHECK(Error("version: 1\nnetwork:\n  setup:\n    uplink: nat\n    bridge: br0\n") ==
        "p.yaml:5:5: network.setup.bridge: unknown key (want uplink)");
  CHECK(Error("version: 1\nsetup:\n  on_failure: fail\n") ==
        "p.yaml:3:3: setup.on_failure: unknown key (want command, timeout, keep_processes or leftover_secrets)");
  CHECK(Error("version: 1\nworkspace: {target: /a}\nworkspace: {target: /b}\n") ==
        "p.yaml:3:1: workspace: duplicate key (first at line 2)");
  CHECK(Error("version: 1\nseccomp:\n  allow_debuggers: false\n  allow_debuggers: true\n") ==
        "p.yaml:4:3: seccomp.allow_debuggers: duplicate key (first at line 3)");
}

TEST_CASE("wrong types are errors", "[policy][parse][errors]") {
  CHECK(Error("version: 1\nsecrets: {NPM_TOKEN: x}\n") ==
        "p.yaml:2:10: secrets: want a list of secret names, got a map");
  CHECK(Error("version: 1\nsecrets: NPM_TOKEN\n") ==
        "p.yaml:2:10: secrets: want a list of secret names, got \"NPM_TOKEN\"");
  CHECK(Error("version: 1\ncapabilities:\n  CAP_CHOWN: true\n") ==
        "p.yaml:3:3: capabilities: want a list of capability names, got a map");
  CHECK(Error("version: 1\nworkspace: /workspace\n") == "p.yaml:2:12: workspace: want a map, got \"/workspace\"");
  // An empty value is reported at its key (yaml-cpp marks it at the next token).
  CHECK(Error("version: 1\nworkspace:\nnetwork: {}\n") == "p.yaml:2:1: workspace: want a map, got nothing");
  CHECK(Error("version: 1\nworkspace: {target: [a]}\n") == "p.yaml:2:21: workspace.target: want a string, got a list");
  CHECK(Error("version: 1\nworkspace: {required: yes}\n") ==
        "p.yaml:2:23: workspace.required: want true or false, got \"yes\"");
  CHECK(Error("version: 1\nworkspace: {required: \"true\"}\n") ==
        "p.yaml:2:23: workspace.required: want true or false, got \"true\"");
  CHECK(Error("version: 1\nsetup:\n  command: ./setup.sh\n") ==
        "p.yaml:3:12: setup.command: want a list of strings, got \"./setup.sh\"");
  CHECK(Error("version: 1\nsetup:\n  command: [sh, [x]]\n") == "p.yaml:3:17: setup.command[1]: want a string, got a list");
  CHECK(Error("version: 1\nsecrets: [A, {B: 1}]\n") == "p.yaml:2:14: secrets[1]: want a string, got a map");
}

TEST_CASE("paths must be absolute and free of ..", "[policy][parse][errors]") {
  CHECK(Error("version: 1\nworkspace: {target: workspace}\n") ==
        "p.yaml:2:21: workspace.target: path \"workspace\" is not absolute (want an absolute path without \"..\")");
  CHECK(Error("version: 1\nworkspace: {target: /a/../etc}\n") ==
        "p.yaml:2:21: workspace.target: path \"/a/../etc\" contains \"..\" (want an absolute path without \"..\")");
  CHECK(Error("version: 1\nworkspace: {target: /}\n") ==
        "p.yaml:2:21: workspace.target: \"/\" is not allowed: it would hide the whole root filesystem");
  CHECK(Error("version: 1\nworkspace: {target: //./}\n") ==
        "p.yaml:2:21: workspace.target: \"/\" is not allowed: it would hide the whole root filesystem");
  CHECK(Error("version: 1\nworkspace: {target: \"\"}\n") ==
        "p.yaml:2:21: workspace.target: empty path (want an absolute path without \"..\")");
  CHECK(Error("version: 1\nworkspace: {target: /proc/w}\n") ==
        "p.yaml:2:21: workspace.target: \"/proc/w\" lies in /proc, which the runtime manages");
  CHECK(Error("version: 1\nworkspace: {target: /.airlock}\n") ==
        "p.yaml:2:21: workspace.target: \"/.airlock\" lies in /.airlock, reserved for the airlock helper");
  CHECK(Error("version: 1\naudit: {dir: var/log}\n") ==
        "p.yaml:2:14: audit.dir: path \"var/log\" is not absolute (want an absolute path without \"..\")");
  CHECK(ParsePolicy("version: 1\nworkspace: {target: /src/./repo/}\n", "p.yaml")->workspace.target == "/src/repo");
}

TEST_CASE("filesystem values are checked", "[policy][parse][errors]") {
  CHECK(Error("version: 1\nfilesystem:\n  rootfs:\n    execution: writable\n") ==
        "p.yaml:4:16: filesystem.rootfs.execution: \"writable\" is not allowed: after the seal the root filesystem "
        "is always read-only (want readonly)");
  CHECK(Error("version: 1\nfilesystem:\n  rootfs: {setup: rw}\n") ==
        "p.yaml:3:19: filesystem.rootfs.setup: unknown value \"rw\" (want writable or readonly)");
  CHECK(Error("version: 1\nfilesystem: {other_binds: writable}\n") ==
        "p.yaml:2:27: filesystem.other_binds: unknown value \"writable\" (want readonly or reject)");
  CHECK(Error("version: 1\nfilesystem:\n  tmpfs:\n    tmp: 1Mi\n") ==
        "p.yaml:4:5: filesystem.tmpfs[\"tmp\"]: path \"tmp\" is not absolute (want an absolute path without \"..\")");
  CHECK(Error("version: 1\nfilesystem:\n  tmpfs:\n    /tmp: 1Mi\n    /tmp/: 2Mi\n") ==
        "p.yaml:5:5: filesystem.tmpfs[\"/tmp/\"]: \"/tmp/\" is the same path as the tmpfs at line 4");
  CHECK(Error("version: 1\nfilesystem:\n  tmpfs: {/workspace: 1Mi}\n") ==
        "p.yaml:3:11: filesystem.tmpfs[\"/workspace\"]: a tmpfs at the workspace target /workspace would hide the "
        "repository");
  CHECK(Error("version: 1\nfilesystem:\n  tmpfs: [/tmp]\n") == "p.yaml:3:10: filesystem.tmpfs: want a map, got a list");
}

TEST_CASE("size syntax", "[policy][parse][errors]") {
  auto tmpfs_error = [](const std::string& size) {
    return Error("version: 1\nfilesystem: {tmpfs: {/tmp: " + size + "}}\n");
  };
  const std::string want = " (want bytes or a number with Ki, Mi, Gi or Ti, e.g. 512Mi)";
  CHECK(tmpfs_error("512MB") == "p.yaml:2:28: filesystem.tmpfs[\"/tmp\"]: bad size \"512MB\": no B suffix: Mi means MiB" + want);
  CHECK(tmpfs_error("512M") ==
        "p.yaml:2:28: filesystem.tmpfs[\"/tmp\"]: bad size \"512M\": decimal units are ambiguous, use Ki, Mi or Gi" + want);
  CHECK(tmpfs_error("1.5Gi") == "p.yaml:2:28: filesystem.tmpfs[\"/tmp\"]: bad size \"1.5Gi\": not a whole number with a unit" + want);
  CHECK(tmpfs_error("Mi") == "p.yaml:2:28: filesystem.tmpfs[\"/tmp\"]: bad size \"Mi\": no number" + want);
  CHECK(tmpfs_error("0") == "p.yaml:2:28: filesystem.tmpfs[\"/tmp\"]: size must be more than 0");
  CHECK(tmpfs_error("0Mi") == "p.yaml:2:28: filesystem.tmpfs[\"/tmp\"]: size must be more than 0");
  CHECK(tmpfs_error("99999999999999999999") ==
        "p.yaml:2:28: filesystem.tmpfs[\"/tmp\"]: bad size \"99999999999999999999\": too large" + want);
  CHECK(tmpfs_error("17179869184Gi") ==
        "p.yaml:2:28: filesystem.tmpfs[\"/tmp\"]: bad size \"17179869184Gi\": too large" + want);
  CHECK(tmpfs_error("~") == "p.yaml:2:22: filesystem.tmpfs[\"/tmp\"]: want a string, got nothing");
}

TEST_CASE("network values are checked", "[policy][parse][errors]") {
  CHECK(Error("version: 1\nnetwork:\n  setup:\n    uplink: bridge\n") ==
        "p.yaml:4:13: network.setup.uplink: unknown mode \"bridge\" (want nat, pod, proxy, none or netns:/path)");
  CHECK(Error("version: 1\nnetwork:\n  setup:\n    uplink: netns:run/netns/up\n") ==
        "p.yaml:4:13: network.setup.uplink: bad netns uplink: path \"run/netns/up\" is not absolute (want netns:/path)");
  CHECK(Error("version: 1\nnetwork:\n  setup:\n    uplink: \"netns:\"\n") ==
        "p.yaml:4:13: network.setup.uplink: bad netns uplink: empty path (want netns:/path)");
  CHECK(Error("version: 1\nnetwork:\n  setup:\n    uplink: netns:/run/../x\n") ==
        "p.yaml:4:13: network.setup.uplink: bad netns uplink: path \"/run/../x\" contains \"..\" (want netns:/path)");
  CHECK(Error("version: 1\nnetwork: {execution: allow}\n") ==
        "p.yaml:2:22: network.execution: unknown value \"allow\" (want deny or proxy)");
  CHECK(ParsePolicy("version: 1\nnetwork: {setup: {uplink: nat}}\n", "p.yaml")->network.setup.uplink.kind ==
        UplinkKind::kNat);
  absl::StatusOr<Policy> pod = ParsePolicy("version: 1\nnetwork: {setup: {uplink: pod}}\n", "p.yaml");
  REQUIRE(pod.ok());
  CHECK(pod->network.setup.uplink == Uplink{UplinkKind::kPod, ""});
  CHECK(ToString(pod->network.setup.uplink) == "pod");
}

TEST_CASE("setup values are checked", "[policy][parse][errors]") {
  CHECK(Error("version: 1\nsetup:\n  command: []\n") ==
        "p.yaml:3:12: setup.command: empty command (want e.g. [\"sh\", \"-c\", \"./setup.sh\"], or leave setup.command "
        "out)");
  CHECK(Error("version: 1\nsetup:\n  command: [\"\", x]\n") == "p.yaml:3:12: setup.command: the program (first word) is empty");
  const std::string want = " (want a number with a unit: ms, s, m or h, e.g. 30s or 10m)";
  CHECK(Error("version: 1\nsetup: {timeout: 600}\n") == "p.yaml:2:18: setup.timeout: bad duration \"600\"" + want);
  CHECK(Error("version: 1\nsetup: {timeout: 10 minutes}\n") ==
        "p.yaml:2:18: setup.timeout: bad duration \"10 minutes\"" + want);
  CHECK(Error("version: 1\nsetup: {timeout: inf}\n") == "p.yaml:2:18: setup.timeout: bad duration \"inf\"" + want);
  CHECK(Error("version: 1\nsetup: {timeout: -5s}\n") == "p.yaml:2:18: setup.timeout: negative duration \"-5s\"");
  CHECK(Error("version: 1\nsetup: {timeout: 0s}\n") ==
        "p.yaml:2:18: setup.timeout: duration \"0s\" out of range (want 1ms to 24h)");
  CHECK(Error("version: 1\nsetup: {timeout: 25h}\n") ==
        "p.yaml:2:18: setup.timeout: duration \"25h\" out of range (want 1ms to 24h)");
  CHECK(ParsePolicy("version: 1\nsetup: {timeout: 24h}\n", "p.yaml")->setup.timeout == absl::Hours(24));
  CHECK(ParsePolicy("version: 1\nsetup: {timeout: 500ms}\n", "p.yaml")->setup.timeout == absl::Milliseconds(500));
  CHECK(Error("version: 1\nsetup: {keep_processes: 1}\n") ==
        "p.yaml:2:25: setup.keep_processes: want true or false, got \"1\"");
}

TEST_CASE("secrets are unique environment variable names", "[policy][parse][errors]") {
  const std::string want = " is not an environment variable name (want letters, digits and _, not starting with a digit)";
  CHECK(Error("version: 1\nsecrets: [NPM_TOKEN, 1BAD]\n") == "p.yaml:2:22: secrets[1]: \"1BAD\"" + want);
  CHECK(Error("version: 1\nsecrets: [A-B]\n") == "p.yaml:2:11: secrets[0]: \"A-B\"" + want);
  CHECK(Error("version: 1\nsecrets: [\"A=B\"]\n") == "p.yaml:2:11: secrets[0]: \"A=B\"" + want);
  CHECK(Error("version: 1\nsecrets: [\"\"]\n") == "p.yaml:2:11: secrets[0]: \"\"" + want);
  CHECK(Error("version: 1\nsecrets:\n  - NPM_TOKEN\n  - GITHUB_TOKEN\n  - NPM_TOKEN\n") ==
        "p.yaml:5:5: secrets[2]: duplicate secret \"NPM_TOKEN\" (first at line 3)");
  CHECK(ParsePolicy("version: 1\nsecrets: [_X1, lower_ok]\n", "p.yaml")->secrets ==
        std::vector<std::string>{"_X1", "lower_ok"});
}

TEST_CASE("capabilities must be in the kernel's list", "[policy][parse][errors]") {
  CHECK(Error("version: 1\ncapabilities: [CAP_CHOWN, CAP_FOO]\n") ==
        "p.yaml:2:27: capabilities[1]: unknown capability \"CAP_FOO\" (not in the kernel's list)");
  CHECK(Error("version: 1\ncapabilities: [chown]\n") ==
        "p.yaml:2:16: capabilities[0]: unknown capability \"chown\" (not in the kernel's list; did you mean CAP_CHOWN?)");
  CHECK(Error("version: 1\ncapabilities: [CAP_KILL, CAP_KILL]\n") ==
        "p.yaml:2:26: capabilities[1]: duplicate capability \"CAP_KILL\" (first at line 2)");
  CHECK(ParsePolicy("version: 1\ncapabilities: [CAP_CHECKPOINT_RESTORE, CAP_SYS_ADMIN]\n", "p.yaml").ok());
}

TEST_CASE("seccomp values are checked", "[policy][parse][errors]") {
  CHECK(Error("version: 1\nseccomp: {execution: none}\n") ==
        "p.yaml:2:22: seccomp.execution: \"none\" is not allowed: the execution filter is always on (want strict)");
  CHECK(Error("version: 1\nseccomp: {execution: loose}\n") ==
        "p.yaml:2:22: seccomp.execution: unknown value \"loose\" (want strict)");
}

TEST_CASE("seccomp.setup: strict by default, allow-mount on request, never off", "[policy][parse]") {
  absl::StatusOr<Policy> strict = ParsePolicy("version: 1\nseccomp: {setup: strict}\n", "p.yaml");
  REQUIRE(strict.ok());
  CHECK(strict->seccomp.setup == SetupSeccompMode::kStrict);
  CHECK(*strict == StrictestDefaultPolicy());
  CHECK(StrictestDefaultPolicy().seccomp.setup == SetupSeccompMode::kStrict);
  absl::StatusOr<Policy> mount = ParsePolicy("version: 1\nseccomp:\n  setup: allow-mount\n", "p.yaml");
  REQUIRE(mount.ok());
  CHECK(mount->seccomp.setup == SetupSeccompMode::kAllowMount);
  CHECK(ToString(mount->seccomp.setup) == "allow-mount");

  CHECK(Error("version: 1\nseccomp: {setup: none}\n") ==
        "p.yaml:2:18: seccomp.setup: \"none\" is not allowed: the setup command always runs under its filter (want "
        "strict or allow-mount)");
  CHECK(Error("version: 1\nseccomp:\n  setup: allow_mount\n") ==
        "p.yaml:3:10: seccomp.setup: unknown value \"allow_mount\" (want strict or allow-mount)");
  CHECK(Error("version: 1\nseccomp:\n  setup: [strict]\n").find("p.yaml:3:10: seccomp.setup: ") == 0);
  CHECK(Error("version: 1\nseccomp:\n  setup: strict\n  setup: allow-mount\n") ==
        "p.yaml:4:3: seccomp.setup: duplicate key (first at line 3)");
  CHECK(Error("version: 1\nseccomp: {mount: true}\n") ==
        "p.yaml:2:11: seccomp.mount: unknown key (want execution, setup or allow_debuggers)");
}

TEST_CASE("every error stays on one line", "[policy][parse][errors]") {
  CHECK(Error("version: 1\n? \"a\\nb\"\n: 1\n") ==
        "p.yaml:2:3: a\\nb: unknown key (want version, mode, workspace, filesystem, network, setup, cache, secrets, "
        "seccomp, capabilities, audit, resources or execution)");
  CHECK(Error("version: 1\nsecrets: [\"A\\tB\\x01\"]\n") ==
        "p.yaml:2:11: secrets[0]: \"A\\tB\\x01\" is not an environment variable name (want letters, digits and _, not "
        "starting with a digit)");
  std::string huge = Error("version: 1\n" + std::string(5000, 'k') + ": 1\n");
  CHECK(huge.size() < 600);
  CHECK(huge.find('\n') == std::string::npos);
}

TEST_CASE("all errors are reported, sorted by position", "[policy][parse][errors]") {
  std::string error = Error("bogus: 1\nsecrets: [1X]\nversion: 3\n");
  CHECK(error ==
        "p.yaml:1:1: bogus: unknown key (want version, mode, workspace, filesystem, network, setup, cache, secrets, "
        "seccomp, capabilities, audit, resources or execution)\n"
        "p.yaml:2:11: secrets[0]: \"1X\" is not an environment variable name (want letters, digits and _, not "
        "starting with a digit)\n"
        "p.yaml:3:10: version: unsupported version \"3\" (want 1)");
  std::string many = "version: 1\n";
  for (int i = 0; i < 30; ++i) many += "k" + std::to_string(i) + ": 1\n";
  std::string capped = Error(many);
  CHECK(std::count(capped.begin(), capped.end(), '\n') == 20);
  CHECK(capped.substr(capped.rfind('\n') + 1) == "p.yaml: 10 more errors not shown");
}

TEST_CASE("no exception escapes on hostile input", "[policy][parse][errors]") {
  std::string deep = "version: 1\nworkspace: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  CHECK_NOTHROW(ParsePolicy(deep, "p.yaml"));
  CHECK(Error(deep).find(": YAML nested too deeply") != std::string::npos);
  std::string binary("version: 1\n\0\xff\xfe", 15);
  CHECK_NOTHROW(ParsePolicy(binary, "p.yaml"));
  // Random mutations of a valid policy, fixed seed and count.
  const std::string base(kBuiltinPolicyYaml);
  std::mt19937 rng(1234);
  const std::string alphabet = "{}[]:,-#&*!|>'\"%@`\n \t?/~0aZ\\";
  for (int round = 0; round < 2000; ++round) {
    std::string text = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) text[rng() % text.size()] = alphabet[rng() % alphabet.size()];
    CHECK_NOTHROW(ParsePolicy(text, "fuzz.yaml"));
  }
}

TEST_CASE("policy digest is sha256 of the bytes", "[policy][parse]") {
  CHECK(PolicyDigest("abc") == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(PolicyDigest("version: 1\n") != PolicyDigest("version: 1\n\n"));
}

TEST_CASE("mode: passthrough is an explicit opt-in", "[policy]") {
  auto parsed = ParsePolicy("version: 1\nmode: passthrough\n", "p.yaml");
  REQUIRE(parsed.ok());
  CHECK(parsed->mode == PolicyMode::kPassthrough);
  CHECK(ParsePolicy("version: 1\n", "p.yaml")->mode == PolicyMode::kAirlock);
  CHECK(StrictestDefaultPolicy().mode == PolicyMode::kAirlock);
  CHECK(Error("version: 1\nmode: off\n") ==
        "p.yaml:2:7: mode: unknown value \"off\" (want airlock or passthrough)");
}

TEST_CASE("setup.leftover_secrets: fail by default, scrub on request, nothing else", "[policy][parse]") {
  CHECK(StrictestDefaultPolicy().setup.leftover_secrets == LeftoverSecrets::kFail);
  absl::StatusOr<Policy> p = ParsePolicy("version: 1\nsetup: {leftover_secrets: scrub}\n", "p.yaml");
  REQUIRE(p.ok());
  CHECK(p->setup.leftover_secrets == LeftoverSecrets::kScrub);
  CHECK(Error("version: 1\nsetup: {leftover_secrets: ignore}\n").find("setup.leftover_secrets") != std::string::npos);
}

TEST_CASE("resources and the execution deadline: values, defaults, errors", "[policy][parse]") {
  const Policy defaults = StrictestDefaultPolicy();
  CHECK(defaults.resources.pids == 512);
  CHECK(defaults.resources.memory_bytes == kGiB);
  CHECK(defaults.resources.memory_swap_bytes == kGiB);
  CHECK(defaults.resources.cpu_millis == 1000);
  CHECK(defaults.resources.workspace_bytes == kGiB);
  CHECK(defaults.execution.timeout == absl::Hours(2));

  absl::StatusOr<Policy> p = ParsePolicy(
      "version: 1\nresources: {pids: 64, memory: 512Mi, cpus: 0.25, workspace: 1Gi}\nexecution: {timeout: 45m}\n", "p.yaml");
  REQUIRE(p.ok());
  CHECK(p->resources.pids == 64);
  CHECK(p->resources.memory_bytes == 512 * kMiB);
  CHECK(p->resources.memory_swap_bytes == 512 * kMiB);  // follows memory: no swap
  CHECK(p->resources.cpu_millis == 250);
  CHECK(p->resources.workspace_bytes == kGiB);
  CHECK(p->execution.timeout == absl::Minutes(45));

  absl::StatusOr<Policy> swap = ParsePolicy("version: 1\nresources: {memory: 1Gi, memory_swap: 3Gi, cpus: 3}\n", "p.yaml");
  REQUIRE(swap.ok());
  CHECK(swap->resources.memory_swap_bytes == 3 * kGiB);
  CHECK(swap->resources.cpu_millis == 3000);
  absl::StatusOr<Policy> none = ParsePolicy("version: 1\nexecution: {timeout: none}\n", "p.yaml");
  REQUIRE(none.ok());
  CHECK(none->execution.timeout == absl::InfiniteDuration());

  CHECK(Error("version: 1\nresources: {pids: 0}\n") == "p.yaml:2:19: resources.pids: must be between 1 and 1000000, got 0");
  CHECK(Error("version: 1\nresources: {pids: lots}\n") ==
        "p.yaml:2:19: resources.pids: want a whole number, e.g. 1024, got \"lots\"");
  CHECK(Error("version: 1\nresources: {cpus: 0.001}\n") == "p.yaml:2:19: resources.cpus: must be at least 0.01");
  CHECK(Error("version: 1\nresources: {cpus: two}\n") ==
        "p.yaml:2:19: resources.cpus: want a number of cores, e.g. 2 or 0.5, got \"two\"");
  CHECK(Error("version: 1\nresources: {memory: 2Gi, memory_swap: 1Gi}\n").find(
            "resources.memory_swap: memory_swap (RAM + swap) must be at least memory") != std::string::npos);
  CHECK(Error("version: 1\nresources: {disk: 1Gi}\n").find("resources.disk: unknown key") != std::string::npos);
  CHECK(Error("version: 1\nexecution: {timeout: 0s}\n").find("execution.timeout") != std::string::npos);
}

TEST_CASE("network.proxy: defaults, values and canonical hosts", "[policy][parse][proxy]") {
  absl::StatusOr<Policy> p = ParsePolicy(R"(version: 1
network:
  execution: proxy
  proxy:
    preset: common-dependencies
    allow: [Docs.Python.ORG., "*.Example.com", 198.18.0.2, "[2001:DB8::1]"]
)", "p.yaml");
  REQUIRE(p.ok());
  CHECK(p->network.execution == ExecutionNetwork::kProxy);
  CHECK(UsesProxy(p->network));
  const Proxy& proxy = p->network.proxy;
  CHECK(proxy.preset == ProxyPreset::kCommonDependencies);
  CHECK(proxy.allow == std::vector<std::string>{"docs.python.org", "*.example.com", "198.18.0.2", "[2001:db8::1]"});
  CHECK(proxy.methods == std::vector<std::string>{"GET", "HEAD", "OPTIONS"});
  CHECK_FALSE(proxy.setup_methods.has_value());  // every method during setup
  CHECK(proxy.ports == std::vector<uint16_t>{80, 443});
  CHECK(proxy.limits == ProxyLimits{});

  absl::StatusOr<Policy> full = ParsePolicy(R"(version: 1
network:
  setup: {uplink: proxy}
  proxy:
    allow: [registry.npmjs.org]
    methods: [GET]
    setup_methods: [GET, HEAD]
    ports: [443]
    limits: {requests: 10, bytes_up: 1Mi, bytes_down: 2Gi, connections: 4}
)", "p.yaml");
  REQUIRE(full.ok());
  CHECK(full->network.setup.uplink.kind == UplinkKind::kProxy);
  CHECK(full->network.execution == ExecutionNetwork::kDeny);
  CHECK(UsesProxy(full->network));
  CHECK(full->network.proxy.setup_methods == std::vector<std::string>{"GET", "HEAD"});
  CHECK(full->network.proxy.ports == std::vector<uint16_t>{443});
  CHECK(full->network.proxy.limits == ProxyLimits{10, kMiB, 2 * kGiB, 4});
  CHECK(ToString(full->network.setup.uplink) == "proxy");
}

TEST_CASE("network.proxy: every mistake is an error at its place", "[policy][parse][proxy][errors]") {
  const std::string head = "version: 1\nnetwork:\n  execution: proxy\n  proxy:\n";
  CHECK(Error("version: 1\nnetwork: {execution: proxy}\n") ==
        "p.yaml:2:10: network.proxy: the proxy would allow nothing: list hosts in network.proxy.allow or pick a preset "
        "(common-dependencies, all)");
  CHECK(Error("version: 1\nnetwork:\n  proxy: {preset: all}\n") ==
        "p.yaml:3:3: network.proxy: set but unused: network.execution is deny and the setup uplink is not proxy");
  CHECK(Error(head + "    allow: [\"*\"]\n") ==
        "p.yaml:5:13: network.proxy.allow[0]: \"*\" alone is the preset \"all\" (network.proxy.preset: all)");
  CHECK(Error(head + "    allow: [\"*.com\"]\n") ==
        "p.yaml:5:13: network.proxy.allow[0]: \"*.com\" is too broad (name at least two labels, e.g. *.example.com)");
  CHECK(Error(head + "    allow: [a.example.com, A.Example.Com.]\n") ==
        "p.yaml:5:28: network.proxy.allow[1]: \"a.example.com\" is listed twice (first at line 5)");
  CHECK(Error(head + "    allow: [127.1]\n").find("is not a dotted-quad IPv4 address") != std::string::npos);
  CHECK(Error(head + "    allow: [\"2001:db8::1\"]\n").find("in brackets") != std::string::npos);
  CHECK(Error(head + "    allow: [\"ex ample.com\"]\n").find("bad host name") != std::string::npos);
  CHECK(Error(head + "    allow: [\"a.*.example.com\"]\n").find("may only start the pattern") != std::string::npos);
  CHECK(Error(head + "    allow: [x.org]\n    methods: [get]\n").find("unknown HTTP method \"get\"") != std::string::npos);
  CHECK(Error(head + "    allow: [x.org]\n    methods: [CONNECT]\n").find("CONNECT is not a method") != std::string::npos);
  CHECK(Error(head + "    allow: [x.org]\n    methods: []\n").find("empty method list") != std::string::npos);
  CHECK(Error(head + "    allow: [x.org]\n    methods: [GET, GET]\n").find("GET") != std::string::npos);
  CHECK(Error(head + "    allow: [x.org]\n    ports: [0]\n") != "(parsed)");
  CHECK(Error(head + "    allow: [x.org]\n    ports: [65536]\n") != "(parsed)");
  CHECK(Error(head + "    allow: [x.org]\n    ports: [443, 443]\n").find("port 443 is listed twice") != std::string::npos);
  CHECK(Error(head + "    allow: [x.org]\n    ports: []\n").find("empty port list") != std::string::npos);
  CHECK(Error(head + "    allow: [x.org]\n    limits: {requests: 0}\n") != "(parsed)");
  CHECK(Error(head + "    allow: [x.org]\n    limits: {sockets: 3}\n").find("unknown key") != std::string::npos);
  CHECK(Error(head + "    allow: [x.org]\n    preset: most\n").find("want none, common-dependencies or all") !=
        std::string::npos);
}

TEST_CASE("cache: off without the section, on with defaults when empty", "[policy][parse][cache]") {
  const Cache defaults = StrictestDefaultPolicy().cache;
  CHECK_FALSE(defaults.enabled);
  CHECK(defaults.key_files.empty());
  CHECK(defaults.ttl == absl::Hours(12));
  CHECK(defaults.ttl == kDefaultCacheTtl);
  CHECK(defaults.maintenance.empty());
  CHECK_FALSE(defaults.maintenance_timeout.has_value());
  CHECK(kMinCacheTtl == absl::Minutes(1));
  CHECK(kMaxCacheTtl == absl::Hours(24 * 30));

  absl::StatusOr<Policy> empty = ParsePolicy("version: 1\ncache: {}\n", "p.yaml");
  REQUIRE(empty.ok());
  CHECK(empty->cache.enabled);
  Cache want;
  want.enabled = true;
  CHECK(empty->cache == want);
  // Everything else stays the strictest default.
  Policy rest = *empty;
  rest.cache = Cache{};
  CHECK(rest == StrictestDefaultPolicy());

  absl::StatusOr<Policy> some = ParsePolicy("version: 1\ncache:\n  key_files: []\n", "p.yaml");
  REQUIRE(some.ok());
  CHECK(some->cache == want);
  // Passthrough ignores the policy's sections, this one too.
  absl::StatusOr<Policy> passthrough = ParsePolicy("version: 1\nmode: passthrough\ncache: {}\n", "p.yaml");
  REQUIRE(passthrough.ok());
  CHECK(passthrough->cache.enabled);
}

TEST_CASE("cache: every key", "[policy][parse][cache]") {
  absl::StatusOr<Policy> p = ParsePolicy(R"(version: 1
setup:
  command: [sh, -c, ./setup.sh]
  timeout: 20m
cache:
  key_files: [package-lock.json, requirements.txt, setup.sh, "sub dir/.gitignore", .github/x.yml, "a.git", é/..x]
  ttl: 720h
  maintenance: ["sh", "-c", "npm ci --prefer-offline"]
  maintenance_timeout: 10m
)", "p.yaml");
  INFO(p.status().message());
  REQUIRE(p.ok());
  const Cache& cache = p->cache;
  CHECK(cache.enabled);
  CHECK(cache.key_files == std::vector<std::string>{"package-lock.json", "requirements.txt", "setup.sh",
                                                    "sub dir/.gitignore", ".github/x.yml", "a.git", "é/..x"});
  CHECK(cache.ttl == absl::Hours(24 * 30));
  CHECK(cache.maintenance == std::vector<std::string>{"sh", "-c", "npm ci --prefer-offline"});
  CHECK(cache.maintenance_timeout == absl::Minutes(10));
  CHECK(p->setup.timeout == absl::Minutes(20));
  CHECK(ParsePolicy("version: 1\ncache: {ttl: 1m}\n", "p.yaml")->cache.ttl == absl::Minutes(1));
  CHECK(ParsePolicy("version: 1\ncache: {ttl: 1h30m}\n", "p.yaml")->cache.ttl == absl::Minutes(90));
  CHECK(ParsePolicy("version: 1\ncache: {maintenance_timeout: 24h}\n", "p.yaml")->cache.maintenance_timeout ==
        absl::Hours(24));
  // At most 64 key files, each at most 4096 bytes.
  std::string files;
  for (int i = 0; i < 64; ++i) files += (i ? ", f" : "f") + std::to_string(i);
  CHECK(ParsePolicy("version: 1\ncache: {key_files: [" + files + "]}\n", "p.yaml")->cache.key_files.size() == 64);
  CHECK(ParsePolicy("version: 1\ncache: {key_files: [" + std::string(4096, 'a') + "]}\n", "p.yaml").ok());
}

TEST_CASE("cache: every mistake is an error at its place", "[policy][parse][cache][errors]") {
  const std::string want = " (want a path relative to the repository root, e.g. package-lock.json)";
  auto key_file = [](const std::string& flow_item) {
    return Error("version: 1\ncache: {key_files: [" + flow_item + "]}\n");
  };
  CHECK(key_file("/etc/passwd") == "p.yaml:2:21: cache.key_files[0]: \"/etc/passwd\" is absolute" + want);
  CHECK(key_file("\"\"") == "p.yaml:2:21: cache.key_files[0]: empty path" + want);
  CHECK(key_file("../x") == "p.yaml:2:21: cache.key_files[0]: \"../x\" contains \"..\"" + want);
  CHECK(key_file("a/../b") == "p.yaml:2:21: cache.key_files[0]: \"a/../b\" contains \"..\"" + want);
  CHECK(key_file("..") == "p.yaml:2:21: cache.key_files[0]: \"..\" contains \"..\"" + want);
  CHECK(key_file("./x") == "p.yaml:2:21: cache.key_files[0]: \"./x\" contains \".\"" + want);
  CHECK(key_file("a/./x") == "p.yaml:2:21: cache.key_files[0]: \"a/./x\" contains \".\"" + want);
  CHECK(key_file(".git/config") ==
        "p.yaml:2:21: cache.key_files[0]: \".git/config\" is in the repository's git data (.git)");
  CHECK(key_file("sub/.GIT/HEAD") ==
        "p.yaml:2:21: cache.key_files[0]: \"sub/.GIT/HEAD\" is in the repository's git data (.GIT)");
  CHECK(key_file(".Git") == "p.yaml:2:21: cache.key_files[0]: \".Git\" is in the repository's git data (.Git)");
  CHECK(key_file("a//b") == "p.yaml:2:21: cache.key_files[0]: \"a//b\" has an empty component (a double or trailing "
                            "slash)" + want);
  CHECK(key_file("dir/") == "p.yaml:2:21: cache.key_files[0]: \"dir/\" has an empty component (a double or trailing "
                            "slash)" + want);
  CHECK(key_file("\"a\\0b\"") == "p.yaml:2:21: cache.key_files[0]: the path contains a NUL byte");
  CHECK(key_file("\"a\\nb\"") == "p.yaml:2:21: cache.key_files[0]: the path contains a control character");
  CHECK(key_file("\"a\\x1bb\"") == "p.yaml:2:21: cache.key_files[0]: the path contains a control character");
  CHECK(key_file("\"a\\x7fb\"") == "p.yaml:2:21: cache.key_files[0]: the path contains a control character");
  CHECK(key_file("\"a\\tb\"") == "p.yaml:2:21: cache.key_files[0]: the path contains a control character");
  CHECK(key_file(std::string(4097, 'a')) == "p.yaml:2:21: cache.key_files[0]: path longer than 4096 bytes");
  CHECK(key_file("a, b, a") == "p.yaml:2:27: cache.key_files[2]: duplicate key file \"a\" (first at line 2)");
  CHECK(key_file("[a]") == "p.yaml:2:21: cache.key_files[0]: want a string, got a list");
  CHECK(Error("version: 1\ncache: {key_files: package-lock.json}\n") ==
        "p.yaml:2:20: cache.key_files: want a list of key file names, got \"package-lock.json\"");
  std::string files;
  for (int i = 0; i < 65; ++i) files += (i ? ", f" : "f") + std::to_string(i);
  CHECK(Error("version: 1\ncache: {key_files: [" + files + "]}\n") ==
        "p.yaml:2:20: cache.key_files: too many key files: 65 (at most 64)");

  CHECK(Error("version: 1\ncache: {ttl: 59s}\n") == "p.yaml:2:14: cache.ttl: duration \"59s\" out of range (want 1m to 720h)");
  CHECK(Error("version: 1\ncache: {ttl: 721h}\n") ==
        "p.yaml:2:14: cache.ttl: duration \"721h\" out of range (want 1m to 720h)");
  CHECK(Error("version: 1\ncache: {ttl: 12}\n").find("p.yaml:2:14: cache.ttl: bad duration \"12\"") == 0);
  CHECK(Error("version: 1\ncache: {ttl: none}\n").find("p.yaml:2:14: cache.ttl: bad duration \"none\"") == 0);

  CHECK(Error("version: 1\ncache: {maintenance: []}\n") ==
        "p.yaml:2:22: cache.maintenance: empty command (want e.g. [\"sh\", \"-c\", \"./setup.sh\"], or leave "
        "cache.maintenance out)");
  CHECK(Error("version: 1\ncache: {maintenance: [\"\", x]}\n") ==
        "p.yaml:2:22: cache.maintenance: the program (first word) is empty");
  CHECK(Error("version: 1\ncache: {maintenance: [sh, \"a\\0b\"]}\n") ==
        "p.yaml:2:22: cache.maintenance: an argument contains a NUL byte");
  CHECK(Error("version: 1\ncache: {maintenance: npm ci}\n") ==
        "p.yaml:2:22: cache.maintenance: want a list of strings, got \"npm ci\"");
  CHECK(Error("version: 1\ncache: {maintenance_timeout: 0s}\n") ==
        "p.yaml:2:30: cache.maintenance_timeout: duration \"0s\" out of range (want 1ms to 24h)");
  CHECK(Error("version: 1\ncache: {maintenance_timeout: 25h}\n") ==
        "p.yaml:2:30: cache.maintenance_timeout: duration \"25h\" out of range (want 1ms to 24h)");

  CHECK(Error("version: 1\ncache: {enabled: true}\n") ==
        "p.yaml:2:9: cache.enabled: unknown key (want key_files, ttl, maintenance or maintenance_timeout)");
  CHECK(Error("version: 1\ncache:\n  ttl: 1h\n  ttl: 2h\n") == "p.yaml:4:3: cache.ttl: duplicate key (first at line 3)");
  CHECK(Error("version: 1\ncache:\n") == "p.yaml:2:1: cache: want a map, got nothing");
  CHECK(Error("version: 1\ncache: null\n") == "p.yaml:2:1: cache: want a map, got nothing");
  CHECK(Error("version: 1\ncache: true\n") == "p.yaml:2:8: cache: want a map, got \"true\"");
  CHECK(Error("version: 1\ncache: [package-lock.json]\n") == "p.yaml:2:8: cache: want a map, got a list");
}
