// The payload the shim hands airlock-init (policy/sandbox/init_payload_format.h): built by the
// shim's side, read by the helper's.
#include "policy/sandbox/init_payload.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "cmd/airlock-init/init_payload.h"
#include "policy/sandbox/init_payload_format.h"
#include "policy/seccomp/execution_filter.h"
#include "policy/seccomp/setup_filter.h"

using airlock::UniqueFd;
using airlock::init::Airlock;
using airlock::init::ReadInitPayload;
using airlock::sandbox::CreateInitPayload;
using airlock::sandbox::EncodeInitPayload;

namespace {

const char kConfig[] =
    R"({"setup": null, "secrets": ["NPM_TOKEN"], "entrypoint": {"args": ["sh"], "env": ["A=b"], "cwd": "/w"}})";

const char kSetupConfig[] =
    R"({"setup": {"command": ["sh", "-c", "npm ci"], "seccomp": "allow-mount"}, "entrypoint": {"args": ["sh"]}})";

std::string Filter() {
  auto bpf = airlock::policy::BuildExecutionFilterBpf({});
  REQUIRE(bpf.ok());
  return *bpf;
}

std::string SetupFilter() {
  auto bpf = airlock::policy::BuildSetupFilterBpf({});
  REQUIRE(bpf.ok());
  return *bpf;
}

// A memfd with `bytes`, sealed like the shim's (or not).
int Memfd(const std::string& bytes, bool sealed) {
  int fd = memfd_create("test-payload", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  if (sealed) REQUIRE(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK) == 0);
  return fd;
}

bool FdOpen(int fd) { return fcntl(fd, F_GETFD) >= 0; }

}  // namespace

TEST_CASE("init payload: the helper reads what the shim built", "[init][payload]") {
  const std::string filter = Filter();
  absl::StatusOr<UniqueFd> payload = CreateInitPayload(kConfig, filter);
  REQUIRE(payload.ok());
  CHECK(fcntl(payload->get(), F_GETFD) == FD_CLOEXEC);
  int seals = fcntl(payload->get(), F_GET_SEALS);
  CHECK((seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)) ==
        (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL));
  CHECK(write(payload->get(), "x", 1) < 0);  // nothing can change it once it left the shim

  int fd = payload->release();
  Airlock airlock;
  std::string error;
  REQUIRE(ReadInitPayload(fd, &airlock, &error));
  CHECK_FALSE(FdOpen(fd));  // closed: nothing the helper execs inherits it
  CHECK(airlock.config.secrets == std::vector<std::string>{"NPM_TOKEN"});
  CHECK(airlock.config.entrypoint_args == std::vector<std::string>{"sh"});
  CHECK(airlock.config.entrypoint_cwd == "/w");
  CHECK(airlock.filter.size() * sizeof(sock_filter) == filter.size());
}

TEST_CASE("init payload: anything but the shim's sealed payload is refused", "[init][payload]") {
  const std::string good = EncodeInitPayload(kConfig, Filter());
  Airlock airlock;
  std::string error;
  auto refused = [&](int fd, const std::string& why) {
    INFO(why);
    CHECK_FALSE(ReadInitPayload(fd, &airlock, &error));
    CHECK_FALSE(FdOpen(fd));
    return error;
  };

  CHECK(refused(Memfd(good, /*sealed=*/false), "unsealed").find("not sealed") != std::string::npos);
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(refused(devnull, "not a memfd").find("not the shim's payload") != std::string::npos);
  CHECK(refused(1000, "no such fd").find("fd 1000") != std::string::npos);

  std::string bad_magic = good;
  bad_magic[0] = 'X';
  CHECK(refused(Memfd(bad_magic, true), "magic").find("not an airlock payload") != std::string::npos);
  CHECK(refused(Memfd(good + "extra", true), "trailing bytes").find("do not add up") != std::string::npos);
  CHECK(refused(Memfd(good.substr(0, good.size() - 8), true), "short").find("do not add up") != std::string::npos);
  CHECK(refused(Memfd(good.substr(0, 10), true), "no header").find("bytes") != std::string::npos);
  CHECK(refused(Memfd(EncodeInitPayload(R"({"bogus": 1})", Filter()), true), "config").find("config: unknown key") !=
        std::string::npos);
  CHECK(refused(Memfd(EncodeInitPayload(kConfig, "12345"), true), "filter").find("execution filter") !=
        std::string::npos);
}

TEST_CASE("init payload: the setup filter travels with the execution filter, and setup never runs without it",
          "[init][payload]") {
  const std::string filter = Filter();
  const std::string setup_filter = SetupFilter();
  CHECK(setup_filter != filter);
  // Format 2: a 20-byte header with three lengths.
  const std::string bytes = EncodeInitPayload(kSetupConfig, filter, setup_filter);
  CHECK(bytes.compare(0, 8, "ALPAYLD2") == 0);
  CHECK(bytes.size() == airlock::init_payload::kHeaderSize + std::string(kSetupConfig).size() + filter.size() +
                            setup_filter.size());

  absl::StatusOr<UniqueFd> payload = CreateInitPayload(kSetupConfig, filter, setup_filter);
  REQUIRE(payload.ok());
  Airlock airlock;
  std::string error;
  REQUIRE(ReadInitPayload(payload->release(), &airlock, &error));
  CHECK(airlock.config.has_setup);
  CHECK(airlock.config.setup_mount_allowed);
  CHECK(airlock.filter.size() * sizeof(sock_filter) == filter.size());
  CHECK(airlock.setup_filter.size() * sizeof(sock_filter) == setup_filter.size());
  // The two programs are not swapped: the setup one is where the setup filter's bytes are.
  CHECK(std::string(reinterpret_cast<const char*>(airlock.setup_filter.data()), setup_filter.size()) == setup_filter);

  // A setup command without its filter is refused before anything runs.
  CHECK_FALSE(ReadInitPayload(Memfd(EncodeInitPayload(kSetupConfig, filter), true), &airlock, &error));
  CHECK(error == "setup filter: missing, and the config has a setup command");
  CHECK_FALSE(ReadInitPayload(Memfd(EncodeInitPayload(kSetupConfig, filter, "1234567"), true), &airlock, &error));
  CHECK(error.rfind("setup filter: not a seccomp BPF program", 0) == 0);
  // No setup, no setup filter needed.
  REQUIRE(ReadInitPayload(Memfd(EncodeInitPayload(kConfig, filter), true), &airlock, &error));
  CHECK(airlock.setup_filter.empty());
  // The helper's config says strict or allow-mount, nothing else.
  const char bad_mode[] = R"({"setup": {"command": ["true"], "seccomp": "none"}, "entrypoint": {"args": ["sh"]}})";
  CHECK_FALSE(ReadInitPayload(Memfd(EncodeInitPayload(bad_mode, filter, setup_filter), true), &airlock, &error));
  CHECK(error == "config: setup.seccomp must be \"strict\" or \"allow-mount\"");
}

TEST_CASE("init payload: a config too large for the payload is an error at Create", "[init][payload]") {
  std::string huge(airlock::init_payload::kMaxBytes, 'x');
  absl::StatusOr<UniqueFd> payload = CreateInitPayload(huge, Filter());
  REQUIRE_FALSE(payload.ok());
  CHECK(absl::IsInvalidArgument(payload.status()));
}
