#include "shim/base/subprocess.h"

#include <catch2/catch.hpp>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "shim/base/reactor.h"

using namespace airlock;

namespace {
int OpenFdCount() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

// Runs a reactor with the reaper started on it, for the lifetime of the object.
struct ReapingReactor {
  std::unique_ptr<Reactor> reactor = *Reactor::Create();
  std::thread thread;
  ReapingReactor() {
    REQUIRE(Reaper::Get().Start(*reactor).ok());
    thread = std::thread([this] { reactor->Run(); });
  }
  ~ReapingReactor() {
    reactor->Stop();
    thread.join();
    Reaper::Get().Stop();
  }
};
}  // namespace

TEST_CASE("Run captures output and exit code without a reaper", "[subprocess]") {
  auto result = Run({.argv = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, .capture_stdout = true,
                     .capture_stderr = true},
                    absl::Seconds(10));
  REQUIRE(result.ok());
  CHECK(result->exit.status == 3);
  CHECK(result->out == "out\n");
  CHECK(result->err == "err\n");
}

TEST_CASE("Run reports a signal death as 128+signal", "[subprocess]") {
  auto result = Run({.argv = {"/bin/sh", "-c", "kill -9 $$"}}, absl::Seconds(10));
  REQUIRE(result.ok());
  CHECK(result->exit.status == 128 + SIGKILL);
}

TEST_CASE("Run kills a child past its timeout", "[subprocess]") {
  auto result = Run({.argv = {"/bin/sleep", "30"}}, absl::Milliseconds(200));
  CHECK(absl::IsDeadlineExceeded(result.status()));
}

TEST_CASE("Spawn of a missing program is a clear error", "[subprocess]") {
  auto result = Run({.argv = {"/nonexistent/program"}}, absl::Seconds(5));
  REQUIRE(!result.ok());
  CHECK(std::string(result.status().message()).find("/nonexistent/program") != std::string::npos);
}

TEST_CASE("Spawn installs the requested fds in the child", "[subprocess]") {
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  UniqueFd read_end(p[0]), write_end(p[1]);
  auto result = Run({.argv = {"/bin/sh", "-c", "echo via-fd-5 >&5"}, .fds = {{5, write_end.get()}}}, absl::Seconds(10));
  REQUIRE(result.ok());
  write_end.reset();
  char buf[64] = {};
  CHECK(::read(read_end.get(), buf, sizeof buf) == 9);
  CHECK(std::string(buf) == "via-fd-5\n");
}

TEST_CASE("Spawn installs crossed fds: a source that is another mapping's target is not lost", "[subprocess]") {
  // The shim hands runc its channel and payload as 3 and 4 from wherever they are; here the pipes
  // sit at 3 and 4 themselves and go to 4 and 3 (the fds found there before are put back after).
  UniqueFd saved3(fcntl(3, F_DUPFD_CLOEXEC, 100)), saved4(fcntl(4, F_DUPFD_CLOEXEC, 100));
  int a[2], b[2];
  REQUIRE(pipe2(a, O_CLOEXEC) == 0);
  REQUIRE(pipe2(b, O_CLOEXEC) == 0);
  // Away from 3 and 4 first (the pipes may have been given those).
  UniqueFd a_read(fcntl(a[0], F_DUPFD_CLOEXEC, 100)), b_read(fcntl(b[0], F_DUPFD_CLOEXEC, 100));
  UniqueFd a_write(fcntl(a[1], F_DUPFD_CLOEXEC, 100)), b_write(fcntl(b[1], F_DUPFD_CLOEXEC, 100));
  for (int fd : {a[0], a[1], b[0], b[1]}) close(fd);
  REQUIRE(dup3(a_write.get(), 3, O_CLOEXEC) == 3);
  REQUIRE(dup3(b_write.get(), 4, O_CLOEXEC) == 4);
  a_write.reset();
  b_write.reset();
  auto result = Run({.argv = {"/bin/sh", "-c", "echo to-3 >&3; echo to-4 >&4"}, .fds = {{3, 4}, {4, 3}}},
                    absl::Seconds(10));
  close(3);
  close(4);
  if (saved3) dup3(saved3.get(), 3, 0);
  if (saved4) dup3(saved4.get(), 4, 0);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->exit.status == 0);
  char buf[64] = {};
  CHECK(::read(b_read.get(), buf, sizeof buf) == 5);  // child's 3 is pipe b (the parent's 4)
  CHECK(std::string(buf) == "to-3\n");
  char buf2[64] = {};
  CHECK(::read(a_read.get(), buf2, sizeof buf2) == 5);
  CHECK(std::string(buf2) == "to-4\n");
}

TEST_CASE("With the reaper running, concurrent children never lose their exit", "[subprocess][reaper]") {
  ReapingReactor rr;
  int fds_before = OpenFdCount();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto result = Run({.argv = {"/bin/sh", "-c", "exit " + std::to_string((t * 25 + i) % 7)}}, absl::Seconds(20));
        if (result.ok() && result->exit.status == (t * 25 + i) % 7) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 100);
  CHECK(OpenFdCount() == fds_before);
}

TEST_CASE("Watch after the exit still gets it (unclaimed exits are kept)", "[reaper]") {
  ReapingReactor rr;
  // A grandchild-like process we did not spawn through Spawn: fork directly.
  pid_t pid = fork();
  if (pid == 0) _exit(42);
  // Give the reaper time to reap it as unclaimed.
  for (int i = 0; i < 200 && kill(pid, 0) == 0; ++i) absl::SleepFor(absl::Milliseconds(5));
  absl::SleepFor(absl::Milliseconds(50));
  std::mutex mu;
  std::condition_variable cv;
  std::optional<ExitInfo> got;
  Reaper::Get().Watch(pid, [&](const ExitInfo& e) {
    std::lock_guard lock(mu);
    got = e;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait_for(lock, std::chrono::seconds(10), [&] { return got.has_value(); });
  REQUIRE(got.has_value());
  CHECK(got->status == 42);
}

TEST_CASE("Run refuses captured output over max_capture_bytes, draining it so the child exits", "[subprocess]") {
  // 17 MiB through a 64 KiB pipe: the child finishes only if the pipe is read to its end.
  absl::Time started = absl::Now();
  auto result = Run({.argv = {"/bin/sh", "-c", "head -c 17825792 /dev/zero; echo done >&2"},
                     .capture_stdout = true,
                     .capture_stderr = true,
                     .max_capture_bytes = 16u << 20},
                    absl::Seconds(60));
  INFO(result.status().ToString());
  CHECK(absl::IsResourceExhausted(result.status()));
  CHECK(std::string(result.status().message()).find("stdout over 16777216 bytes") != std::string::npos);
  CHECK(absl::Now() - started < absl::Seconds(60));

  auto err = Run({.argv = {"/bin/sh", "-c", "head -c 1001 /dev/zero >&2"}, .capture_stderr = true, .max_capture_bytes = 1000},
                 absl::Seconds(10));
  CHECK(absl::IsResourceExhausted(err.status()));
  CHECK(std::string(err.status().message()).find("stderr over 1000 bytes") != std::string::npos);
}

TEST_CASE("Run returns output up to max_capture_bytes complete", "[subprocess]") {
  auto result = Run({.argv = {"/bin/sh", "-c", "head -c 3145728 /dev/zero; exit 4"}, .capture_stdout = true},
                    absl::Seconds(30));
  REQUIRE(result.ok());
  CHECK(result->exit.status == 4);
  CHECK(result->out.size() == 3145728u);
  auto exact = Run({.argv = {"/bin/sh", "-c", "head -c 1000 /dev/zero"}, .capture_stdout = true, .max_capture_bytes = 1000},
                   absl::Seconds(10));
  REQUIRE(exact.ok());
  CHECK(exact->out.size() == 1000u);
}

TEST_CASE("With the reaper running, an over-limit child is still reaped before the error", "[subprocess][reaper]") {
  ReapingReactor rr;
  int fds_before = OpenFdCount();
  auto result = Run({.argv = {"/bin/sh", "-c", "head -c 200000 /dev/zero"}, .capture_stdout = true, .max_capture_bytes = 100000},
                    absl::Seconds(30));
  CHECK(absl::IsResourceExhausted(result.status()));
  CHECK(OpenFdCount() == fds_before);
}
