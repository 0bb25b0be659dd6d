// binary:// logging programs, started as containerd's NewBinaryIO does.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <catch2/catch.hpp>

#include "shim/base/subprocess.h"
#include "shim/io/logger.h"
#include "shim/io/process_io.h"
#include "shim/io/stdio_uri.h"
#include "test/unit/io_test_util.h"

using namespace airlock;
using namespace airlock::io;
using namespace airlock::io::testing;

namespace {

std::string WriteScript(const TempDir& dir, const std::string& name, const std::string& body) {
  std::string path = dir / name;
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755));
  REQUIRE(fd);
  std::string text = "#!/bin/sh\n" + body;
  REQUIRE(::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  return path;
}

// Waits (bounded) for a file to appear.
bool AppearsWithin(const std::string& path, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (access(path.c_str(), F_OK) == 0) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

// A logger: records its arguments and environment, says it is ready by closing fd 5, copies
// fd 3 and fd 4 to files until EOF.
const char* kLogger = R"(dir="$2"
echo "id=$CONTAINER_ID ns=$CONTAINER_NAMESPACE argc=$# args=$*" > "$dir/args"
exec 5>&-
/bin/cat <&3 > "$dir/stdout" &
/bin/cat <&4 > "$dir/stderr"
wait
: > "$dir/done"
)";

}  // namespace

TEST_CASE("binary:// starts the logging program with fds 3, 4, 5 and its environment", "[io][binary]") {
  TempDir dir;
  ReactorThread rt;
  std::string logger = WriteScript(dir, "logger.sh", kLogger);
  std::string uri = "binary://" + logger + "?dir=" + dir.path() + "&level=debug";
  auto io = ProcessIo::Create(rt.reactor(),
                              {.stdout_path = uri, .stderr_path = uri, .container_id = "ctr-1", .ns = "testns"},
                              dir.path());
  REQUIRE(io.ok());
  // Ready means it has run its first lines already.
  CHECK(ReadFile(dir / "args") == "id=ctr-1 ns=testns argc=4 args=dir " + dir.path() + " level debug\n");

  auto child = Spawn({.argv = {"/bin/sh", "-c", "echo to-out; echo to-err >&2"},
                      .fds = {{1, (*io)->child_stdout()}, {2, (*io)->child_stderr()}}});
  REQUIRE(child.ok());
  (*io)->CloseChildEnds();
  auto result = (*child)->Wait(absl::Seconds(30));
  REQUIRE(result.ok());
  CHECK(result->exit.status == 0);
  DrainAndWait(**io);
  REQUIRE(AppearsWithin(dir / "done", absl::Seconds(20)));  // EOF reached the logger
  CHECK(ReadFile(dir / "stdout") == "to-out\n");
  CHECK(ReadFile(dir / "stderr") == "to-err\n");
}

TEST_CASE("binary:// with a terminal gets the console output on fd 3", "[io][binary][terminal]") {
  TempDir dir;
  ReactorThread rt;
  std::string logger = WriteScript(dir, "logger.sh", kLogger);
  std::string uri = "binary://" + logger + "?dir=" + dir.path();
  auto io = ProcessIo::Create(rt.reactor(), {.stdout_path = uri, .terminal = true, .container_id = "c", .ns = "n"},
                              dir.path());
  REQUIRE(io.ok());
  UniqueFd master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  REQUIRE(master);
  REQUIRE(grantpt(master.get()) == 0);
  REQUIRE(unlockpt(master.get()) == 0);
  char name[64];
  REQUIRE(ptsname_r(master.get(), name, sizeof name) == 0);
  UniqueFd slave(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  REQUIRE(slave);
  {
    // runc's side of the console socket
    UniqueFd conn(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = (*io)->console_socket_path();
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(connect(conn.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    struct iovec iov = {name, strlen(name)};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    int fd = master.get();
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    REQUIRE(sendmsg(conn.get(), &msg, 0) > 0);
    master.reset();
  }
  REQUIRE((*io)->ReceiveConsole(absl::Seconds(10)).ok());
  REQUIRE(::write(slave.get(), "on the tty\n", 11) == 11);
  slave.reset();
  DrainAndWait(**io);
  REQUIRE(AppearsWithin(dir / "done", absl::Seconds(20)));
  CHECK(ReadFile(dir / "stdout") == "on the tty\r\n");  // the pty's default ONLCR
  CHECK(ReadFile(dir / "stderr").empty());
}

TEST_CASE("binary:// that never gets ready is a bounded error", "[io][binary]") {
  TempDir dir;
  std::string logger = WriteScript(dir, "slow.sh", "exec /bin/sleep 20\n");
  auto target = ParseStdioUri("binary://" + logger);
  REQUIRE(target.ok());
  auto started = Logger::Start(*target, "c", "n", absl::Milliseconds(200));
  REQUIRE(!started.ok());
  CHECK(absl::IsDeadlineExceeded(started.status()));
}

TEST_CASE("binary:// naming a missing program fails Create", "[io][binary]") {
  TempDir dir;
  ReactorThread rt;
  std::string uri = "binary://" + dir / "missing-logger";
  auto io = ProcessIo::Create(rt.reactor(), {.stdout_path = uri, .stderr_path = uri}, dir.path());
  CHECK(!io.ok());
}
