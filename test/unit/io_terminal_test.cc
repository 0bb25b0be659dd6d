// Terminal stdio: a pty pair made here, its master sent over the console socket as runc does.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "shim/io/console_socket.h"
#include "shim/io/process_io.h"
#include "test/unit/io_test_util.h"

using namespace airlock;
using namespace airlock::io;
using namespace airlock::io::testing;

namespace {

struct Pty {
  UniqueFd master;
  UniqueFd slave;
  std::string name;
};

Pty OpenPty() {
  Pty pty;
  pty.master.reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  REQUIRE(pty.master);
  REQUIRE(grantpt(pty.master.get()) == 0);
  REQUIRE(unlockpt(pty.master.get()) == 0);
  char name[128];
  REQUIRE(ptsname_r(pty.master.get(), name, sizeof name) == 0);
  pty.name = name;
  pty.slave.reset(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  REQUIRE(pty.slave);
  // Raw, so the bytes cross unchanged (no echo, no CR/LF translation).
  struct termios t;
  REQUIRE(tcgetattr(pty.slave.get(), &t) == 0);
  cfmakeraw(&t);
  REQUIRE(tcsetattr(pty.slave.get(), TCSANOW, &t) == 0);
  return pty;
}

// What runc does with --console-socket: connect, send the pty name with the master as SCM_RIGHTS,
// close its copy.
void SendMasterLikeRunc(const std::string& socket_path, Pty& pty) {
  UniqueFd conn(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(conn);
  struct sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(socket_path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  REQUIRE(connect(conn.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  struct iovec iov = {pty.name.data(), pty.name.size()};
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
  int fd = pty.master.get();
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  REQUIRE(sendmsg(conn.get(), &msg, 0) == static_cast<ssize_t>(pty.name.size()));
  pty.master.reset();
}

void WriteAll(int fd, const std::string& text) {
  REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
}

struct winsize SizeOf(int fd) {
  struct winsize ws{};
  REQUIRE(ioctl(fd, TIOCGWINSZ, &ws) == 0);
  return ws;
}

}  // namespace

TEST_CASE("terminal: output and input are copied, resize reaches the slave, Drain delivers the last words",
          "[io][terminal]") {
  TempDir dir;
  ReactorThread rt;
  std::string in = MakeFifo(dir, "stdin"), out = MakeFifo(dir, "stdout");
  UniqueFd out_reader(open(out.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));

  auto io = ProcessIo::Create(rt.reactor(), {.stdin_path = in, .stdout_path = out, .terminal = true}, dir.path());
  REQUIRE(io.ok());
  CHECK((*io)->child_stdin() == -1);
  CHECK((*io)->child_stdout() == -1);
  CHECK((*io)->child_stderr() == -1);
  const std::string socket_path = (*io)->console_socket_path();
  REQUIRE(!socket_path.empty());
  CHECK(socket_path.rfind(dir.path() + "/", 0) == 0);

  REQUIRE((*io)->Resize(100, 30).ok());  // before the console exists: applied when it arrives
  Pty pty = OpenPty();
  SendMasterLikeRunc(socket_path, pty);
  REQUIRE((*io)->ReceiveConsole(absl::Seconds(10)).ok());
  CHECK(access(socket_path.c_str(), F_OK) != 0);  // the socket is gone once used
  CHECK(SizeOf(pty.slave.get()).ws_col == 100);
  CHECK(SizeOf(pty.slave.get()).ws_row == 30);

  const std::string hello = "hello from the container\n";
  WriteAll(pty.slave.get(), hello);
  CHECK(ReadAll(out_reader.get(), absl::Seconds(20), hello.size()) == hello);

  UniqueFd in_writer(open(in.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  REQUIRE(in_writer);
  WriteAll(in_writer.get(), "typed\n");
  CHECK(ReadAll(pty.slave.get(), absl::Seconds(20), 6) == "typed\n");

  REQUIRE((*io)->Resize(132, 43).ok());
  CHECK(SizeOf(pty.slave.get()).ws_col == 132);
  CHECK(SizeOf(pty.slave.get()).ws_row == 43);

  // A bigger burst than the fifo holds, while containerd reads slowly: nothing is lost.
  std::string burst(200 * 1024, 'z');
  std::thread producer([&] {
    size_t off = 0;
    while (off < burst.size()) {
      ssize_t n = ::write(pty.slave.get(), burst.data() + off, std::min<size_t>(4096, burst.size() - off));
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  });
  std::string got = ReadAll(out_reader.get(), absl::Seconds(30), burst.size());
  producer.join();
  CHECK(got.size() == burst.size());

  // The process exits: its last output is still in the pty when the shim learns of the exit.
  WriteAll(pty.slave.get(), "last words\n");
  pty.slave.reset();
  DrainAndWait(**io);
  CHECK(ReadAll(out_reader.get()) == "last words\n");  // then EOF
  in_writer.reset();
}

TEST_CASE("terminal: Drain is bounded when something still holds the slave", "[io][terminal]") {
  TempDir dir;
  ReactorThread rt;
  std::string out = MakeFifo(dir, "stdout");
  UniqueFd out_reader(open(out.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  auto io = ProcessIo::Create(rt.reactor(), {.stdout_path = out, .terminal = true}, dir.path());
  REQUIRE(io.ok());
  Pty pty = OpenPty();
  SendMasterLikeRunc((*io)->console_socket_path(), pty);
  REQUIRE((*io)->ReceiveConsole(absl::Seconds(10)).ok());
  WriteAll(pty.slave.get(), "partial\n");
  DrainAndWait(**io, absl::Milliseconds(300));  // the slave stays open: no EIO, the timeout ends it
  CHECK(ReadAll(out_reader.get()) == "partial\n");
}

TEST_CASE("terminal: CloseStdin delivers what was typed, then hangs the console up", "[io][terminal]") {
  TempDir dir;
  ReactorThread rt;
  std::string in = MakeFifo(dir, "stdin"), out = MakeFifo(dir, "stdout");
  UniqueFd out_reader(open(out.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  auto io = ProcessIo::Create(rt.reactor(), {.stdin_path = in, .stdout_path = out, .terminal = true}, dir.path());
  REQUIRE(io.ok());
  Pty pty = OpenPty();
  SendMasterLikeRunc((*io)->console_socket_path(), pty);
  REQUIRE((*io)->ReceiveConsole(absl::Seconds(10)).ok());

  UniqueFd in_writer(open(in.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  WriteAll(in_writer.get(), "bye\n");
  in_writer.reset();
  CHECK(ReadAll(pty.slave.get(), absl::Seconds(20), 4) == "bye\n");
  (*io)->CloseStdin();
  // Hung up: the slave reads EOF (or EIO) instead of blocking.
  CHECK(ReadAll(pty.slave.get(), absl::Seconds(20)).empty());
  struct pollfd pfd = {pty.slave.get(), POLLIN, 0};
  REQUIRE(poll(&pfd, 1, 0) == 1);
  CHECK((pfd.revents & POLLHUP) != 0);
  DrainAndWait(**io);
  CHECK(ReadAll(out_reader.get()).empty());  // stdout EOF after the drain
}

TEST_CASE("terminal: ReceiveConsole gives up when runc never connects", "[io][terminal]") {
  TempDir dir;
  ReactorThread rt;
  auto io = ProcessIo::Create(rt.reactor(), {.terminal = true}, dir.path());
  REQUIRE(io.ok());
  auto status = (*io)->ReceiveConsole(absl::Milliseconds(100));
  CHECK(absl::IsDeadlineExceeded(status));
}

TEST_CASE("console socket: a work dir too long for sun_path falls back to a temp dir", "[io][terminal]") {
  TempDir dir;
  std::string deep = dir.path();
  while (deep.size() < 120) {
    deep += "/a-rather-long-directory-name";
    REQUIRE(mkdir(deep.c_str(), 0700) == 0);
  }
  auto socket = ConsoleSocket::Listen(deep);
  REQUIRE(socket.ok());
  std::string path = socket->path();
  CHECK(path.size() < sizeof(sockaddr_un::sun_path));
  CHECK(path.rfind(deep, 0) != 0);
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  socket->Close();
  CHECK(access(path.c_str(), F_OK) != 0);
  std::string temp_dir = path.substr(0, path.rfind('/'));
  CHECK(access(temp_dir.c_str(), F_OK) != 0);  // its private directory is gone too
}

TEST_CASE("terminal: output waits while containerd's reader is away, Drain twice calls both", "[io][terminal]") {
  TempDir dir;
  ReactorThread rt;
  std::string out = MakeFifo(dir, "stdout");
  UniqueFd out_reader(open(out.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  auto io = ProcessIo::Create(rt.reactor(), {.stdout_path = out, .terminal = true}, dir.path());
  REQUIRE(io.ok());
  Pty pty = OpenPty();
  SendMasterLikeRunc((*io)->console_socket_path(), pty);
  REQUIRE((*io)->ReceiveConsole(absl::Seconds(10)).ok());
  out_reader.reset();  // containerd restarts
  WriteAll(pty.slave.get(), "while away\n");
  rt.RunSync([] {});
  out_reader.reset(open(out.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));  // and is back
  REQUIRE(out_reader);
  CHECK(ReadAll(out_reader.get(), absl::Seconds(20), 11) == "while away\n");
  WriteAll(pty.slave.get(), "more\n");
  pty.slave.reset();
  DrainAndWait(**io);
  DrainAndWait(**io);  // a second Drain completes at once
  CHECK(ReadAll(out_reader.get()) == "more\n");
}
