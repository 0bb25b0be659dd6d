#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>

#include "policy/host_names.h"
#include "policy/proxy_presets.h"

using namespace airlock::policy;

TEST_CASE("host names have one canonical form", "[policy][proxy]") {
  CHECK(*CanonicalHostName("Docs.Python.ORG.") == "docs.python.org");
  CHECK(*CanonicalHostName("a_b.example") == "a_b.example");
  CHECK(*CanonicalHostName("198.18.0.2") == "198.18.0.2");
  CHECK(*CanonicalHostName("[2001:DB8:0:0::1]") == "[2001:db8::1]");
  CHECK(*CanonicalHostName("[::ffff:127.0.0.1]") == "[::ffff:127.0.0.1]");
  CHECK(IsIpLiteral("198.18.0.2"));
  CHECK(IsIpLiteral("[::1]"));
  CHECK_FALSE(IsIpLiteral("example.com"));
  // Numeric spellings a resolver would read as another address are no names either.
  for (const char* bad : {"", ".", "127.1", "0x7f.0.0.1", "010.0.0.1", "1.2.3.4.5", "256.0.0.1", "2130706433",
                          "::1", "[::1", "[fe80::1%eth0]", "-a.example", "a-.example", "a..example", "exa mple.com",
                          "exa\nmple.com", "ex\x01.com", "ex%2e.com", "*.example.com", "a/b.com", "a@b.com", "0x7f.1",
                          "a.0x10", "example.123"}) {
    INFO(bad);
    CHECK_FALSE(CanonicalHostName(bad).ok());
  }
  CHECK_FALSE(CanonicalHostName(std::string(64, 'a') + ".com").ok());
  CHECK(CanonicalHostName(std::string(63, 'a') + ".com").ok());
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  CHECK_FALSE(CanonicalHostName(long_name + "com").ok());  // 259 > 253
}

TEST_CASE("allowlist patterns match exact names and names under a suffix", "[policy][proxy]") {
  CHECK(*CanonicalHostPattern("*.Example.COM") == "*.example.com");
  CHECK(HostMatches("*.example.com", "a.example.com"));
  CHECK(HostMatches("*.example.com", "a.b.example.com"));
  CHECK_FALSE(HostMatches("*.example.com", "example.com"));
  CHECK_FALSE(HostMatches("*.example.com", "badexample.com"));
  CHECK_FALSE(HostMatches("*.example.com", "example.com.evil.org"));
  CHECK(HostMatches("example.com", "example.com"));
  CHECK_FALSE(HostMatches("example.com", "a.example.com"));
  CHECK(HostMatches("198.18.0.2", "198.18.0.2"));
  CHECK_FALSE(HostMatches("*.0.2", "198.18.0.2"));
  CHECK_FALSE(CanonicalHostPattern("*").ok());
  CHECK_FALSE(CanonicalHostPattern("*.com").ok());
  CHECK_FALSE(CanonicalHostPattern("*.198.18.0.2").ok());
  CHECK_FALSE(CanonicalHostPattern("a*.example.com").ok());
  CHECK_FALSE(CanonicalHostPattern("*.*.example.com").ok());
}

TEST_CASE("host lists: comments, blank lines, an error names its line", "[policy][proxy]") {
  absl::StatusOr<std::vector<std::string>> list = ParseHostList("# c\n\n  PyPI.org  # registry\n*.example.com\n");
  REQUIRE(list.ok());
  CHECK(*list == std::vector<std::string>{"pypi.org", "*.example.com"});
  absl::StatusOr<std::vector<std::string>> bad = ParseHostList("pypi.org\n\nbad name\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).rfind("line 3: ", 0) == 0);
}

TEST_CASE("the common-dependencies preset is the examples file, built in", "[policy][proxy]") {
  const std::vector<std::string>& hosts = PresetHosts(ProxyPreset::kCommonDependencies);
  CHECK(hosts.size() >= 30);
  for (const char* name : {"pypi.org", "files.pythonhosted.org", "registry.npmjs.org", "crates.io", "github.com"}) {
    INFO(name);
    CHECK(std::find(hosts.begin(), hosts.end(), name) != hosts.end());
  }
  CHECK(PresetHosts(ProxyPreset::kNone).empty());
  CHECK(PresetHosts(ProxyPreset::kAll).empty());
  std::ifstream in(std::string(AIRLOCK_SOURCE_DIR) + "/examples/proxy/common-dependencies.txt");
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(file == std::string(CommonDependenciesText()));
}
