#include "policy/sandbox/helper_mount_point.h"

#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using airlock::sandbox::CheckHelperMountPoint;
using airlock::sandbox::RootfsOf;

namespace {
struct Rootfs {
  std::string path;
  Rootfs() {
    char tmpl[] = "/tmp/airlock-rootfs-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~Rootfs() { std::filesystem::remove_all(path); }
  std::string helper() const { return path + "/.airlock"; }
};
}  // namespace

TEST_CASE("helper mount point: absent or a regular file is where runc can bind the helper", "[sandbox][helper]") {
  Rootfs root;
  CHECK(CheckHelperMountPoint(root.path).ok());
  std::ofstream(root.helper()) << "";  // what a committed container of this layout leaves
  CHECK(CheckHelperMountPoint(root.path).ok());
}

TEST_CASE("helper mount point: anything an image could redirect or that cannot take a file bind is refused",
          "[sandbox][helper]") {
  Rootfs root;
  SECTION("a symlink (runc would follow it; setup could repoint it)") {
    std::filesystem::create_directories(root.path + "/opt/x");
    REQUIRE(symlink("/opt/x", root.helper().c_str()) == 0);
    absl::Status status = CheckHelperMountPoint(root.path);
    CHECK(absl::IsFailedPrecondition(status));
    CHECK(std::string(status.message()).find("a symlink at /.airlock") != std::string::npos);
  }
  SECTION("a dangling symlink") {
    REQUIRE(symlink("/nowhere", root.helper().c_str()) == 0);
    CHECK(absl::IsFailedPrecondition(CheckHelperMountPoint(root.path)));
  }
  SECTION("a directory (the old layout's mount point)") {
    REQUIRE(mkdir(root.helper().c_str(), 0755) == 0);
    absl::Status status = CheckHelperMountPoint(root.path);
    CHECK(std::string(status.message()).find("a directory at /.airlock") != std::string::npos);
  }
  SECTION("a fifo") {
    REQUIRE(mkfifo(root.helper().c_str(), 0644) == 0);
    CHECK(absl::IsFailedPrecondition(CheckHelperMountPoint(root.path)));
  }
}

TEST_CASE("helper mount point: the container's root comes from the spec", "[sandbox][helper]") {
  using nlohmann::json;
  CHECK(RootfsOf(json::parse(R"({"root": {"path": "rootfs"}})"), "/b") == "/b/rootfs");
  CHECK(RootfsOf(json::parse(R"({"root": {"path": "/srv/root"}})"), "/b") == "/srv/root");
  CHECK(RootfsOf(json::parse(R"({"root": {}})"), "/b") == "/b/rootfs");
  CHECK(RootfsOf(json::parse(R"({})"), "/b") == "/b/rootfs");
}
