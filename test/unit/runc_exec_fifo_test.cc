#include "shim/runc/exec_fifo.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/time/clock.h"

using namespace airlock;
using airlock::runc::FifoStart;
using airlock::runc::StartThroughExecFifo;

namespace {

// A state dir with an exec.fifo, as `runc create` leaves it.
struct StateDir {
  std::string path;
  StateDir() {
    char tmpl[] = "/tmp/airlock-fifo-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~StateDir() {
    unlink(fifo().c_str());
    rmdir(path.c_str());
  }
  std::string fifo() const { return path + "/exec.fifo"; }
  void MakeFifo() const { REQUIRE(mkfifo(fifo().c_str(), 0622) == 0); }
  bool HasFifo() const {
    struct stat st;
    return lstat(fifo().c_str(), &st) == 0;
  }
};

// What the fake init does, in runc init's order: open the fifo for writing (blocks until a reader
// comes), write its byte, exec the user's process (the fd is O_CLOEXEC).
struct InitScript {
  int delay_ms = 0;             // before the open
  bool die_before_open = false;
  bool close_without_byte = false;  // then lingers
  bool linger_after_byte = false;   // never execs
};

// A child that follows `script`; killed and reaped by the destructor.
struct FakeInit {
  pid_t pid = -1;
  FakeInit(const std::string& fifo, InitScript script) {
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (script.delay_ms > 0) usleep(static_cast<useconds_t>(script.delay_ms) * 1000);
      if (script.die_before_open) _exit(0);
      int fd = open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) _exit(3);
      if (script.close_without_byte) {
        close(fd);
        sleep(30);
        _exit(0);
      }
      if (write(fd, "0", 1) != 1) _exit(4);
      if (script.linger_after_byte) {
        sleep(30);
        _exit(0);
      }
      execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~FakeInit() {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  std::string Comm() const {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    std::getline(in, comm);
    return comm;
  }
  // Bounded wait until the child sits in its open, waiting for a reader (best effort: either
  // order must work; this makes the "writer first" order the likely one).
  void AwaitBlockedOpen() const {
    for (int i = 0; i < 200; ++i) {
      std::ifstream in("/proc/" + std::to_string(pid) + "/wchan");
      std::string wchan;
      std::getline(in, wchan);
      if (wchan.find("partner") != std::string::npos || wchan.find("fifo") != std::string::npos) return;
      usleep(5000);
    }
  }
  void AwaitZombie() const {
    for (int i = 0; i < 400; ++i) {
      std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      size_t paren = text.rfind(')');
      if (paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z') return;
      usleep(5000);
    }
    FAIL("the fake init did not end");
  }
};

}  // namespace

TEST_CASE("exec fifo start: an init waiting on the fifo execs before the call returns", "[runc][fifo]") {
  StateDir dir;
  dir.MakeFifo();
  FakeInit init(dir.fifo(), {});
  init.AwaitBlockedOpen();
  absl::StatusOr<FifoStart> started = StartThroughExecFifo(dir.path, init.pid, absl::Seconds(30));
  REQUIRE(started.ok());
  CHECK(*started == FifoStart::kStarted);
  CHECK(init.Comm() == "sleep");  // exec'd, as after `runc start`
  CHECK_FALSE(dir.HasFifo());     // runc reads "running" from its absence
}

TEST_CASE("exec fifo start: an init that opens the fifo after the reader came", "[runc][fifo]") {
  StateDir dir;
  dir.MakeFifo();
  FakeInit init(dir.fifo(), {.delay_ms = 150});
  absl::StatusOr<FifoStart> started = StartThroughExecFifo(dir.path, init.pid, absl::Seconds(30));
  REQUIRE(started.ok());
  CHECK(*started == FifoStart::kStarted);
  CHECK(init.Comm() == "sleep");
  CHECK_FALSE(dir.HasFifo());
}

TEST_CASE("exec fifo start: an init that died before its byte is an error, not a wait", "[runc][fifo]") {
  StateDir dir;
  dir.MakeFifo();
  FakeInit init(dir.fifo(), {.die_before_open = true});
  init.AwaitZombie();
  absl::Time t0 = absl::Now();
  absl::StatusOr<FifoStart> started = StartThroughExecFifo(dir.path, init.pid, absl::Seconds(30));
  REQUIRE_FALSE(started.ok());
  CHECK(started.status().message() == "cannot start a container that has stopped");  // runc's words
  CHECK(absl::Now() - t0 < absl::Seconds(20));  // told by the pidfd, not by the deadline
  CHECK(dir.HasFifo());                          // still "created" for runc: delete cleans up
}

TEST_CASE("exec fifo start: an init that closes the fifo without its byte fails the start", "[runc][fifo]") {
  StateDir dir;
  dir.MakeFifo();
  FakeInit init(dir.fifo(), {.delay_ms = 100, .close_without_byte = true});
  absl::StatusOr<FifoStart> started = StartThroughExecFifo(dir.path, init.pid, absl::Seconds(3));
  REQUIRE_FALSE(started.ok());
}

TEST_CASE("exec fifo start: a silent or stuck init ends in the deadline", "[runc][fifo]") {
  StateDir dir;
  dir.MakeFifo();
  SECTION("never opens the fifo") {
    FakeInit init(dir.fifo(), {.delay_ms = 20000});
    absl::StatusOr<FifoStart> started = StartThroughExecFifo(dir.path, init.pid, absl::Milliseconds(300));
    REQUIRE_FALSE(started.ok());
    CHECK(absl::IsDeadlineExceeded(started.status()));
  }
  SECTION("writes its byte and never execs") {
    FakeInit init(dir.fifo(), {.linger_after_byte = true});
    absl::StatusOr<FifoStart> started = StartThroughExecFifo(dir.path, init.pid, absl::Milliseconds(300));
    REQUIRE_FALSE(started.ok());
    CHECK(absl::IsDeadlineExceeded(started.status()));
  }
}

TEST_CASE("exec fifo start: anything but a fifo is left to `runc start`", "[runc][fifo]") {
  StateDir dir;
  pid_t self = getpid();
  SECTION("no fifo (running or stopped container, another runtime's layout)") {
    CHECK(*StartThroughExecFifo(dir.path, self, absl::Seconds(1)) == FifoStart::kNotApplicable);
  }
  SECTION("a regular file") {
    std::ofstream(dir.fifo()) << "0";
    CHECK(*StartThroughExecFifo(dir.path, self, absl::Seconds(1)) == FifoStart::kNotApplicable);
  }
  SECTION("a symlink to a fifo") {
    std::string real = dir.path + "/real";
    REQUIRE(mkfifo(real.c_str(), 0622) == 0);
    REQUIRE(symlink(real.c_str(), dir.fifo().c_str()) == 0);
    CHECK(*StartThroughExecFifo(dir.path, self, absl::Seconds(1)) == FifoStart::kNotApplicable);
    unlink(real.c_str());
  }
  SECTION("no init pid") {
    dir.MakeFifo();
    CHECK(*StartThroughExecFifo(dir.path, 0, absl::Seconds(1)) == FifoStart::kNotApplicable);
  }
}
