// The Relay on its own, with real pipes, fifos and files in a temp dir, driven by poll(2) the way
// the Pump drives it from the Reactor.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <string>
#include <thread>

#include "shim/io/relay.h"
#include "shim/io/stdio_files.h"
#include "test/unit/io_test_util.h"

using namespace airlock;
using namespace airlock::io;
using namespace airlock::io::testing;

namespace {

// Bytes whose position can be read back from them: any loss, duplicate or reordering shows.
std::string Pattern(size_t size, uint32_t seed = 1) {
  std::string data(size, '\0');
  uint32_t x = seed;
  for (size_t i = 0; i < size; ++i) {
    x = x * 1103515245u + 12345u;
    data[i] = static_cast<char>(x >> 24);
  }
  return data;
}

// Writes `data` in uneven chunks (blocking), then closes the write end: the process' side.
std::thread Writer(UniqueFd fd, std::string data) {
  return std::thread([fd = std::move(fd), data = std::move(data)]() mutable {
    size_t off = 0, step = 1;
    while (off < data.size()) {
      size_t n = std::min(data.size() - off, step);
      ssize_t w = ::write(fd.get(), data.data() + off, n);
      if (w <= 0) break;
      off += static_cast<size_t>(w);
      step = step * 7 % 100003 + 1;  // 1 byte .. ~100 KiB
    }
  });
}

// Runs the relay until it is finished or `timeout` passes, waiting as the Pump would.
void Drive(Relay& relay, absl::Duration timeout = absl::Seconds(30)) {
  absl::Time deadline = absl::Now() + timeout;
  while (!relay.Finished() && absl::Now() < deadline) {
    struct pollfd pfd{};
    if (relay.WantsWrite()) {
      if (relay.out_always_ready()) {
        relay.OnWritable();
        continue;
      }
      pfd = {relay.out(), POLLOUT, 0};
    } else if (relay.WantsRead()) {
      pfd = {relay.in(), POLLIN, 0};
    } else {
      FAIL("relay wants nothing but is not finished");
    }
    int r = poll(&pfd, 1, 100);
    if (r <= 0) continue;
    const bool hangup = pfd.revents & (POLLHUP | POLLERR);
    if (pfd.fd == relay.in() && relay.WantsRead()) {
      if (!relay.OnReadable() && hangup && relay.WantsRead()) relay.MarkInputEnded();
    } else if (pfd.fd == relay.out() && relay.WantsWrite()) {
      if (!relay.OnWritable() && hangup) relay.MarkOutputBroken();
    }
  }
}

struct Fifo {
  std::string path;
  UniqueFd reader;       // containerd's
  UniqueFd held_reader;  // the shim's, never read
  UniqueFd writer;       // the shim's, non-blocking
};

Fifo OpenFifo(const TempDir& dir, const std::string& name) {
  Fifo fifo;
  fifo.path = MakeFifo(dir, name);
  fifo.reader.reset(open(fifo.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  auto fds = OpenOutputPath(fifo.path, /*nonblocking=*/true);
  REQUIRE(fds.ok());
  fifo.held_reader = std::move(fds->held_reader);
  fifo.writer = std::move(fds->write);
  REQUIRE(fifo.reader);
  return fifo;
}

}  // namespace

TEST_CASE("relay splice: pipe -> fifo delivers every byte in order, then the input's EOF", "[io][relay]") {
  TempDir dir;
  Fifo fifo = OpenFifo(dir, "out");
  auto pipe = MakePipe(/*shim_end_reads=*/true);
  REQUIRE(pipe.ok());
  const std::string data = Pattern(8 << 20);
  std::thread writer = Writer(std::move(pipe->process_end), data);
  std::string got;
  std::thread reader([&] { got = ReadAll(fifo.reader.get(), absl::Seconds(60), data.size()); });

  Relay relay;
  relay.Attach(pipe->shim_end.get(), fifo.writer.get(), {.splice = true});
  Drive(relay, absl::Seconds(60));
  writer.join();
  reader.join();
  CHECK(relay.splicing());  // no fallback: no byte went through the shim's memory
  CHECK(relay.input_ended());
  CHECK_FALSE(relay.output_broken());
  CHECK(relay.delivered() == data.size());
  REQUIRE(got.size() == data.size());
  CHECK(got == data);
}

TEST_CASE("relay splice: a reader that goes away and comes back loses nothing", "[io][relay]") {
  TempDir dir;
  Fifo fifo = OpenFifo(dir, "out");
  auto pipe = MakePipe(true);
  REQUIRE(pipe.ok());
  const std::string data = Pattern(1 << 20, 7);
  std::thread writer = Writer(std::move(pipe->process_end), data);

  Relay relay;
  relay.Attach(pipe->shim_end.get(), fifo.writer.get(), {.splice = true});
  // containerd reads a little, then restarts: its reader is gone, the shim's held one stays.
  std::string got;
  std::thread reader([&] { got = ReadAll(fifo.reader.get(), absl::Seconds(20), 100000); });
  absl::Time until = absl::Now() + absl::Seconds(2);
  while (absl::Now() < until && got.size() < 100000) {
    struct pollfd pfd = relay.WantsWrite() ? pollfd{relay.out(), POLLOUT, 0} : pollfd{relay.in(), POLLIN, 0};
    if (poll(&pfd, 1, 50) > 0) relay.WantsWrite() ? relay.OnWritable() : relay.OnReadable();
  }
  reader.join();
  REQUIRE(got.size() == 100000);
  fifo.reader.reset();
  // The fifo fills up; the relay then waits for room (no EPIPE: the shim's reader is there).
  for (int i = 0; i < 200 && !relay.WantsWrite(); ++i) {
    struct pollfd pfd = {relay.in(), POLLIN, 0};
    if (poll(&pfd, 1, 20) > 0) relay.OnReadable();
  }
  CHECK(relay.WantsWrite());
  CHECK_FALSE(relay.WantsRead());
  CHECK_FALSE(relay.output_broken());

  // containerd is back: the rest arrives, in order.
  fifo.reader.reset(open(fifo.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  REQUIRE(fifo.reader);
  std::thread rest([&] { got += ReadAll(fifo.reader.get(), absl::Seconds(30), data.size() - 100000); });
  Drive(relay);
  writer.join();
  rest.join();
  CHECK(relay.delivered() == data.size());
  REQUIRE(got.size() == data.size());
  CHECK(got == data);
}

TEST_CASE("relay: without any reader the output breaks with EPIPE, never SIGPIPE", "[io][relay]") {
  TempDir dir;
  Fifo fifo = OpenFifo(dir, "out");
  fifo.reader.reset();
  fifo.held_reader.reset();
  for (bool splice : {true, false}) {
    auto pipe = MakePipe(true);
    REQUIRE(pipe.ok());
    REQUIRE(::write(pipe->process_end.get(), "x", 1) == 1);
    Relay relay;
    relay.Attach(pipe->shim_end.get(), fifo.writer.get(), {.out_may_sigpipe = true, .splice = splice});
    CHECK(relay.OnReadable());
    CHECK(relay.output_broken());
    CHECK(relay.Finished());
  }
}

TEST_CASE("relay copy: pipe -> an appended file; splice into it falls back to copying", "[io][relay]") {
  TempDir dir;
  std::string path = dir / "log";
  for (bool ask_splice : {false, true}) {
    UniqueFd file(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600));
    REQUIRE(file);
    auto pipe = MakePipe(true);
    REQUIRE(pipe.ok());
    const std::string data = Pattern(3 << 20, ask_splice ? 3 : 4);
    std::thread writer = Writer(std::move(pipe->process_end), data);
    Relay relay;
    relay.Attach(pipe->shim_end.get(), file.get(), {.splice = ask_splice});
    relay.SetOutAlwaysReady();  // epoll refuses regular files; the Pump learns it from EPERM
    Drive(relay);
    writer.join();
    CHECK_FALSE(relay.splicing());  // splice(2) refuses O_APPEND files: copied
    CHECK(relay.delivered() == data.size());
    CHECK(ReadFile(path) == data);
  }
}

TEST_CASE("relay: a regular file as input is read to its end; out = -1 discards", "[io][relay]") {
  TempDir dir;
  std::string path = dir / "in";
  const std::string data = Pattern(300000, 9);
  {
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    REQUIRE(::write(fd.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  }
  UniqueFd in(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  auto pipe = MakePipe(/*shim_end_reads=*/false);
  REQUIRE(pipe.ok());
  std::string got;
  std::thread reader([&] { got = ReadAll(pipe->process_end.get(), absl::Seconds(30)); });
  Relay relay;
  relay.Attach(in.get(), pipe->shim_end.get(), {.out_may_sigpipe = true});
  relay.SetInAlwaysReady();
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!relay.Finished() && absl::Now() < deadline) {
    if (relay.WantsRead()) {
      relay.OnReadable();
    } else {
      struct pollfd pfd = {relay.out(), POLLOUT, 0};
      if (poll(&pfd, 1, 100) > 0) relay.OnWritable();
    }
  }
  CHECK(relay.input_ended());
  pipe->shim_end.reset();  // what the Pump does at the input's end: the process reads EOF
  reader.join();
  CHECK(got == data);

  auto discard = MakePipe(true);
  REQUIRE(discard.ok());
  REQUIRE(::write(discard->process_end.get(), data.data(), 4096) == 4096);
  discard->process_end.reset();
  Relay sink;
  sink.Attach(discard->shim_end.get(), -1, {.splice = true});
  Drive(sink);
  CHECK(sink.input_ended());
  CHECK(sink.delivered() == 4096);
}

TEST_CASE("QueuedInPipe counts what waits in a pipe", "[io][relay]") {
  auto pipe = MakePipe(true);
  REQUIRE(pipe.ok());
  CHECK(QueuedInPipe(pipe->shim_end.get()) == 0);
  REQUIRE(::write(pipe->process_end.get(), "12345", 5) == 5);
  CHECK(QueuedInPipe(pipe->shim_end.get()) == 5);
  CHECK(QueuedInPipe(-1) == 0);
}
