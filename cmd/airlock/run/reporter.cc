#include "cmd/airlock/run/reporter.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "policy/sandbox/secret_scan.h"
#include "shim/base/terminal_text.h"

namespace airlock::run {
namespace {

constexpr size_t kMaxLineBytes = 64 * 1024;  // a "line" without newline is cut here
// Ends a human piece of a line that was cut (the JSON form says "continued": true).
constexpr absl::string_view kContinuesMark = " [line continues]";

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

// Multi-line text made by airlock (that may quote the sandbox): each line escaped, '\n' kept.
std::string EscapeLines(absl::string_view text) {
  std::string out;
  for (size_t start = 0;;) {
    size_t nl = text.find('\n', start);
    out += EscapeForTerminal(text.substr(start, nl == absl::string_view::npos ? nl : nl - start), /*keep_tab=*/false);
    if (nl == absl::string_view::npos) return out;
    out += '\n';
    start = nl + 1;
  }
}

// Where to cut a full line: before a UTF-8 sequence the cut would split, so that it is shown whole
// in the next piece rather than as stray bytes in two.
size_t CutPoint(const std::string& line) {
  size_t size = line.size();
  for (size_t back = 1; back <= 3 && back <= size; ++back) {
    auto byte = static_cast<unsigned char>(line[size - back]);
    if (byte < 0x80) break;
    if (byte < 0xc0) continue;  // a continuation byte: look further back for the lead
    size_t expected = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
    return expected > back && back < size ? size - back : size;
  }
  return size;
}

void WriteLine(std::FILE* out, absl::string_view line) {
  std::fwrite(line.data(), 1, line.size(), out);
  std::fputc('\n', out);
  std::fflush(out);
}

}  // namespace

Reporter::Reporter(bool json, absl::Time started) : json_(json), tty_(!json && isatty(STDOUT_FILENO)), started_(started) {}

double Reporter::ElapsedSeconds() const { return absl::ToDoubleSeconds(absl::Now() - started_); }

std::string Reporter::RedactText(std::string text) const {
  for (const auto& [name, form] : text_forms_) {
    const std::string mark = "<secret " + name + ">";
    for (size_t at = text.find(form); at != std::string::npos; at = text.find(form, at + mark.size())) {
      text.replace(at, form.size(), mark);
    }
  }
  return text;
}

void Reporter::PrintJson(const nlohmann::json& event) {
  // Names and messages can quote what the sandbox wrote: a secret's value in a file name too.
  std::string text = RedactText(event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
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
  std::snprintf(name, sizeof name, "%-9s", EscapeForTerminal(phase, false).c_str());
  WriteLine(stdout, absl::StrCat(head, bold, name, reset, " ", colour, EscapeForTerminal(RedactText(message), /*keep_tab=*/false),
                                 *colour ? reset : ""));
}

void Reporter::SetRedactions(std::vector<std::pair<std::string, std::string>> redactions) {
  std::lock_guard lock(mu_);
  redactions_ = std::move(redactions);
  // airlock's own lines can quote a name holding a value in any form the scan knows (raw, hex,
  // base64, percent-encoded), and that form again as a quoted path or inside a JSON string.
  text_forms_.clear();
  for (const auto& [name, value] : redactions_) {
    if (value.empty()) continue;
    for (const SecretForm& form : SearchForms(value)) {
      std::string quoted = QuotePath(form.needle);
      if (quoted.size() >= 2 && quoted.front() == '"') quoted = quoted.substr(1, quoted.size() - 2);
      std::string json = nlohmann::json(form.needle).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      json = json.substr(1, json.size() - 2);
      for (std::string variant : {form.needle, quoted, json}) {
        bool known = false;
        for (const auto& [n, f] : text_forms_) known = known || f == variant;
        if (!known && !variant.empty()) text_forms_.emplace_back(name, std::move(variant));
      }
    }
  }
  // Longer forms first: a shorter one inside a longer one must not break it up.
  std::stable_sort(text_forms_.begin(), text_forms_.end(),
                   [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
}

void Reporter::Pass(const std::string& phase, containerd::OutputStream stream, StreamState& state, bool final) {
  const std::string& raw = state.raw;
  // Every occurrence of every value (they may overlap), and the bytes already known to be secret.
  struct Span {
    size_t begin, end;
    const std::string* name;  // null: the rest of a secret whose marker is already out
  };
  std::vector<Span> spans;
  if (state.covered > 0) spans.push_back({0, state.covered, nullptr});
  size_t keep = 0;  // the longest tail a value could still begin with: later bytes decide
  for (const auto& [name, value] : redactions_) {
    if (value.empty()) continue;
    for (size_t at = raw.find(value); at != std::string::npos; at = raw.find(value, at + 1)) {
      spans.push_back({at, at + value.size(), &name});
    }
    for (size_t k = std::min(value.size() - 1, raw.size()); !final && k > keep; --k) {
      if (raw.compare(raw.size() - k, k, value, 0, k) == 0) {
        keep = k;
        break;
      }
    }
  }
  std::stable_sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  size_t end = raw.size() - keep;
  if (end == 0) return;
  size_t at = 0, covered = 0;
  for (size_t i = 0; i < spans.size();) {
    // Overlapping occurrences are one secret run with one marker.
    size_t run_end = spans[i].end;
    size_t j = i + 1;
    for (; j < spans.size() && spans[j].begin < run_end; ++j) run_end = std::max(run_end, spans[j].end);
    if (spans[i].begin >= end) break;  // in the held-back tail: found again next time
    AppendToLines(phase, stream, state, absl::string_view(raw).substr(at, spans[i].begin - at), false);
    if (spans[i].name != nullptr) AppendToLines(phase, stream, state, absl::StrCat("<secret ", *spans[i].name, ">"), true);
    at = std::min(run_end, end);
    if (run_end > end) covered = run_end - end;
    i = j;
  }
  if (at < end) AppendToLines(phase, stream, state, absl::string_view(raw).substr(at, end - at), false);
  state.raw.erase(0, end);
  state.covered = covered;
}

void Reporter::AppendToLines(const std::string& phase, containerd::OutputStream stream, StreamState& state,
                             absl::string_view text, bool whole) {
  std::string& line = state.line;
  if (whole) {  // a redaction marker: never cut in two
    line.append(text.data(), text.size());
    if (line.size() >= kMaxLineBytes) {
      EmitLine(phase, stream, line, /*continues=*/true);
      line.clear();
    }
    return;
  }
  for (char c : text) {
    if (c == '\n') {
      EmitLine(phase, stream, line, /*continues=*/false);
      line.clear();
      continue;
    }
    line.push_back(c);
    if (line.size() >= kMaxLineBytes) {
      size_t cut = CutPoint(line);
      EmitLine(phase, stream, line.substr(0, cut), /*continues=*/true);
      line.erase(0, cut);
    }
  }
}

void Reporter::EmitLine(const std::string& phase, containerd::OutputStream stream, const std::string& line,
                        bool continues) {
  bool is_err = stream == containerd::OutputStream::kStderr;
  if (json_) {
    nlohmann::json event = {{"event", "output"}, {"phase", phase}, {"stream", is_err ? "stderr" : "stdout"}};
    SetJsonText(event, "line", line);
    if (continues) event["continued"] = true;
    PrintJson(event);
    return;
  }
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "%11s%-5s | ", "", EscapeForTerminal(phase, false).c_str());
  WriteLine(is_err ? stderr : stdout,
            absl::StrCat(prefix, EscapeForTerminal(line, /*keep_tab=*/true), continues ? kContinuesMark : ""));
}

void Reporter::Output(const std::string& phase, containerd::OutputStream stream, absl::string_view bytes) {
  std::lock_guard lock(mu_);
  StreamState& state = streams_[{phase, static_cast<int>(stream)}];
  state.raw.append(bytes.data(), bytes.size());
  Pass(phase, stream, state, /*final=*/false);
}

void Reporter::FlushOutput(const std::string& phase) {
  std::lock_guard lock(mu_);
  for (auto& [key, state] : streams_) {
    if (key.first != phase) continue;
    auto stream = static_cast<containerd::OutputStream>(key.second);
    Pass(phase, stream, state, /*final=*/true);
    if (state.line.empty()) continue;
    EmitLine(phase, stream, state.line, /*continues=*/false);
    state.line.clear();
  }
}

void Reporter::Text(const std::string& text) {
  if (json_) return;
  std::lock_guard lock(mu_);
  std::string shown = EscapeLines(RedactText(text));
  std::fwrite(shown.data(), 1, shown.size(), stdout);
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
  std::string shown = EscapeLines(RedactText(human_text));
  std::fwrite(shown.data(), 1, shown.size(), stdout);
  std::fflush(stdout);
}

void Reporter::Error(const std::string& message) {
  std::lock_guard lock(mu_);
  if (json_) PrintJson({{"event", "error"}, {"message", message}});
  WriteLine(stderr, absl::StrCat("airlock run: ", EscapeForTerminal(RedactText(message), /*keep_tab=*/false)));
}

}  // namespace airlock::run
