// The outcome of one probe of `airlock-init probe` and the report that lists them.
#pragma once

#include <string>
#include <vector>

namespace airlock::init {

enum class Verdict {
  kHeld,    // the promise holds
  kBroken,  // it does not
  kError,   // the probe could not tell
  kInfo,    // expected for the phase (the network is open during setup): not a verdict
};

// "held", "broken", "error", "info": the words of the JSON report and airlock.v1.Probe.result.
const char* VerdictName(Verdict verdict);

struct ProbeResult {
  std::string name;    // e.g. "network.peer-unreachable"
  Verdict verdict = Verdict::kError;
  std::string detail;  // one line
};

// True when no probe is broken or in error (info counts as fine).
bool AllHeld(const std::vector<ProbeResult>& results);

// {"probes":[{"name":..,"result":..,"detail":..},...],"held":true|false} on one line.
std::string ReportJson(const std::vector<ProbeResult>& results);

// A table for a person: one probe a line, then a summary line.
std::string ReportTable(const std::vector<ProbeResult>& results);

// `text` as a JSON string literal (quotes included). Invalid UTF-8 bytes become U+FFFD.
std::string JsonQuote(const std::string& text);

}  // namespace airlock::init
