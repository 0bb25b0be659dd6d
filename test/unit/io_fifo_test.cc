// Non-terminal stdio with real fifos and real child processes.
#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "shim/base/subprocess.h"
#include "shim/io/process_io.h"
#include "test/unit/io_test_util.h"

using namespace airlock;
using namespace airlock::io;
using namespace airlock::io::testing;

namespace {

std::unique_ptr<Child> SpawnWith(ProcessIo& io, std::vector<std::string> argv) {
  SpawnOptions options{.argv = std::move(argv)};
  if (io.child_stdin() >= 0) options.fds.emplace_back(0, io.child_stdin());
  if (io.child_stdout() >= 0) options.fds.emplace_back(1, io.child_stdout());
  if (io.child_stderr() >= 0) options.fds.emplace_back(2, io.child_stderr());
  auto child = Spawn(options);
  REQUIRE(child.ok());
  return std::move(*child);
}

int ExitOf(Child& child) {
  auto result = child.Wait(absl::Seconds(30));
  REQUIRE(result.ok());
  return result->exit.status;
}

bool FdFlagsCloexec(int fd) { return fd < 0 || (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

// What /proc/self/fd/N says: "pipe:[123]" for a pipe, a path for a fifo or file.
std::string LinkOf(int fd) {
  char buf[4096];
  ssize_t n = readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

bool SameInode(int fd, const std::string& path) {
  struct stat a, b;
  return fstat(fd, &a) == 0 && stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

TEST_CASE("stdout and stderr: the process gets pipes, never containerd's fifos", "[io][fifo]") {
  TempDir dir;
  ReactorThread rt;
  std::string out = MakeFifo(dir, "stdout"), err = MakeFifo(dir, "stderr");
  // containerd's readers, opened first as cio does.
  UniqueFd out_reader(open(out.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  UniqueFd err_reader(open(err.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));

  auto io = ProcessIo::Create(rt.reactor(), {.stdout_path = out, .stderr_path = err}, dir.path());
  REQUIRE(io.ok());
  CHECK((*io)->child_stdin() == -1);
  REQUIRE((*io)->child_stdout() >= 0);
  REQUIRE((*io)->child_stderr() >= 0);
  CHECK(FdFlagsCloexec((*io)->child_stdout()));
  CHECK(FdFlagsCloexec((*io)->child_stderr()));
  CHECK((*io)->console_socket_path().empty());
  // Anonymous pipes (nothing of the host to reopen through /proc/self/fd), blocking for the process.
  CHECK(LinkOf((*io)->child_stdout()).rfind("pipe:[", 0) == 0);
  CHECK(LinkOf((*io)->child_stderr()).rfind("pipe:[", 0) == 0);
  CHECK(LinkOf((*io)->child_stdout()) != LinkOf((*io)->child_stderr()));
  CHECK_FALSE(SameInode((*io)->child_stdout(), out));
  CHECK((fcntl((*io)->child_stdout(), F_GETFL) & O_NONBLOCK) == 0);

  auto child = SpawnWith(**io, {"/bin/sh", "-c", "echo out; echo err >&2"});
  (*io)->CloseChildEnds();
  CHECK(ExitOf(*child) == 0);
  DrainAndWait(**io);
  // Delivered before the exit is reported, then EOF: the shim closed its writer at the pipe's EOF.
  CHECK(ReadAll(out_reader.get()) == "out\n");
  CHECK(ReadAll(err_reader.get()) == "err\n");
}

TEST_CASE("stdout: 10 MiB written then exit arrive complete and in order", "[io][fifo]") {
  TempDir dir;
  ReactorThread rt;
  std::string out = MakeFifo(dir, "stdout");
  UniqueFd reader(open(out.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  auto io = ProcessIo::Create(rt.reactor(), {.stdout_path = out}, dir.path());
  REQUIRE(io.ok());
  std::string got;
  std::thread consumer([&] { got = ReadAll(reader.get(), absl::Seconds(60)); });
  auto child = SpawnWith(**io, {"/bin/sh", "-c", "seq 0 2000000 | head -c 10485760"});
  (*io)->CloseChildEnds();
  CHECK(ExitOf(*child) == 0);
  DrainAndWait(**io, absl::Seconds(30));
  consumer.join();  // EOF reached
  REQUIRE(got.size() == 10485760);
  std::string want;
  for (int i = 0; want.size() < got.size(); ++i) want += std::to_string(i) + "\n";
  want.resize(got.size());
  CHECK(got == want);
}

TEST_CASE("exit with data in flight: the drain ends only when it is in the fifo", "[io][fifo]") {
  TempDir dir;
  ReactorThread rt;
  std::string out = MakeFifo(dir, "stdout");
  UniqueFd reader(open(out.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  auto io = ProcessIo::Create(rt.reactor(), {.stdout_path = out}, dir.path());
  REQUIRE(io.ok());
  // 100 KiB: more than the fifo holds, less than fifo + pipe. Nobody reads yet.
  auto child = SpawnWith(**io, {"/bin/sh", "-c", "head -c 102400 /dev/zero | tr '\\0' x"});
  (*io)->CloseChildEnds();
  CHECK(ExitOf(*child) == 0);

  SECTION("containerd reads late: the exit waits for it") {
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> finished = done->get_future();
    (*io)->Drain(absl::Seconds(20), [done] { done->set_value(); });
    CHECK(finished.wait_for(std::chrono::milliseconds(300)) == std::future_status::timeout);
    std::string got = ReadAll(reader.get(), absl::Seconds(20));  // until EOF
    CHECK(finished.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(got == std::string(102400, 'x'));
  }
  SECTION("containerd does not read: the drain times out, delivery goes on after") {
    DrainAndWait(**io, absl::Milliseconds(200));
    CHECK(ReadAll(reader.get(), absl::Seconds(20)) == std::string(102400, 'x'));
  }
}

TEST_CASE("a child holding the pipe: the exit is not held up, its output still flows, EOF when it ends",
          "[io][fifo]") {
  TempDir dir;
  ReactorThread rt;
  std::string out = MakeFifo(dir, "stdout");
  UniqueFd reader(open(out.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  std::string go = MakeFifo(dir, "go");
  auto io = ProcessIo::Create(rt.reactor(), {.stdout_path = out}, dir.path());
  REQUIRE(io.ok());
  // The child waits for a line on `go`, prints it and exits; the parent exits at once.
  auto parent = SpawnWith(**io, {"/bin/sh", "-c", "echo parent; (read l < " + go + "; echo \"$l\") & exit 0"});
  (*io)->CloseChildEnds();
  CHECK(ExitOf(*parent) == 0);
  absl::Time start = absl::Now();
  DrainAndWait(**io, absl::Seconds(10));
  CHECK(absl::Now() - start < absl::Seconds(5));
  CHECK(ReadAll(reader.get(), absl::Seconds(5), 7) == "parent\n");
  CHECK_FALSE(ReadableWithin(reader.get(), absl::Milliseconds(200)));  // no EOF while the child lives
  {
    UniqueFd w(open(go.c_str(), O_WRONLY | O_CLOEXEC));
    REQUIRE(::write(w.get(), "late\n", 5) == 5);
  }
  CHECK(ReadAll(reader.get(), absl::Seconds(20)) == "late\n");  // then EOF
}

TEST_CASE("output waits in the fifo while containerd's reader is away", "[io][fifo]") {
  TempDir dir;
  ReactorThread rt;
  std::string out = MakeFifo(dir, "stdout");
  UniqueFd reader(open(out.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  auto io = ProcessIo::Create(rt.reactor(), {.stdout_path = out}, dir.path());
  REQUIRE(io.ok());
  reader.reset();  // containerd restarts

  // Without the shim's reader, the first write would be EPIPE / SIGPIPE (exit 141).
  auto child = SpawnWith(**io, {"/bin/sh", "-c", "echo while-away || exit 7; echo still-here || exit 8"});
  (*io)->CloseChildEnds();
  CHECK(ExitOf(*child) == 0);

  reader.reset(open(out.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));  // containerd is back
  REQUIRE(reader);
  CHECK(ReadAll(reader.get()) == "while-away\nstill-here\n");
  DrainAndWait(**io);
}

TEST_CASE("stdin from a regular file: fed through a pipe, EOF at its end", "[io][file][stdin]") {
  TempDir dir;
  ReactorThread rt;
  std::string path = dir / "input";
  std::string payload;
  for (int i = 0; i < 50000; ++i) payload += std::to_string(i) + "\n";
  {
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    REQUIRE(::write(fd.get(), payload.data(), payload.size()) == static_cast<ssize_t>(payload.size()));
  }
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  UniqueFd out_read(p[0]), out_write(p[1]);
  for (const std::string& name : {path, "file://" + path}) {
    auto io = ProcessIo::Create(rt.reactor(), {.stdin_path = name}, dir.path());
    REQUIRE(io.ok());
    CHECK(LinkOf((*io)->child_stdin()).rfind("pipe:[", 0) == 0);
    auto child = Spawn({.argv = {"/bin/cat"}, .fds = {{0, (*io)->child_stdin()}, {1, out_write.get()}}});
    REQUIRE(child.ok());
    (*io)->CloseChildEnds();
    CHECK(ReadAll(out_read.get(), absl::Seconds(20), payload.size()) == payload);
    CHECK(ExitOf(**child) == 0);  // cat saw EOF
    DrainAndWait(**io);
  }
}

TEST_CASE("a missing stdout fifo is an error", "[io][fifo]") {
  TempDir dir;
  ReactorThread rt;
  auto io = ProcessIo::Create(rt.reactor(), {.stdout_path = dir / "nope"}, dir.path());
  REQUIRE(!io.ok());
  CHECK(absl::IsNotFound(io.status()));
}

TEST_CASE("stdin: 1 MiB arrives intact, EOF only after CloseStdin", "[io][fifo][stdin]") {
  TempDir dir;
  ReactorThread rt;
  std::string in = MakeFifo(dir, "stdin");
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  UniqueFd out_read(p[0]), out_write(p[1]);

  auto io = ProcessIo::Create(rt.reactor(), {.stdin_path = in}, dir.path());
  REQUIRE(io.ok());
  REQUIRE((*io)->child_stdin() >= 0);
  CHECK(FdFlagsCloexec((*io)->child_stdin()));
  CHECK((fcntl((*io)->child_stdin(), F_GETFL) & O_NONBLOCK) == 0);
  auto child = Spawn({.argv = {"/bin/cat"}, .fds = {{0, (*io)->child_stdin()}, {1, out_write.get()}}});
  REQUIRE(child.ok());
  (*io)->CloseChildEnds();
  out_write.reset();

  std::string payload(1 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>((i * 7919) >> 3);
  std::thread writer([&] {
    // containerd's writer: blocking open succeeds because the shim holds a reader.
    UniqueFd fd(open(in.c_str(), O_WRONLY | O_CLOEXEC));
    size_t off = 0;
    while (fd && off < payload.size()) {
      ssize_t n = ::write(fd.get(), payload.data() + off, payload.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  });
  std::string echoed = ReadAll(out_read.get(), absl::Seconds(30), payload.size());
  writer.join();
  CHECK(echoed.size() == payload.size());
  CHECK(echoed == payload);

  // containerd's writer is gone, but the process must not see EOF before CloseIO.
  CHECK_FALSE(ReadableWithin(out_read.get(), absl::Milliseconds(300)));

  (*io)->CloseStdin();
  CHECK(ReadAll(out_read.get()).empty());  // EOF: cat exits
  CHECK(ExitOf(**child) == 0);
  DrainAndWait(**io);
}

TEST_CASE("stdin: the writer may come late, and CloseStdin without any writer ends it", "[io][fifo][stdin]") {
  TempDir dir;
  ReactorThread rt;
  std::string in = MakeFifo(dir, "stdin");
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  UniqueFd out_read(p[0]), out_write(p[1]);
  auto io = ProcessIo::Create(rt.reactor(), {.stdin_path = in}, dir.path());
  REQUIRE(io.ok());
  auto child = Spawn({.argv = {"/bin/cat"}, .fds = {{0, (*io)->child_stdin()}, {1, out_write.get()}}});
  REQUIRE(child.ok());
  (*io)->CloseChildEnds();
  out_write.reset();

  SECTION("a late writer, twice (containerd restarting in between)") {
    CHECK_FALSE(ReadableWithin(out_read.get(), absl::Milliseconds(200)));  // no premature EOF
    for (const char* text : {"first\n", "second\n"}) {
      UniqueFd writer(open(in.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
      REQUIRE(writer);
      REQUIRE(::write(writer.get(), text, strlen(text)) == static_cast<ssize_t>(strlen(text)));
      writer.reset();
      CHECK(ReadAll(out_read.get(), absl::Seconds(20), strlen(text)) == text);
    }
    (*io)->CloseStdin();
  }
  SECTION("no writer at all") {
    (*io)->CloseStdin();
  }
  CHECK(ReadAll(out_read.get()).empty());
  CHECK(ExitOf(**child) == 0);
  DrainAndWait(**io);
}

TEST_CASE("stdin: a process that exits without reading does not hurt the shim", "[io][fifo][stdin]") {
  TempDir dir;
  ReactorThread rt;
  std::string in = MakeFifo(dir, "stdin");
  auto io = ProcessIo::Create(rt.reactor(), {.stdin_path = in}, dir.path());
  REQUIRE(io.ok());
  auto child = Spawn({.argv = {"/bin/true"}, .fds = {{0, (*io)->child_stdin()}}});
  REQUIRE(child.ok());
  (*io)->CloseChildEnds();
  CHECK(ExitOf(**child) == 0);
  // The shim's relay now writes into a pipe without reader: EPIPE, not SIGPIPE.
  UniqueFd writer(open(in.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  REQUIRE(writer);
  std::string chunk(4096, 'x');
  CHECK(::write(writer.get(), chunk.data(), chunk.size()) > 0);
  rt.RunSync([] {});  // the relay has run
  rt.RunSync([] {});
  DrainAndWait(**io);
}

TEST_CASE("file:// appends, creating the directories and the file (0640)", "[io][file]") {
  TempDir dir;
  ReactorThread rt;
  std::string log = dir / "logs/deeper/ctr.log";
  std::string uri = "file://" + log;
  for (const char* script : {"echo one; echo two >&2", "echo three"}) {
    auto io = ProcessIo::Create(rt.reactor(), {.stdout_path = uri, .stderr_path = uri}, dir.path());
    REQUIRE(io.ok());
    // One pipe for both (their order is kept), never the host file itself.
    CHECK(LinkOf((*io)->child_stdout()).rfind("pipe:[", 0) == 0);
    CHECK(LinkOf((*io)->child_stdout()) == LinkOf((*io)->child_stderr()));
    auto child = SpawnWith(**io, {"/bin/sh", "-c", script});
    (*io)->CloseChildEnds();
    CHECK(ExitOf(*child) == 0);
    DrainAndWait(**io);
  }
  CHECK(ReadFile(log) == "one\ntwo\nthree\n");
  struct stat st;
  REQUIRE(stat(log.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777 & ~0640) == 0);
}

TEST_CASE("a plain path that is a regular file is appended to", "[io][file]") {
  TempDir dir;
  ReactorThread rt;
  std::string path = dir / "existing.log";
  { UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600)); REQUIRE(::write(fd.get(), "old\n", 4) == 4); }
  auto io = ProcessIo::Create(rt.reactor(), {.stdout_path = path}, dir.path());
  REQUIRE(io.ok());
  CHECK_FALSE(SameInode((*io)->child_stdout(), path));
  auto child = SpawnWith(**io, {"/bin/sh", "-c", "echo new"});
  (*io)->CloseChildEnds();
  CHECK(ExitOf(*child) == 0);
  DrainAndWait(**io);
  CHECK(ReadFile(path) == "old\nnew\n");
}
