// Many Create / Drain / destroy cycles: no fd survives; destruction from any thread is safe.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "shim/io/process_io.h"
#include "test/unit/io_test_util.h"

using namespace airlock;
using namespace airlock::io;
using namespace airlock::io::testing;

namespace {

void SendMaster(const std::string& socket_path, int master) {
  UniqueFd conn(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  REQUIRE(connect(conn.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  char name[] = "/dev/pts/x";
  struct iovec iov = {name, sizeof name - 1};
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
  std::memcpy(CMSG_DATA(c), &master, sizeof master);
  REQUIRE(sendmsg(conn.get(), &msg, 0) > 0);
}

}  // namespace

TEST_CASE("1000 Create/Drain/destroy cycles keep the fd count flat", "[io][leak]") {
  TempDir dir;
  ReactorThread rt;
  std::string in = MakeFifo(dir, "stdin"), out = MakeFifo(dir, "stdout"), err = MakeFifo(dir, "stderr");
  const int before = OpenFdCount();

  for (int i = 0; i < 1000; ++i) {
    auto io = ProcessIo::Create(rt.reactor(), {.stdin_path = in, .stdout_path = out, .stderr_path = err}, dir.path());
    REQUIRE(io.ok());
    if (i % 2 == 0) (*io)->CloseChildEnds();
    if (i % 3 == 0) (*io)->CloseStdin();
    if (i % 5 != 0) DrainAndWait(**io);  // some are destroyed without a drain
  }
  for (int i = 0; i < 100; ++i) {
    auto io = ProcessIo::Create(rt.reactor(), {.stdin_path = in, .stdout_path = out, .terminal = true}, dir.path());
    REQUIRE(io.ok());
    UniqueFd master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    REQUIRE(master);
    REQUIRE(grantpt(master.get()) == 0);
    REQUIRE(unlockpt(master.get()) == 0);
    char name[64];
    REQUIRE(ptsname_r(master.get(), name, sizeof name) == 0);
    UniqueFd slave(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    SendMaster((*io)->console_socket_path(), master.get());
    master.reset();
    REQUIRE((*io)->ReceiveConsole(absl::Seconds(10)).ok());
    REQUIRE((*io)->Resize(80, 24).ok());
    slave.reset();
    if (i % 4 != 0) DrainAndWait(**io);
  }
  rt.RunSync([] {});  // teardowns posted by the destructors have run
  CHECK(OpenFdCount() == before);
}

TEST_CASE("a ProcessIo may be destroyed on the reactor thread, also from its own Drain callback",
          "[io][leak]") {
  TempDir dir;
  ReactorThread rt;
  std::string in = MakeFifo(dir, "stdin"), out = MakeFifo(dir, "stdout");
  const int before = OpenFdCount();
  for (int i = 0; i < 50; ++i) {
    auto created = ProcessIo::Create(rt.reactor(), {.stdin_path = in, .stdout_path = out, .terminal = i % 2 == 1},
                                     dir.path());
    REQUIRE(created.ok());
    std::shared_ptr<ProcessIo> io = std::move(*created);
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> finished = done->get_future();
    rt.RunSync([&] {
      // The service's pattern: the drain callback ends the process' life, and with it the io.
      auto holder = std::make_shared<std::shared_ptr<ProcessIo>>(io);
      ProcessIo* raw = io.get();
      io.reset();
      raw->Drain(absl::Seconds(1), [holder, done] {
        holder->reset();
        done->set_value();
      });
    });
    REQUIRE(finished.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  }
  rt.RunSync([] {});
  CHECK(OpenFdCount() == before);
}
