#include "policy/sandbox/leftovers.h"

#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using airlock::cgroups::CgroupLocation;
using airlock::sandbox::KillAllButInit;

// The seal kills by the cgroup the task service recorded at Create. A record that does not hold the
// init is not the container's: nothing is killed by it.
TEST_CASE("seal leftovers: a cgroup without the init kills nothing", "[sandbox][leftovers]") {
  char tmpl[] = "/tmp/airlock-cgroup-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  pid_t bystander = fork();
  REQUIRE(bystander >= 0);
  if (bystander == 0) {
    pause();
    _exit(0);
  }
  std::ofstream(dir + "/cgroup.procs") << bystander << "\n";
  CgroupLocation location;
  location.unified = true;
  location.unified_dir = dir;
  REQUIRE(location.ProcsDir() == dir);
  absl::StatusOr<int> killed = KillAllButInit(/*init=*/getpid() + 100000, location, absl::Milliseconds(200));
  CHECK(absl::IsFailedPrecondition(killed.status()));
  CHECK(kill(bystander, 0) == 0);  // still alive
  kill(bystander, SIGKILL);
  waitpid(bystander, nullptr, 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("seal leftovers: only the init left is the common case, and costs no kill", "[sandbox][leftovers]") {
  char tmpl[] = "/tmp/airlock-cgroup-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  std::ofstream(dir + "/cgroup.procs") << getpid() << "\n";
  CgroupLocation location;
  location.unified = true;
  location.unified_dir = dir;
  absl::StatusOr<int> killed = KillAllButInit(getpid(), location, absl::Milliseconds(200));
  REQUIRE(killed.ok());
  CHECK(*killed == 0);
  std::filesystem::remove_all(dir);
}
