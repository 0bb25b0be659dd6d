// The lazy loader of airlock-grpc.so and the HTTP/2 preface test used by the ttrpc accept path.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "shim/transport/grpc_loader.h"

using airlock::transport::kHttp2Preface;
using airlock::transport::MatchHttp2Preface;
using airlock::transport::PrefaceMatch;

namespace {

const std::string kBuiltModule = std::string(AIRLOCK_BINARY_DIR) + "/lib/airlock-grpc.so";

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      old_ = old;
      had_ = true;
    }
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace

TEST_CASE("HTTP/2 preface is recognised as early as possible", "[grpc][loader]") {
  CHECK(MatchHttp2Preface("") == PrefaceMatch::kPartial);
  CHECK(MatchHttp2Preface("P") == PrefaceMatch::kPartial);
  CHECK(MatchHttp2Preface("PRI * HTTP/2.0\r\n") == PrefaceMatch::kPartial);
  CHECK(MatchHttp2Preface(kHttp2Preface) == PrefaceMatch::kYes);
  // More bytes (the client's SETTINGS frame) behind the preface change nothing.
  CHECK(MatchHttp2Preface(std::string(kHttp2Preface) + std::string("\0\0\x06\x04", 4)) == PrefaceMatch::kYes);
  // A ttrpc frame starts with a 4-byte big-endian length: its first byte is 0.
  CHECK(MatchHttp2Preface(std::string("\0\0\0\x2a\0\0\0\x01\x01\0", 10)) == PrefaceMatch::kNo);
  CHECK(MatchHttp2Preface("PRX") == PrefaceMatch::kNo);
  CHECK(MatchHttp2Preface("GET / HTTP/1.1\r\n") == PrefaceMatch::kNo);
  CHECK(airlock::transport::IsHttp2Preface(kHttp2Preface));
  CHECK_FALSE(airlock::transport::IsHttp2Preface("PRI * HTTP/2.0"));
  CHECK(kHttp2Preface.size() == 24);
}

TEST_CASE("module candidates follow the documented order", "[grpc][loader]") {
  {
    ScopedEnv env("AIRLOCK_GRPC_PLUGIN", "/somewhere/custom.so");
    CHECK(airlock::transport::GrpcModuleCandidates() == std::vector<std::string>{"/somewhere/custom.so"});
  }
  ScopedEnv env("AIRLOCK_GRPC_PLUGIN", nullptr);
  std::vector<std::string> candidates = airlock::transport::GrpcModuleCandidates();
  REQUIRE(candidates.size() == 3);
  // unit_tests lives in build/bin, so the first candidate is the freshly built module, then where
  // an install under any prefix puts it, then the configured install dir.
  CHECK(candidates[0] == std::string(AIRLOCK_BINARY_DIR) + "/bin/../lib/airlock-grpc.so");
  CHECK(candidates[1] == std::string(AIRLOCK_BINARY_DIR) + "/bin/../lib/airlock/airlock-grpc.so");
  CHECK(candidates[2] == std::string(AIRLOCK_PLUGIN_DIR) + "/airlock-grpc.so");
}

TEST_CASE("opening a missing or foreign module fails with a clear error", "[grpc][loader]") {
  auto missing = airlock::transport::OpenGrpcModule("/nonexistent/airlock-grpc.so");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(missing.status().message()), Catch::Contains("/nonexistent/airlock-grpc.so"));

  // A real shared object that is not our module.
  auto foreign = airlock::transport::OpenGrpcModule("libz.so.1");
  REQUIRE_FALSE(foreign.ok());
  CHECK_THAT(std::string(foreign.status().message()), Catch::Contains("not an airlock gRPC transport module"));
}

TEST_CASE("the built module loads and checks the ABI version", "[grpc][loader]") {
  auto create = airlock::transport::OpenGrpcModule(kBuiltModule);
  REQUIRE(create.ok());

  airlock::grpc_plugin::Options options;
  options.dispatch = [](airlock::rpc::CallContext, std::string, airlock::rpc::Reply reply) {
    reply(absl::UnimplementedError("none"));
  };
  options.abi_version = airlock::grpc_plugin::kAbiVersion + 1;
  std::string error;
  CHECK((*create)(&options, &error) == nullptr);
  CHECK_THAT(error, Catch::Contains("ABI version"));

  options.abi_version = airlock::grpc_plugin::kAbiVersion;
  options.dispatch = nullptr;
  error.clear();
  CHECK((*create)(&options, &error) == nullptr);
  CHECK_THAT(error, Catch::Contains("dispatch"));
}

TEST_CASE("LoadGrpcTransport finds the module next to the executable, once", "[grpc][loader]") {
  ScopedEnv env("AIRLOCK_GRPC_PLUGIN", nullptr);
  airlock::grpc_plugin::Options options;
  options.dispatch = [](airlock::rpc::CallContext, std::string, airlock::rpc::Reply reply) {
    reply(absl::UnimplementedError("none"));
  };
  auto first = airlock::transport::LoadGrpcTransport(options);
  REQUIRE(first.ok());
  auto second = airlock::transport::LoadGrpcTransport(options);
  REQUIRE(second.ok());
  CHECK(*first == *second);
  CHECK((*first)->ActiveCalls() == 0);
  // The process-wide transport is never freed; stop its thread so the test leaves nothing running.
  (*first)->Shutdown();
}
