// caps.bounded, secrets.absent, seccomp.active, no_new_privs: what the kernel says about this process.

#include <cerrno>
#include <set>
#include <utility>

#include "cmd/airlock-init/capability_names.h"
#include "cmd/airlock-init/init_config.h"
#include "cmd/airlock-init/probe_util.h"
#include "cmd/airlock-init/probes.h"

extern char** environ;

namespace airlock::init {
namespace {

constexpr size_t kMaxStatusBytes = 64 << 10;
constexpr size_t kMaxEnvironBytes = 8 << 20;

bool ReadOwnStatus(std::string* text, std::string* error) {
  return ReadSmallFile("/proc/self/status", kMaxStatusBytes, text, error);
}

// The variable names in a NUL- or list-separated environment.
std::set<std::string> EnvironmentNames(const std::vector<std::string>& entries) {
  std::set<std::string> names;
  for (const std::string& entry : entries) names.insert(entry.substr(0, entry.find('=')));
  return names;
}

std::vector<std::string> SplitNul(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\0', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

ProbeResult StatusFlag(const std::string& name, const std::string& key, const std::string& want,
                       const std::string& meaning) {
  ProbeResult result{name, Verdict::kHeld, ""};
  std::string text, error, value;
  if (!ReadOwnStatus(&text, &error)) return {name, Verdict::kError, error};
  if (!StatusField(text, key, &value)) return {name, Verdict::kError, key + ": missing from /proc/self/status"};
  result.detail = key + ": " + value;
  if (value != want) {
    result.verdict = Verdict::kBroken;
    result.detail += " (want " + want + ": " + meaning + ")";
  }
  return result;
}

}  // namespace

ProbeResult CapsBoundedVerdict(const std::string& status_text, uint64_t allowed) {
  ProbeResult result{"caps.bounded", Verdict::kHeld, ""};
  // Sets with the same capabilities beyond the policy are reported together.
  std::vector<std::pair<std::string, uint64_t>> beyond;
  for (const char* key : {"CapEff", "CapPrm", "CapBnd", "CapAmb"}) {
    std::string value;
    uint64_t mask = 0;
    if (!StatusField(status_text, key, &value) || !ParseHexMask(value, &mask)) {
      // CapAmb is missing before Linux 4.3; the others always exist.
      if (std::string(key) == "CapAmb") continue;
      return {"caps.bounded", Verdict::kError, std::string(key) + ": missing or unreadable in /proc/self/status"};
    }
    uint64_t extra = mask & ~allowed;
    if (extra == 0) continue;
    bool grouped = false;
    for (auto& [keys, known] : beyond) {
      if (known == extra) {
        keys += std::string(", ") + key;
        grouped = true;
      }
    }
    if (!grouped) beyond.emplace_back(key, extra);
  }
  if (beyond.empty()) {
    result.detail = "CapEff, CapPrm, CapBnd, CapAmb within the " + std::to_string(__builtin_popcountll(allowed)) +
                    " allowed capabilities";
    return result;
  }
  result.verdict = Verdict::kBroken;
  for (const auto& [keys, extra] : beyond) {
    result.detail += (result.detail.empty() ? "" : "; ") + keys + " beyond the policy: " + CapabilityList(extra);
  }
  return result;
}

ProbeResult ProbeCapsBounded(uint64_t allowed) {
  std::string text, error;
  if (!ReadOwnStatus(&text, &error)) return {"caps.bounded", Verdict::kError, error};
  return CapsBoundedVerdict(text, allowed);
}

ProbeResult ProbeSecretsAbsent(const std::vector<std::string>& secrets) {
  ProbeResult result{"secrets.absent", Verdict::kHeld, ""};
  if (secrets.empty()) {
    result.detail = "no secrets in the policy";
    return result;
  }
  std::vector<std::string> own;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) own.push_back(*e);
  std::set<std::string> own_names = EnvironmentNames(own);

  std::string pid1_text, pid1_error;
  bool pid1_readable = ReadSmallFile("/proc/1/environ", kMaxEnvironBytes, &pid1_text, &pid1_error);
  std::set<std::string> pid1_names = EnvironmentNames(SplitNul(pid1_text));

  // Names only: a value is never read into the report.
  std::string found;
  for (const std::string& secret : secrets) {
    if (own_names.count(secret) > 0) found += (found.empty() ? "" : "; ") + secret + " in the own environment";
    if (pid1_readable && pid1_names.count(secret) > 0) found += (found.empty() ? "" : "; ") + secret + " in /proc/1/environ";
  }
  if (!found.empty()) {
    result.verdict = Verdict::kBroken;
    result.detail = found;
    return result;
  }
  result.detail = std::to_string(secrets.size()) + " secret name(s) absent from the own environment";
  // Unreadable (pid 1 is not dumpable, or /proc is masked) means unreadable for an agent too.
  result.detail += pid1_readable ? " and /proc/1/environ" : "; /proc/1/environ unreadable (" + pid1_error + ")";
  return result;
}

ProbeResult ProbeSeccompActive() {
  return StatusFlag("seccomp.active", "Seccomp", "2", "a seccomp filter applies");
}

ProbeResult ProbeNoNewPrivs() {
  return StatusFlag("no_new_privs", "NoNewPrivs", "1", "execve cannot gain privileges");
}

}  // namespace airlock::init
