// Helpers for the cgroup tests: temp dirs with fixture files, real cgroup v1 test groups that are
// removed again, and forked children that the tests place into them. Everything is undone by
// destructors, also when an assertion fails half-way.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "shim/cgroups/cgroup_location.h"

namespace airlock::cgroups::testing {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/airlock-cgroup-test.XXXXXX";
    if (::mkdtemp(pattern) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `content` to <path>/<relative>, creating parent directories.
  std::string Write(const std::string& relative, const std::string& content) const {
    std::filesystem::path file = std::filesystem::path(path_) / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::trunc) << content;
    return file.string();
  }

 private:
  std::string path_;
};

inline bool WriteFile(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  ::close(fd);
  return ok;
}

// A forked child for cgroup tests. It waits for Go(), then does its job. Only async-signal-safe
// work after fork: syscalls and plain loops.
class TestChild {
 public:
  enum class Job {
    kIdle,              // pause until killed
    kBurnCpuThenIdle,   // burn ~200 ms of CPU, report, pause
    kAllocateForever,   // touch 1 MiB after 1 MiB (at most 2 GiB) until the OOM killer ends it
  };

  explicit TestChild(Job job) {
    int go[2], done[2];
    if (::pipe2(go, O_CLOEXEC) != 0) return;
    if (::pipe2(done, O_CLOEXEC) != 0) {
      ::close(go[0]);
      ::close(go[1]);
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(go[1]);
      ::close(done[0]);
      RunChild(job, go[0], done[1]);
    }
    ::close(go[0]);
    ::close(done[1]);
    go_fd_ = go[1];
    done_fd_ = done[0];
  }
  ~TestChild() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, 0);
    }
    if (go_fd_ >= 0) ::close(go_fd_);
    if (done_fd_ >= 0) ::close(done_fd_);
  }
  TestChild(const TestChild&) = delete;
  TestChild& operator=(const TestChild&) = delete;

  pid_t pid() const { return pid_; }
  bool Go() { return ::write(go_fd_, "g", 1) == 1; }
  // Waits for the child's report (kBurnCpuThenIdle), at most `timeout_ms`.
  bool WaitDone(int timeout_ms) {
    struct pollfd p{done_fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return false;
    char c;
    return ::read(done_fd_, &c, 1) == 1;
  }
  // Waits for the exit, at most `timeout_ms`; returns the wait status or -1.
  int WaitExit(int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
      int status;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        return status;
      }
      if (r < 0) return -1;
      ::usleep(10 * 1000);
    }
    return -1;
  }

 private:
  [[noreturn]] static void RunChild(Job job, int go_fd, int done_fd) {
    char c;
    if (::read(go_fd, &c, 1) != 1) ::_exit(2);
    switch (job) {
      case Job::kIdle:
        break;
      case Job::kBurnCpuThenIdle: {
        struct timespec start, now, wall_start, wall_now;
        ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
        ::clock_gettime(CLOCK_MONOTONIC, &wall_start);
        volatile uint64_t sink = 0;
        for (;;) {
          for (int i = 0; i < 100000; ++i) sink = sink + static_cast<uint64_t>(i) * 7;
          ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
          ::clock_gettime(CLOCK_MONOTONIC, &wall_now);
          long cpu_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
          long wall_ms = (wall_now.tv_sec - wall_start.tv_sec) * 1000;
          if (cpu_ms >= 200 || wall_ms >= 20000) break;
        }
        if (::write(done_fd, "d", 1) != 1) ::_exit(2);
        break;
      }
      case Job::kAllocateForever: {
        constexpr size_t kChunk = 1 << 20;
        for (int i = 0; i < 2048; ++i) {
          void* p = ::mmap(nullptr, kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          if (p == MAP_FAILED) ::_exit(3);
          std::memset(p, 0x5a, kChunk);
        }
        ::_exit(4);  // survived 2 GiB: the limit did not hold
      }
    }
    for (int i = 0; i < 600; ++i) ::pause();  // until killed (bounded: signals wake pause)
    ::_exit(0);
  }

  pid_t pid_ = -1;
  int go_fd_ = -1;
  int done_fd_ = -1;
  bool reaped_ = false;
};

// cgroup v1 test groups named airlock-test-<pid>-<n>, created below this process's own cgroup in
// each requested hierarchy (so they sit inside whatever limits the test runs under).
class TestCgroupV1 {
 public:
  explicit TestCgroupV1(const std::vector<std::string>& controllers) {
    static std::atomic<int> counter{0};
    name_ = absl::StrCat("airlock-test-", ::getpid(), "-", counter++);
    absl::StatusOr<CgroupLocation> own = ResolveCgroups(::getpid());
    if (!own.ok() || own->unified) return;
    for (const std::string& controller : controllers) {
      std::string parent = own->V1Dir(controller);
      if (parent.empty()) continue;
      std::string dir = parent + "/" + name_;
      if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) continue;
      dirs_[controller] = dir;
    }
  }
  ~TestCgroupV1() { Remove(); }
  TestCgroupV1(const TestCgroupV1&) = delete;
  TestCgroupV1& operator=(const TestCgroupV1&) = delete;

  // Controllers that share a hierarchy (cpu,cpuacct) map to one directory: remove each once.
  void Remove() {
    std::vector<std::string> unique;
    for (const auto& [controller, dir] : dirs_) {
      if (std::find(unique.begin(), unique.end(), dir) == unique.end()) unique.push_back(dir);
    }
    for (const std::string& dir : unique) {
      for (int attempt = 0; attempt < 100; ++attempt) {  // tasks may take a moment to leave
        if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) break;
        ::usleep(20 * 1000);
      }
    }
    dirs_.clear();
  }

  bool Has(const std::string& controller) const { return dirs_.count(controller) > 0; }
  std::string Dir(const std::string& controller) const {
    auto it = dirs_.find(controller);
    return it == dirs_.end() ? std::string() : it->second;
  }
  const std::map<std::string, std::string>& dirs() const { return dirs_; }
  bool Set(const std::string& controller, const std::string& file, const std::string& value) const {
    return Has(controller) && WriteFile(Dir(controller) + "/" + file, value);
  }
  bool Exists(const std::string& controller, const std::string& file) const {
    return Has(controller) && ::access((Dir(controller) + "/" + file).c_str(), F_OK) == 0;
  }
  // Puts `pid` into every test group.
  bool Enter(pid_t pid) const {
    bool ok = !dirs_.empty();
    for (const auto& [controller, dir] : dirs_) ok = WriteFile(dir + "/cgroup.procs", std::to_string(pid)) && ok;
    return ok;
  }

 private:
  std::string name_;
  std::map<std::string, std::string> dirs_;
};

// Real cgroup v1 tests need root and a v1 memory controller (this machine: hybrid).
inline std::string RealV1Unavailable() {
  if (::geteuid() != 0) return "not root";
  absl::StatusOr<CgroupLocation> own = ResolveCgroups(::getpid());
  if (!own.ok()) return std::string(own.status().message());
  if (own->unified) return "cgroup2 host";
  if (own->V1Dir("memory").empty()) return "no v1 memory controller";
  return "";
}

}  // namespace airlock::cgroups::testing
