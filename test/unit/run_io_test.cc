// airlock run's output path: the fifos a container process writes (ProcessIo) and the reporter
// that turns chunks into prefixed lines, with secret values redacted.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "cmd/airlock/containerd/process_io.h"
#include "cmd/airlock/run/reporter.h"
#include "shim/base/terminal_text.h"

namespace {

using airlock::containerd::OutputStream;
using airlock::containerd::ProcessIo;
namespace fs = std::filesystem;

struct Collected {
  std::mutex mu;
  std::string out, err;
};

// Captures what the reporter writes to stdout (or stderr) in this process.
class StdoutCapture {
 public:
  explicit StdoutCapture(int fd = STDOUT_FILENO) : fd_(fd), stream_(fd == STDERR_FILENO ? stderr : stdout) {
    fflush(stream_);
    path_ = fs::temp_directory_path() / ("airlock-run-capture-" + std::to_string(getpid()) + "-" + std::to_string(fd));
    saved_ = dup(fd_);
    int file = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    dup2(file, fd_);
    close(file);
  }
  std::string Finish() {
    fflush(stream_);
    dup2(saved_, fd_);
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
  int fd_;
  FILE* stream_;
  fs::path path_;
  int saved_ = -1;
};

// One JSON event a line.
std::vector<nlohmann::json> ParseEvents(const std::string& text) {
  std::vector<nlohmann::json> events;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; start = nl + 1, nl = text.find('\n', start)) {
    events.push_back(nlohmann::json::parse(text.substr(start, nl - start)));
  }
  return events;
}

// The bytes of an output event's line: exact from "line_base64" when it was not UTF-8.
std::string LineBytes(const nlohmann::json& event) {
  if (!event.contains("line_base64")) return event["line"].get<std::string>();
  std::string bytes;
  REQUIRE(absl::Base64Unescape(event["line_base64"].get<std::string>(), &bytes));
  return bytes;
}

bool HasTerminalControls(const std::string& text) {
  return text.find_first_of(std::string("\x1b\x0d\x07\x00\x9b", 5)) != std::string::npos;
}

constexpr char kAttack[] =
    "\033[1A\033[2K\r\033[32mscan      ok: no secret value\033[0m\n"
    "\033]52;c;aGk=\a\033]0;pwned\007\xc2\x9b" "2J\x9b" "2J \u202eevil\n";

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

TEST_CASE("reporter: in human mode the sandbox's escape sequences are shown, never sent", "[run][io][terminal]") {
  StdoutCapture out;
  StdoutCapture err(STDERR_FILENO);
  {
    airlock::run::Reporter reporter(/*json=*/false, absl::Now());
    reporter.Output("agent", OutputStream::kStdout, kAttack);
    reporter.Output("agent", OutputStream::kStderr, "\033]0;pwned\007 and\ttab\n");
    reporter.Output("agent", OutputStream::kStdout, "no newline \033[2J");
    reporter.FlushOutput("agent");
    reporter.Phase("changes", airlock::run::PhaseState::kOk, "1 file(s): M innocent.txt\033[2K\rM docs.md\tx");
    reporter.Text("airlock run x: agent --flag=\033]52;c;aGk=\a\n");
    reporter.Summary(nlohmann::json::object(), "\nsummary\n  failure    \033[1A\r\x9b\n");
    reporter.Error("agent said \033[31mdone\r");
  }
  std::string shown = out.Finish();
  std::string shown_err = err.Finish();
  INFO(shown);
  INFO(shown_err);
  CHECK_FALSE(HasTerminalControls(shown));
  CHECK_FALSE(HasTerminalControls(shown_err));
  CHECK(shown.find("           agent | \\x1b[1A\\x1b[2K\\x0d\\x1b[32mscan      ok: no secret value\\x1b[0m\n") !=
        std::string::npos);
  CHECK(shown.find("           agent | \\x1b]52;c;aGk=\\x07\\x1b]0;pwned\\x07\\u{9b}2J\\x9b2J \\u{202e}evil\n") !=
        std::string::npos);
  CHECK(shown.find("           agent | no newline \\x1b[2J\n") != std::string::npos);
  CHECK(shown.find("M innocent.txt\\x1b[2K\\x0dM docs.md\\x09x\n") != std::string::npos);
  CHECK(shown.find("airlock run x: agent --flag=\\x1b]52;c;aGk=\\x07\n") != std::string::npos);
  CHECK(shown.find("\nsummary\n  failure    \\x1b[1A\\x0d\\x9b\n") != std::string::npos);
  CHECK(shown_err.find("           agent | \\x1b]0;pwned\\x07 and\ttab\n") != std::string::npos);  // output keeps TAB
  CHECK(shown_err.find("airlock run: agent said \\x1b[31mdone\\x0d\n") != std::string::npos);
}

TEST_CASE("reporter: JSON output lines are exact, as text or base64", "[run][io][terminal]") {
  std::string invalid = "bad \xff\xc0\xaf byte\033[2K";
  StdoutCapture out;
  {
    airlock::run::Reporter reporter(/*json=*/true, absl::Now());
    reporter.Output("agent", OutputStream::kStdout, kAttack);
    reporter.Output("agent", OutputStream::kStderr, invalid + "\n");
    reporter.Phase("agent", airlock::run::PhaseState::kOk, "exit 0");
  }
  std::string text = out.Finish();
  CHECK(text.find('\033') == std::string::npos);  // JSON escapes every control character
  std::vector<nlohmann::json> events = ParseEvents(text);
  REQUIRE(events.size() == 4);
  std::vector<std::string> attack_lines = absl::StrSplit(kAttack, '\n', absl::SkipEmpty());
  CHECK(events[0]["line"] == attack_lines[0]);
  CHECK_FALSE(events[0].contains("line_base64"));
  CHECK(LineBytes(events[1]) == attack_lines[1]);  // a raw 0x9b: base64
  CHECK(events[1].contains("line_base64"));
  CHECK(events[2]["stream"] == "stderr");
  CHECK(LineBytes(events[2]) == invalid);
  CHECK(events[2]["line"] == "bad \ufffd\ufffd\ufffd byte\033[2K");
  CHECK(events[3]["event"] == "phase");
  for (const nlohmann::json& event : events) CHECK_FALSE(event.contains("continued"));
}

TEST_CASE("reporter: secrets are redacted before escaping, whatever their bytes", "[run][io][terminal]") {
  StdoutCapture out;
  {
    airlock::run::Reporter reporter(/*json=*/false, absl::Now());
    reporter.SetRedactions({{"TOKEN", "s3cr3t"}, {"KEY", "k\033[2K\ney"}, {"EMPTY", ""}});
    reporter.Output("agent", OutputStream::kStdout, "\033[31ms3cr3t\033[0m\n");
    // A value holding an escape sequence and a newline, arriving in pieces across the newline.
    reporter.Output("agent", OutputStream::kStdout, "pre k\033[");
    reporter.Output("agent", OutputStream::kStdout, "2K\n");
    reporter.Output("agent", OutputStream::kStdout, "ey post\n");
    // A value that only starts at the end of what came so far, then does not go on.
    reporter.Output("agent", OutputStream::kStdout, "tail s3c");
    reporter.Output("agent", OutputStream::kStdout, "ret\n");
    // Adjacent occurrences each get their marker.
    reporter.Output("agent", OutputStream::kStdout, "s3cr3tk\033[2K\neys3cr3t end");
    reporter.FlushOutput("agent");
    // Overlapping ones are one run with one marker.
    reporter.SetRedactions({{"AB", "abcd"}, {"CD", "cdef"}});
    reporter.Output("agent", OutputStream::kStdout, "x abcdef y\n");
  }
  std::string shown = out.Finish();
  INFO(shown);
  CHECK(shown.find("s3cr3t") == std::string::npos);
  CHECK(shown.find("2K") == std::string::npos);
  CHECK(shown.find("           agent | \\x1b[31m<secret TOKEN>\\x1b[0m\n") != std::string::npos);
  CHECK(shown.find("           agent | pre <secret KEY> post\n") != std::string::npos);
  CHECK(shown.find("           agent | tail s3cret\n") != std::string::npos);
  CHECK(shown.find("           agent | <secret TOKEN><secret KEY><secret TOKEN> end\n") != std::string::npos);
  CHECK(shown.find("           agent | x <secret AB> y\n") != std::string::npos);
}

TEST_CASE("reporter: a secret across the long-line cut is still redacted", "[run][io][terminal]") {
  constexpr size_t kMax = 64 * 1024;
  StdoutCapture out;
  {
    airlock::run::Reporter reporter(/*json=*/true, absl::Now());
    reporter.SetRedactions({{"TOKEN", "s3cr3t"}});
    reporter.Output("agent", OutputStream::kStdout, std::string(kMax - 3, 'x') + "s3c");
    reporter.Output("agent", OutputStream::kStdout, "r3t tail\n");
  }
  std::string text = out.Finish();
  CHECK(text.find("s3c") == std::string::npos);
  std::vector<nlohmann::json> events = ParseEvents(text);
  std::string joined;
  for (const nlohmann::json& event : events) joined += event["line"].get<std::string>();
  CHECK(joined == std::string(kMax - 3, 'x') + "<secret TOKEN> tail");
  REQUIRE(events.size() == 2);
  CHECK(events[0]["continued"] == true);  // the marker is not cut in two
  CHECK(events[1]["line"] == " tail");
}

TEST_CASE("reporter: a line over the limit comes in marked pieces", "[run][io][terminal]") {
  constexpr size_t kMax = 64 * 1024;
  // ASCII up to one byte short of the limit, then a 2-byte character the cut must not split.
  std::string line = std::string(kMax - 1, 'x') + "\xc3\xa9" + "end";
  StdoutCapture human;
  {
    airlock::run::Reporter reporter(/*json=*/false, absl::Now());
    reporter.Output("agent", OutputStream::kStdout, line + "\nshort\n");
  }
  std::string shown = human.Finish();
  std::vector<std::string> lines = absl::StrSplit(shown, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "           agent | " + std::string(kMax - 1, 'x') + " [line continues]");
  CHECK(lines[1] == "           agent | \xc3\xa9" "end");
  CHECK(lines[2] == "           agent | short");

  StdoutCapture json;
  {
    airlock::run::Reporter reporter(/*json=*/true, absl::Now());
    reporter.Output("agent", OutputStream::kStdout, std::string(2 * kMax, 'y') + "z\n");
  }
  std::vector<nlohmann::json> events = ParseEvents(json.Finish());
  REQUIRE(events.size() == 3);
  CHECK(events[0]["continued"] == true);
  CHECK(events[1]["continued"] == true);
  CHECK_FALSE(events[2].contains("continued"));
  CHECK(events[0]["line"].get<std::string>() + events[1]["line"].get<std::string>() + events[2]["line"].get<std::string>() ==
        std::string(2 * kMax, 'y') + "z");
}

TEST_CASE("reporter: airlock's own lines that quote a secret (a file name holding it) are redacted too",
          "[run][io][terminal]") {
  StdoutCapture out;
  StdoutCapture err(STDERR_FILENO);
  {
    airlock::run::Reporter reporter(/*json=*/false, absl::Now());
    reporter.SetRedactions({{"TOKEN", "s3cr3t\"x"}});
    reporter.Phase("changes", airlock::run::PhaseState::kOk, "1 file(s) changed: A \"notes/s3cr3t\"x.txt\"");
    reporter.Error("blocked: secret TOKEN in a file name: s3cr3t\"x");
    reporter.Summary({}, "  files      A s3cr3t\"x\n");
  }
  {
    airlock::run::Reporter reporter(/*json=*/true, absl::Now());
    reporter.SetRedactions({{"TOKEN", "s3cr3t\"x"}});
    reporter.Phase("changes", airlock::run::PhaseState::kOk, "A s3cr3t\"x", {{"files", {{{"path", "s3cr3t\"x"}}}}});
  }
  std::string shown = out.Finish() + err.Finish();
  INFO(shown);
  CHECK(shown.find("s3cr3t") == std::string::npos);
  CHECK(shown.find("<secret TOKEN>") != std::string::npos);
}

TEST_CASE("reporter: a secret's encoded and quoted forms are redacted in airlock's own lines too", "[run][io][terminal]") {
  const std::string value = "tok\xc3\xa9-\"quoted\"-42";
  StdoutCapture out;
  {
    airlock::run::Reporter reporter(/*json=*/false, absl::Now());
    reporter.SetRedactions({{"TOKEN", value}});
    reporter.Phase("changes", airlock::run::PhaseState::kOk,
                   "A " + airlock::QuotePath("notes/" + value) + ", A " + absl::BytesToHexString(value) + ".txt");
  }
  {
    airlock::run::Reporter reporter(/*json=*/true, absl::Now());
    reporter.SetRedactions({{"TOKEN", value}});
    reporter.Phase("changes", airlock::run::PhaseState::kOk, "x", {{"files", {{{"path", "notes/" + value}}}}});
  }
  std::string shown = out.Finish();
  INFO(shown);
  CHECK(shown.find("quoted") == std::string::npos);
  CHECK(shown.find(absl::BytesToHexString(value)) == std::string::npos);
  CHECK(shown.find("<secret TOKEN>") != std::string::npos);
}
