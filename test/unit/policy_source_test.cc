#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "policy/source.h"

using namespace airlock::policy;

namespace {

struct Dir {
  Dir() {
    char tmpl[] = "/tmp/airlock-source-test.XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
    std::filesystem::create_directories(path + "/profiles");
  }
  ~Dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  void Touch(const std::string& name) const { std::ofstream(path + "/" + name) << "version: 1\n"; }
  HostConfig Host() const {
    HostConfig host;
    host.profiles_dir = path + "/profiles";
    host.default_policy = path + "/policy.yaml";
    return host;
  }
  std::string path;
};

}  // namespace

TEST_CASE("policy source order: config path > annotation > host default > built-in", "[policy][source]") {
  Dir d;
  d.Touch("runtime.yaml");
  d.Touch("profiles/npm.yaml");
  d.Touch("policy.yaml");
  const std::map<std::string, std::string> npm = {{"airlock.dev/policy", "npm"}};

  auto source = ResolvePolicySource(d.path + "/runtime.yaml", npm, d.Host());
  REQUIRE(source.ok());
  CHECK(*source == PolicySource{PolicySource::Kind::kRuntimeConfig, d.path + "/runtime.yaml"});

  source = ResolvePolicySource("", npm, d.Host());
  REQUIRE(source.ok());
  CHECK(*source == PolicySource{PolicySource::Kind::kProfile, d.path + "/profiles/npm.yaml"});

  source = ResolvePolicySource("", {{"other", "x"}}, d.Host());
  REQUIRE(source.ok());
  CHECK(*source == PolicySource{PolicySource::Kind::kHostDefault, d.path + "/policy.yaml"});

  std::filesystem::remove(d.path + "/policy.yaml");
  source = ResolvePolicySource("", {}, d.Host());
  REQUIRE(source.ok());
  CHECK(source->kind == PolicySource::Kind::kBuiltin);
  CHECK(source->path.empty());
  CHECK(Describe(*source) == "built-in strictest default");

  HostConfig no_default = d.Host();
  no_default.default_policy.clear();
  CHECK(ResolvePolicySource("", {}, no_default)->kind == PolicySource::Kind::kBuiltin);
}

TEST_CASE("an explicit policy that cannot be found is an error, not a fallback", "[policy][source]") {
  Dir d;
  d.Touch("policy.yaml");
  auto missing = ResolvePolicySource(d.path + "/nope.yaml", {}, d.Host());
  CHECK(absl::IsNotFound(missing.status()));
  CHECK(missing.status().message() ==
        "policy file (runtime options config_path) " + d.path + "/nope.yaml does not exist");

  auto relative = ResolvePolicySource("policy.yaml", {}, d.Host());
  CHECK(absl::IsInvalidArgument(relative.status()));
  CHECK(relative.status().message() ==
        "runtime options config_path: path \"policy.yaml\" is not absolute (want an absolute file path)");

  auto profile = ResolvePolicySource("", {{"airlock.dev/policy", "npm"}}, d.Host());
  CHECK(absl::IsNotFound(profile.status()));
  CHECK(profile.status().message() ==
        "policy profile \"npm\": " + d.path + "/profiles/npm.yaml does not exist");
}

TEST_CASE("profile names are plain names", "[policy][source]") {
  Dir d;
  d.Touch("profiles/ok-name_1.2.yaml");
  CHECK(ResolvePolicySource("", {{"airlock.dev/policy", "ok-name_1.2"}}, d.Host()).ok());
  for (const char* bad : {"", "..", "../policy", "a/b", "/etc/passwd", "a..b", "x y", "a\nb", "npm;rm", "ü"}) {
    INFO(bad);
    auto source = ResolvePolicySource("", {{"airlock.dev/policy", bad}}, d.Host());
    CHECK(absl::IsInvalidArgument(source.status()));
  }
  CHECK(ValidateProfileName("../x").message() ==
        "annotation airlock.dev/policy: bad profile name \"../x\": a name, never a path (want a plain name like npm or "
        "tests)");
  CHECK_FALSE(ValidateProfileName(std::string(129, 'a')).ok());
  CHECK(ValidateProfileName(std::string(128, 'a')).ok());
}
