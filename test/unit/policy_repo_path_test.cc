#include <catch2/catch.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "policy/repo_path.h"

using namespace airlock::policy;

namespace {

// A temp tree, removed at the end:
//   <base>/root/proj/sub          repositories
//   <base>/root/file              a regular file
//   <base>/root/escape -> ../outside, <base>/root/abs -> /etc, <base>/root/inner -> proj
//   <base>/outside/               a directory outside the root
//   <base>/linkroot -> root       a symlinked root
struct Tree {
  Tree() {
    char tmpl[] = "/tmp/airlock-repo-test.XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    char* real = realpath(tmpl, nullptr);  // in case /tmp itself is a symlink
    REQUIRE(real != nullptr);
    base = real;
    free(real);
    root = base + "/root";
    std::filesystem::create_directories(root + "/proj/sub");
    std::filesystem::create_directories(base + "/outside/secret");
    std::ofstream(root + "/file") << "x";
    std::filesystem::create_directory_symlink("../outside", root + "/escape");
    std::filesystem::create_directory_symlink("/etc", root + "/abs");
    std::filesystem::create_directory_symlink("proj", root + "/inner");
    std::filesystem::create_directory_symlink("root", base + "/linkroot");
  }
  ~Tree() {
    std::error_code ignored;
    std::filesystem::remove_all(base, ignored);
  }
  std::string base, root;
};

}  // namespace

TEST_CASE("a repository under an allowed root resolves to its canonical path", "[policy][repo_path]") {
  Tree t;
  CHECK(*ResolveRepoPath(t.root + "/proj", {t.root}) == t.root + "/proj");
  CHECK(*ResolveRepoPath(t.root + "/proj/", {t.root}) == t.root + "/proj");
  CHECK(*ResolveRepoPath(t.root + "//proj/./sub//", {t.root}) == t.root + "/proj/sub");
  CHECK(*ResolveRepoPath(t.root + "/proj", {"/srv/elsewhere", t.root + "/"}) == t.root + "/proj");

  absl::StatusOr<OpenedRepo> opened = OpenRepoPath(t.root + "/proj", {t.root});
  REQUIRE(opened.ok());
  struct stat by_fd, by_path;
  REQUIRE(fstat(opened->fd.get(), &by_fd) == 0);
  REQUIRE(stat((t.root + "/proj").c_str(), &by_path) == 0);
  CHECK(by_fd.st_ino == by_path.st_ino);
  CHECK(by_fd.st_dev == by_path.st_dev);
  CHECK((fcntl(opened->fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("symlinks are never followed", "[policy][repo_path]") {
  Tree t;
  auto escape = ResolveRepoPath(t.root + "/escape", {t.root});
  CHECK(absl::IsPermissionDenied(escape.status()));
  CHECK(escape.status().message() == "repository (annotation airlock.dev/repo) " + t.root +
                                         "/escape has a symlink in its path: symlinks are never followed, name the "
                                         "real directory");
  CHECK(absl::IsPermissionDenied(ResolveRepoPath(t.root + "/escape/secret", {t.root}).status()));
  CHECK(absl::IsPermissionDenied(ResolveRepoPath(t.root + "/abs", {t.root}).status()));
  CHECK(absl::IsPermissionDenied(ResolveRepoPath(t.root + "/abs/ssh", {t.root}).status()));
  // Even a link that stays inside the root.
  CHECK(absl::IsPermissionDenied(ResolveRepoPath(t.root + "/inner", {t.root}).status()));
  CHECK(absl::IsPermissionDenied(ResolveRepoPath(t.root + "/inner/sub", {t.root}).status()));
}

TEST_CASE("a symlinked root is refused", "[policy][repo_path]") {
  Tree t;
  auto via_link = ResolveRepoPath(t.base + "/linkroot/proj", {t.base + "/linkroot"});
  CHECK(absl::IsPermissionDenied(via_link.status()));
  CHECK(via_link.status().message() == "allowed repository root " + t.base +
                                           "/linkroot has a symlink in its path: symlinks are never followed, name "
                                           "the real directory");
  // The real root does not admit the path through the link either.
  auto other = ResolveRepoPath(t.base + "/linkroot/proj", {t.root});
  CHECK(absl::IsPermissionDenied(other.status()));
  CHECK(other.status().message() == "repository (annotation airlock.dev/repo) " + t.base +
                                        "/linkroot/proj is not under an allowed root (allowed: " + t.root + ")");
}

TEST_CASE("dot-dot tricks are refused before any lookup", "[policy][repo_path]") {
  Tree t;
  auto up = ResolveRepoPath(t.root + "/proj/..", {t.root});
  CHECK(absl::IsInvalidArgument(up.status()));
  CHECK(up.status().message() == "repository (annotation airlock.dev/repo): path \"" + t.root +
                                     "/proj/..\" contains \"..\"");
  CHECK(absl::IsInvalidArgument(ResolveRepoPath(t.root + "/../outside", {t.root}).status()));
  CHECK(absl::IsInvalidArgument(ResolveRepoPath(t.root + "/proj/../../outside", {t.root}).status()));
  CHECK(absl::IsInvalidArgument(ResolveRepoPath("proj", {t.root}).status()));
  CHECK(absl::IsInvalidArgument(ResolveRepoPath("", {t.root}).status()));
}

TEST_CASE("the root itself, outsiders, files and missing paths are refused", "[policy][repo_path]") {
  Tree t;
  auto itself = ResolveRepoPath(t.root, {t.root});
  CHECK(absl::IsPermissionDenied(itself.status()));
  CHECK(itself.status().message() == "repository (annotation airlock.dev/repo) " + t.root +
                                         " is an allowed root itself; name a directory under it");
  CHECK(absl::IsPermissionDenied(ResolveRepoPath(t.root + "/", {t.root}).status()));

  auto outside = ResolveRepoPath(t.base + "/outside", {t.root});
  CHECK(absl::IsPermissionDenied(outside.status()));
  // A sibling whose name merely starts with the root's.
  std::filesystem::create_directories(t.root + "x/proj");
  CHECK(absl::IsPermissionDenied(ResolveRepoPath(t.root + "x/proj", {t.root}).status()));

  auto file = ResolveRepoPath(t.root + "/file", {t.root});
  CHECK(absl::IsFailedPrecondition(file.status()));
  CHECK(file.status().message() == "repository (annotation airlock.dev/repo) " + t.root +
                                       "/file is not a directory (or a component of it is not)");

  auto missing = ResolveRepoPath(t.root + "/missing", {t.root});
  CHECK(absl::IsNotFound(missing.status()));
  CHECK(missing.status().message() == "repository (annotation airlock.dev/repo) " + t.root + "/missing does not exist");
  CHECK(absl::IsNotFound(ResolveRepoPath(t.base + "/gone/proj", {t.base + "/gone"}).status()));

  auto no_roots = ResolveRepoPath(t.root + "/proj", {});
  CHECK(absl::IsFailedPrecondition(no_roots.status()));
}

TEST_CASE("system directories are never repositories", "[policy][repo_path]") {
  for (const char* path : {"/", "/etc", "/etc/ssh", "/proc/self", "/sys/kernel", "/dev/shm", "/run/containerd",
                           "/var/run/x", "/usr/lib", "/boot/grub", "/home", "/tmp", "/var/lib"}) {
    INFO(path);
    CHECK(absl::IsPermissionDenied(ResolveRepoPath(path, {"/"}).status()));
  }
  // A root that is itself a system directory admits nothing.
  CHECK(absl::IsPermissionDenied(ResolveRepoPath("/etc/ssh", {"/etc"}).status()));
}
