// What `airlock run` tells its user while it works: one line per phase with the elapsed time
// since the start, the container's output streamed in between (line by line, prefixed with the
// phase), and the summary at the end. With --json every line on stdout is one JSON object:
//   {"event":"phase","phase":"setup","state":"start|ok|failed|skipped","elapsed_s":1.2,"message":...}
//   {"event":"output","phase":"agent","stream":"stdout","line":"..."}
//   {"event":"summary",...}
// Human progress goes to stdout; the container's stderr lines go to stderr. On a terminal the
// phase words are bold and the verdicts coloured; in a log they are plain. Those are the only
// escape sequences it prints: every human line is passed through EscapeForTerminal first (the
// sandbox's output, and names and messages that quote it, must not drive the terminal). A line
// longer than the limit comes in pieces, each but the last marked ("continued": true in JSON).
// Secret values are redacted on the raw stream before it is cut into lines, so a value holding a
// newline or lying across a piece boundary is still caught.
#pragma once

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cmd/airlock/containerd/process_io.h"

namespace airlock::run {

enum class PhaseState { kStart, kOk, kFailed, kSkipped, kInfo };

class Reporter {
 public:
  Reporter(bool json, absl::Time started);

  // "[  1.23s] setup      ok: exit 0 in 0.71s" (json: a phase event with `fields` merged in).
  void Phase(const std::string& phase, PhaseState state, const std::string& message,
             const nlohmann::json& fields = nlohmann::json::object());
  // A chunk of the container's output for `phase`; emitted line by line.
  void Output(const std::string& phase, containerd::OutputStream stream, absl::string_view bytes);
  // Emits what is left of a partial last line of `phase`.
  void FlushOutput(const std::string& phase);
  // A free-form line for a person (human mode only), e.g. the summary block.
  void Text(const std::string& text);
  void Summary(const nlohmann::json& summary, const std::string& human_text);
  // "airlock run: message" on stderr (both modes; JSON mode also emits an error event).
  void Error(const std::string& message);

  // Secret values (name, value): replaced by "<secret NAME>" in every output line.
  void SetRedactions(std::vector<std::pair<std::string, std::string>> redactions);

  bool json() const { return json_; }
  // Every secret value in `text` replaced by "<secret NAME>": as it is, in each encoding the scan
  // knows (secret_scan.h), and each of those as QuotePath and JSON write it.
  std::string RedactText(std::string text) const;
  double ElapsedSeconds() const;

 private:
  // One stream of one phase on its way to lines.
  struct StreamState {
    std::string raw;      // not redacted yet: its end may be the start of a secret value
    size_t covered = 0;   // leading bytes of `raw` inside a secret whose marker is already out
    std::string line;     // redacted, waiting for its newline
  };
  // Redacts what of `state.raw` no later byte can change (all of it when `final`) and passes it
  // on to the lines.
  void Pass(const std::string& phase, containerd::OutputStream stream, StreamState& state, bool final);
  // Adds redacted text to the line being collected; `whole` text (a marker) is never cut.
  void AppendToLines(const std::string& phase, containerd::OutputStream stream, StreamState& state,
                     absl::string_view text, bool whole);
  void EmitLine(const std::string& phase, containerd::OutputStream stream, const std::string& line, bool continues);
  void PrintJson(const nlohmann::json& event);

  const bool json_;
  const bool tty_;
  const absl::Time started_;
  std::mutex mu_;
  std::map<std::pair<std::string, int>, StreamState> streams_;  // (phase, stream) -> its state
  std::vector<std::pair<std::string, std::string>> redactions_;
  std::vector<std::pair<std::string, std::string>> text_forms_;  // (name, form) for RedactText
};

}  // namespace airlock::run
