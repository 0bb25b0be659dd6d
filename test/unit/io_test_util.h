// Helpers shared by the stdio tests (test/unit/io_*_test.cc): temp dirs, a running Reactor,
// fifo and fd utilities. Every wait is bounded.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "shim/base/reactor.h"
#include "shim/base/unique_fd.h"

namespace airlock::io::testing {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/airlock-io-test-XXXXXX";
    REQUIRE(mkdtemp(pattern) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A Reactor serving on its own thread for the lifetime of the object.
class ReactorThread {
 public:
  ReactorThread() {
    auto created = Reactor::Create();
    REQUIRE(created.ok());
    reactor_ = std::move(*created);
    thread_ = std::thread([this] { reactor_->Run(); });
    RunSync([] {});  // Run() has started: InReactorThread() now means that thread
  }
  ~ReactorThread() {
    reactor_->Stop();
    thread_.join();
  }
  Reactor& reactor() { return *reactor_; }

  // Runs `task` on the reactor thread and waits for it.
  void RunSync(std::function<void()> task) {
    std::promise<void> done;
    std::future<void> finished = done.get_future();
    reactor_->Post([&] {
      task();
      done.set_value();
    });
    REQUIRE(finished.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  }

 private:
  std::unique_ptr<Reactor> reactor_;
  std::thread thread_;
};

inline int OpenFdCount() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

inline std::string MakeFifo(const TempDir& dir, const std::string& name) {
  std::string path = dir / name;
  REQUIRE(mkfifo(path.c_str(), 0600) == 0);
  return path;
}

// Reads until EOF (or `max` bytes, or the timeout). Works on blocking and non-blocking fds.
inline std::string ReadAll(int fd, absl::Duration timeout = absl::Seconds(20), size_t max = SIZE_MAX) {
  std::string data;
  absl::Time deadline = absl::Now() + timeout;
  char buf[65536];
  while (data.size() < max) {
    int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left <= 0) break;
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = poll(&pfd, 1, left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, max - data.size()));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // EOF, or EIO on a hung-up tty
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

// True when `fd` reports EOF/hangup (or becomes readable) within `window`.
inline bool ReadableWithin(int fd, absl::Duration window) {
  struct pollfd pfd = {fd, POLLIN, 0};
  return poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(window))) > 0;
}

inline std::string ReadFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  return ReadAll(fd.get(), absl::Seconds(5));
}

}  // namespace airlock::io::testing

#include "shim/io/process_io.h"

namespace airlock::io::testing {

// Drain from a test thread (it posts itself to the reactor); waits for `done`.
inline void DrainAndWait(ProcessIo& io, absl::Duration timeout = absl::Seconds(5)) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  io.Drain(timeout, [done] { done->set_value(); });
  REQUIRE(finished.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
}

}  // namespace airlock::io::testing
