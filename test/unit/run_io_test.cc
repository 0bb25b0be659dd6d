// airlock run's output path: the fifos a container process writes (ProcessIo) and the reporter
// that turns chunks into prefixed lines, with secret values redacted.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "cmd/airlock/containerd/process_io.h"
#include "cmd/airlock/run/reporter.h"

namespace {

using airlock::containerd::OutputStream;
using airlock::containerd::ProcessIo;
namespace fs = std::filesystem;

struct Collected {
  std::mutex mu;
  std::string out, err;
};

// Captures what the reporter writes to stdout in this process.
class StdoutCapture {
 public:
  StdoutCapture() {
    fflush(stdout);
    path_ = fs::temp_directory_path() / ("airlock-run-capture-" + std::to_string(getpid()));
    saved_ = dup(STDOUT_FILENO);
    int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    dup2(fd, STDOUT_FILENO);
    close(fd);
  }
  std::string Finish() {
    fflush(stdout);
    dup2(saved_, STDOUT_FILENO);
    close(saved_);
    std::string text;
    FILE* f = fopen(path_.c_str(), "r");
    char buf[4096];
    size_t n;
    while (f != nullptr && (n = fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    if (f != nullptr) fclose(f);
    fs::remove(path_);
    return text;
  }

 private:
  fs::path path_;
  int saved_ = -1;
};

}  // namespace

TEST_CASE("process io: what the process wrote before it exited is all delivered by Finish", "[run][io]") {
  fs::path dir = fs::temp_directory_path() / ("airlock-run-io-" + std::to_string(getpid()));
  fs::create_directories(dir);
  Collected got;
  {
    absl::StatusOr<std::unique_ptr<ProcessIo>> io =
        ProcessIo::Create(dir.string(), "agent", [&](OutputStream stream, absl::string_view bytes) {
          std::lock_guard lock(got.mu);
          (stream == OutputStream::kStdout ? got.out : got.err).append(bytes.data(), bytes.size());
        });
    REQUIRE(io.ok());
    CHECK((*io)->paths().stdout_path == (dir / "agent-stdout").string());
    // The "container" opens the fifos for writing, as the shim would, writes more than a pipe holds
    // on stdout, a little on stderr, and exits.
    int out = open((*io)->paths().stdout_path.c_str(), O_WRONLY | O_CLOEXEC);
    int err = open((*io)->paths().stderr_path.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(out >= 0);
    REQUIRE(err >= 0);
    std::string big(300 * 1024, 'x');
    size_t written = 0;
    while (written < big.size()) {
      ssize_t n = write(out, big.data() + written, big.size() - written);
      REQUIRE(n > 0);
      written += static_cast<size_t>(n);
    }
    REQUIRE(write(err, "oops\n", 5) == 5);
    close(out);
    close(err);
    (*io)->Finish();
    (*io)->Finish();  // idempotent
    std::lock_guard lock(got.mu);
    CHECK(got.out.size() == big.size());
    CHECK(got.err == "oops\n");
  }
  CHECK_FALSE(fs::exists(dir / "agent-stdout"));  // removed with the ProcessIo
  fs::remove_all(dir);
}

TEST_CASE("reporter: lines per phase, partial lines joined, secrets redacted, JSON events", "[run][io]") {
  StdoutCapture capture;
  {
    airlock::run::Reporter reporter(/*json=*/true, absl::Now());
    reporter.SetRedactions({{"TOKEN", "s3cr3t"}});
    reporter.Output("setup", OutputStream::kStdout, "hel");
    reporter.Output("setup", OutputStream::kStdout, "lo s3c");
    reporter.Output("setup", OutputStream::kStdout, "r3t\nsecond");
    reporter.FlushOutput("setup");
    reporter.Phase("setup", airlock::run::PhaseState::kOk, "exit 0", {{"exit_code", 0}});
  }
  std::string text = capture.Finish();
  std::vector<nlohmann::json> events;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; start = nl + 1, nl = text.find('\n', start)) {
    events.push_back(nlohmann::json::parse(text.substr(start, nl - start)));
  }
  REQUIRE(events.size() == 3);
  CHECK(events[0]["line"] == "hello <secret TOKEN>");
  CHECK(events[0]["phase"] == "setup");
  CHECK(events[1]["line"] == "second");
  CHECK(events[2]["event"] == "phase");
  CHECK(events[2]["state"] == "ok");
  CHECK(events[2]["exit_code"] == 0);
  CHECK(text.find("s3cr3t") == std::string::npos);
}
