#include "shim/runc/runc_version.h"

#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

using airlock::runc::ExecFifoStartMatches;
using airlock::runc::ExecFifoStartSupported;
using airlock::runc::ParseRuncVersion;

TEST_CASE("runc version: parsed from `runc --version`", "[runc][version]") {
  auto v = ParseRuncVersion("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n");
  REQUIRE(v.has_value());
  CHECK((v->major == 1 && v->minor == 1 && v->patch == 5));
  v = ParseRuncVersion("runc version 1.2.0-rc.1\n");
  REQUIRE(v.has_value());
  CHECK((v->major == 1 && v->minor == 2 && v->patch == 0));
  CHECK_FALSE(ParseRuncVersion("crun version 1.8.1\n").has_value());
  CHECK_FALSE(ParseRuncVersion("").has_value());
  CHECK_FALSE(ParseRuncVersion("runc version x.y\n").has_value());
}

TEST_CASE("runc version: the exec fifo start copies runc 1.0 to 1.4 only", "[runc][version]") {
  CHECK(ExecFifoStartMatches({1, 0, 0}));
  CHECK(ExecFifoStartMatches({1, 1, 5}));
  CHECK(ExecFifoStartMatches({1, 4, 2}));
  CHECK_FALSE(ExecFifoStartMatches({1, 5, 0}));  // runs poststart hooks in `start`
  CHECK_FALSE(ExecFifoStartMatches({2, 0, 0}));
  CHECK_FALSE(ExecFifoStartMatches({0, 9, 0}));
}

TEST_CASE("runc version: asked once per binary, asked again when the binary changes", "[runc][version]") {
  char tmpl[] = "/tmp/airlock-runc-version-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  const std::string binary = dir + "/runc";
  const std::string asked = dir + "/asked";
  const std::string cache = dir + "/cache";
  auto write_runc = [&](const std::string& version) {
    std::string tmp = binary + ".new";
    std::ofstream(tmp) << "#!/bin/sh\necho x >> " << asked << "\necho 'runc version " << version << "'\n";
    REQUIRE(chmod(tmp.c_str(), 0755) == 0);
    REQUIRE(rename(tmp.c_str(), binary.c_str()) == 0);  // a new inode, as a package upgrade makes
  };
  auto times_asked = [&] {
    std::ifstream in(asked);
    int n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  };
  write_runc("1.1.5");
  CHECK(ExecFifoStartSupported(binary, cache));
  CHECK(ExecFifoStartSupported(binary, cache));
  CHECK(times_asked() == 1);
  write_runc("1.5.0");
  CHECK_FALSE(ExecFifoStartSupported(binary, cache));
  CHECK(times_asked() == 2);
  CHECK_FALSE(ExecFifoStartSupported(dir + "/missing", cache));
  CHECK_FALSE(ExecFifoStartSupported("no-such-runc-in-path", cache));
  std::filesystem::remove_all(dir);
}
