#include "policy/sandbox/secret_sweep.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "io_test_util.h"

using airlock::Secret;
using airlock::UniqueFd;
using airlock::io::testing::TempDir;
using namespace airlock::sandbox;

namespace {

const std::vector<Secret> kSecrets = {{"NPM_TOKEN", "npm_0123456789abcdef0123"}};

void Write(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

SweepPlace Place(const std::string& dir, const std::string& label, SweepPlace::Action action = SweepPlace::Action::kSearch) {
  SweepPlace place;
  place.label = label;
  place.dir.reset(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(place.dir);
  place.action = action;
  return place;
}

std::string Found(const SweepResult& r) { return absl::StrJoin(r.found, "\n"); }

}  // namespace

TEST_CASE("secret sweep finds values raw and encoded, in contents, names and link targets") {
  TempDir t;
  const std::string value = kSecrets[0].value;
  Write(t / "home/.npmrc", "//registry/:_authToken=" + value + "\n");
  Write(t / "cache/b64", absl::Base64Escape(value));
  Write(t / "clean", "nothing here");
  Write(t / ("name-" + value), "");
  REQUIRE(symlink(("/nowhere/" + value).c_str(), (t / "link").c_str()) == 0);
  std::vector<SweepPlace> places;
  places.push_back(Place(t.path(), "rootfs"));
  absl::StatusOr<SweepResult> r = SweepForSecrets(places, kSecrets, /*scrub=*/false);
  REQUIRE(r.ok());
  const std::string found = Found(*r);
  CHECK(absl::StrContains(found, "rootfs: home/.npmrc holds NPM_TOKEN"));
  CHECK(absl::StrContains(found, "rootfs: cache/b64 (base64) holds NPM_TOKEN"));
  CHECK(absl::StrContains(found, "rootfs: link holds NPM_TOKEN"));
  CHECK(absl::StrContains(found, "(a path holding NPM_TOKEN)"));
  CHECK_FALSE(absl::StrContains(found, "clean"));
  CHECK_FALSE(absl::StrContains(found, value));  // never the value
  CHECK(r->removed.empty());
  CHECK(std::filesystem::exists(t / "home/.npmrc"));  // fail mode removes nothing
}

TEST_CASE("secret sweep never follows a symlink out of the place") {
  TempDir t;
  TempDir outside;
  Write(outside / "host-file", kSecrets[0].value);
  std::filesystem::create_directories(t / "in");
  REQUIRE(symlink(outside.path().c_str(), (t / "in/dir-link").c_str()) == 0);
  REQUIRE(symlink((outside / "host-file").c_str(), (t / "in/file-link").c_str()) == 0);
  std::vector<SweepPlace> places;
  places.push_back(Place(t.path(), "tmpfs /tmp"));
  absl::StatusOr<SweepResult> r = SweepForSecrets(places, kSecrets, /*scrub=*/true);
  REQUIRE(r.ok());
  CHECK(r->found.empty());
  CHECK(r->files_read == 0);
  CHECK(std::filesystem::exists(outside / "host-file"));
}

TEST_CASE("secret sweep scrub removes exactly the files that hold a value, through remove_root") {
  TempDir t;
  Write(t / "a/leak", "x" + kSecrets[0].value + "y");
  Write(t / "a/keep", "fine");
  Write(t / "split", std::string(65530, 'z') + kSecrets[0].value);  // across the 64 KiB read
  std::vector<SweepPlace> places;
  places.push_back(Place(t.path(), "workspace /workspace"));
  absl::StatusOr<SweepResult> r = SweepForSecrets(places, kSecrets, /*scrub=*/true);
  REQUIRE(r.ok());
  CHECK(r->removed.size() == 2);
  CHECK_FALSE(std::filesystem::exists(t / "a/leak"));
  CHECK_FALSE(std::filesystem::exists(t / "split"));
  CHECK(std::filesystem::exists(t / "a/keep"));
}

TEST_CASE("secret sweep reads only files changed since the given time") {
  TempDir t;
  Write(t / "old", kSecrets[0].value);  // the repository's own file, before the sandbox
  SweepPlace place = Place(t.path(), "workspace /workspace");
  place.changed_since = absl::Now() + absl::Seconds(3600);
  std::vector<SweepPlace> places;
  places.push_back(std::move(place));
  absl::StatusOr<SweepResult> r = SweepForSecrets(places, kSecrets, false);
  REQUIRE(r.ok());
  CHECK(r->found.empty());
  CHECK(r->files_read == 0);
}

TEST_CASE("secret sweep empties a place without crossing into a mount, even with no secrets") {
  TempDir t;
  Write(t / "shm/note", "from setup");
  Write(t / "shm/deep/er/file", "x");
  REQUIRE(symlink("/", (t / "shm/root").c_str()) == 0);
  std::vector<SweepPlace> places;
  places.push_back(Place(t / "shm", "tmpfs /dev/shm (not in the policy)", SweepPlace::Action::kEmpty));
  absl::StatusOr<SweepResult> r = SweepForSecrets(places, {}, false);
  REQUIRE(r.ok());
  CHECK(std::filesystem::is_empty(t / "shm"));
  REQUIRE(r->emptied.size() == 1);
  CHECK(r->emptied[0] == "tmpfs /dev/shm (not in the policy) (3 entries)");
}

TEST_CASE("secret sweep fails instead of searching in part past its bounds") {
  TempDir t;
  for (int i = 0; i < 20; ++i) Write(t / ("f" + std::to_string(i)), "data");
  {
    std::vector<SweepPlace> places;
    places.push_back(Place(t.path(), "rootfs"));
    absl::StatusOr<SweepResult> r = SweepForSecrets(places, kSecrets, false, {.max_entries = 10});
    REQUIRE_FALSE(r.ok());
    CHECK(absl::StrContains(r.status().message(), "more than 10 entries"));
  }
  {
    std::vector<SweepPlace> places;
    places.push_back(Place(t.path(), "rootfs"));
    absl::StatusOr<SweepResult> r = SweepForSecrets(places, kSecrets, false, {.max_bytes = 40});
    REQUIRE_FALSE(r.ok());
    CHECK(absl::StrContains(r.status().message(), "more than 40 bytes"));
  }
}
