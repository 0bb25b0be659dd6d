#include "cmd/airlock/run/reporter.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace airlock::run {
namespace {

constexpr size_t kMaxLineBytes = 64 * 1024;  // a "line" without newline is cut here

const char* StateWord(PhaseState state) {
  switch (state) {
    case PhaseState::kStart: return "start";
    case PhaseState::kOk: return "ok";
    case PhaseState::kFailed: return "failed";
    case PhaseState::kSkipped: return "skipped";
    case PhaseState::kInfo: return "info";
  }
  return "info";
}

}  // namespace

Reporter::Reporter(bool json, absl::Time started) : json_(json), tty_(!json && isatty(STDOUT_FILENO)), started_(started) {}

double Reporter::ElapsedSeconds() const { return absl::ToDoubleSeconds(absl::Now() - started_); }

void Reporter::PrintJson(const nlohmann::json& event) {
  std::string text = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fprintf(stdout, "%s\n", text.c_str());
  std::fflush(stdout);
}

void Reporter::Phase(const std::string& phase, PhaseState state, const std::string& message, const nlohmann::json& fields) {
  std::lock_guard lock(mu_);
  double elapsed = ElapsedSeconds();
  if (json_) {
    nlohmann::json event = {{"event", "phase"}, {"phase", phase}, {"state", StateWord(state)},
                            {"elapsed_s", static_cast<double>(static_cast<int64_t>(elapsed * 1000)) / 1000}, {"message", message}};
    if (fields.is_object()) {
      for (const auto& [k, v] : fields.items()) event[k] = v;
    }
    PrintJson(event);
    return;
  }
  const char* bold = tty_ ? "\033[1m" : "";
  const char* reset = tty_ ? "\033[0m" : "";
  const char* colour = "";
  if (tty_ && state == PhaseState::kOk) colour = "\033[32m";
  if (tty_ && state == PhaseState::kFailed) colour = "\033[31m";
  char head[64];
  std::snprintf(head, sizeof head, "[%7.2fs] ", elapsed);
  char name[32];
  std::snprintf(name, sizeof name, "%-9s", phase.c_str());
  std::fprintf(stdout, "%s%s%s%s %s%s%s\n", head, bold, name, reset, colour, message.c_str(), *colour ? reset : "");
  std::fflush(stdout);
}

void Reporter::SetRedactions(std::vector<std::pair<std::string, std::string>> redactions) {
  std::lock_guard lock(mu_);
  redactions_ = std::move(redactions);
}

void Reporter::EmitLine(const std::string& phase, containerd::OutputStream stream, const std::string& raw) {
  std::string line = raw;
  for (const auto& [name, value] : redactions_) {
    if (value.empty()) continue;
    for (size_t at = line.find(value); at != std::string::npos; at = line.find(value, at)) {
      std::string mark = "<secret " + name + ">";
      line.replace(at, value.size(), mark);
      at += mark.size();
    }
  }
  bool is_err = stream == containerd::OutputStream::kStderr;
  if (json_) {
    PrintJson({{"event", "output"}, {"phase", phase}, {"stream", is_err ? "stderr" : "stdout"}, {"line", line}});
    return;
  }
  std::FILE* out = is_err ? stderr : stdout;
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "%11s%-6s| ", "", phase.c_str());
  std::fprintf(out, "%s%s\n", prefix, line.c_str());
  std::fflush(out);
}

void Reporter::Output(const std::string& phase, containerd::OutputStream stream, absl::string_view bytes) {
  std::lock_guard lock(mu_);
  std::string& partial = partial_[{phase, static_cast<int>(stream)}];
  for (char c : bytes) {
    if (c == '\n') {
      EmitLine(phase, stream, partial);
      partial.clear();
      continue;
    }
    partial.push_back(c);
    if (partial.size() >= kMaxLineBytes) {
      EmitLine(phase, stream, partial);
      partial.clear();
    }
  }
}

void Reporter::FlushOutput(const std::string& phase) {
  std::lock_guard lock(mu_);
  for (auto& [key, partial] : partial_) {
    if (key.first != phase || partial.empty()) continue;
    EmitLine(phase, static_cast<containerd::OutputStream>(key.second), partial);
    partial.clear();
  }
}

void Reporter::Text(const std::string& text) {
  if (json_) return;
  std::lock_guard lock(mu_);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

void Reporter::Summary(const nlohmann::json& summary, const std::string& human_text) {
  std::lock_guard lock(mu_);
  if (json_) {
    nlohmann::json event = summary;
    event["event"] = "summary";
    PrintJson(event);
    return;
  }
  std::fputs(human_text.c_str(), stdout);
  std::fflush(stdout);
}

void Reporter::Error(const std::string& message) {
  std::lock_guard lock(mu_);
  if (json_) PrintJson({{"event", "error"}, {"message", message}});
  std::fprintf(stderr, "airlock run: %s\n", message.c_str());
  std::fflush(stderr);
}

}  // namespace airlock::run
