#include "cmd/airlock/sandbox_view.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace airlock::cli {
namespace {

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

void Row(std::string& out, const char* label, const std::string& value) {
  char head[32];
  std::snprintf(head, sizeof head, "%-12s", label);
  out += head + value + "\n";
}

}  // namespace

std::string JsonText(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string FormatTimestamp(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "";
  absl::Time t = absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string FormatLatency(int64_t nanoseconds) {
  char text[64];
  if (nanoseconds < 1000000) {
    std::snprintf(text, sizeof text, "%.0f us", static_cast<double>(nanoseconds) / 1e3);
  } else if (nanoseconds < 1000000000) {
    std::snprintf(text, sizeof text, "%.3f ms", static_cast<double>(nanoseconds) / 1e6);
  } else {
    std::snprintf(text, sizeof text, "%.3f s", static_cast<double>(nanoseconds) / 1e9);
  }
  return text;
}

nlohmann::json StatusJson(const airlock::v1::SandboxStatus& s) {
  nlohmann::json findings = nlohmann::json::array();
  for (const std::string& f : s.seal_findings()) findings.push_back(f);
  std::string sealed_at = FormatTimestamp(s.sealed_at());
  nlohmann::json refused_hosts = nlohmann::json::array();
  for (const std::string& h : s.proxy_refused_hosts()) refused_hosts.push_back(h);
  return {
      {"id", s.id()},
      {"namespace", s.namespace_()},
      {"phase", s.phase()},
      {"policy_source", s.policy_source()},
      {"policy_digest", s.policy_digest()},
      {"seal_trigger", s.seal_trigger()},
      {"sealed_at", sealed_at.empty() ? nlohmann::json(nullptr) : nlohmann::json(sealed_at)},
      {"verified", s.verified()},
      {"seal_latency_ns", s.seal_latency_ns()},
      {"seal_findings", findings},
      {"workspace_source", s.workspace_source()},
      {"workspace_target", s.workspace_target()},
      {"uplink", s.uplink()},
      {"setup_ran", s.setup_ran()},
      {"setup_exit_code", s.setup_exit_code()},
      {"failure", s.failure()},
      {"init_pid", s.init_pid()},
      {"limits", s.limits()},
      {"execution_deadline_passed", s.execution_deadline_passed()},
      {"proxy",
       {{"listener", s.proxy()},
        {"allowed", s.proxy_allowed()},
        {"refused", s.proxy_refused()},
        {"bytes_up", s.proxy_bytes_up()},
        {"bytes_down", s.proxy_bytes_down()},
        {"refused_hosts", refused_hosts}}},
  };
}

std::string SealSummary(const airlock::v1::SandboxStatus& s) {
  if (s.seal_trigger().empty() && !s.has_sealed_at()) return "not sealed yet";
  std::string out = "sealed";
  if (!s.seal_trigger().empty()) out += " by " + s.seal_trigger();
  std::string at = FormatTimestamp(s.sealed_at());
  if (!at.empty()) out += " at " + at;
  if (s.verified()) {
    out += ", verified";
    if (s.seal_latency_ns() > 0) out += " in " + FormatLatency(s.seal_latency_ns());
  } else {
    out += ", NOT verified";
  }
  return out;
}

std::string StatusText(const airlock::v1::SandboxStatus& s) {
  std::string out;
  Row(out, "Sandbox", s.id() + " (namespace " + s.namespace_() + ")");
  Row(out, "Phase", OrDash(s.phase()));
  Row(out, "Seal", SealSummary(s));
  if (!s.seal_trigger().empty() || s.has_sealed_at()) {
    Row(out, "Verified", s.verified() ? "yes" : "NO");
    Row(out, "Latency", s.seal_latency_ns() > 0 ? FormatLatency(s.seal_latency_ns()) + " from trigger to verified" : "-");
  }
  if (s.seal_findings().empty()) {
    Row(out, "Findings", "-");
  } else {
    bool first = true;
    for (const std::string& f : s.seal_findings()) {
      Row(out, first ? "Findings" : "", f);
      first = false;
    }
  }
  std::string workspace = s.workspace_source().empty() && s.workspace_target().empty()
                              ? "-"
                              : OrDash(s.workspace_source()) + " -> " + OrDash(s.workspace_target());
  Row(out, "Workspace", workspace);
  Row(out, "Uplink", OrDash(s.uplink()));
  if (!s.proxy().empty()) {
    Row(out, "Proxy", s.proxy());
    Row(out, "", absl::StrCat(s.proxy_allowed(), " allowed, ", s.proxy_refused(), " refused, ", s.proxy_bytes_up(),
                              " bytes up, ", s.proxy_bytes_down(), " bytes down"));
    if (!s.proxy_refused_hosts().empty()) {
      Row(out, "", absl::StrCat("refused hosts: ", absl::StrJoin(s.proxy_refused_hosts(), ", ")));
    }
  }
  Row(out, "Setup", s.setup_ran() ? "ran, exit code " + std::to_string(s.setup_exit_code()) : "did not run");
  std::string policy = OrDash(s.policy_source());
  if (!s.policy_digest().empty()) policy += " (" + s.policy_digest() + ")";
  Row(out, "Policy", policy);
  if (s.init_pid() != 0) Row(out, "Init pid", std::to_string(s.init_pid()));
  if (!s.limits().empty()) Row(out, "Limits", s.limits());
  if (s.execution_deadline_passed()) Row(out, "Deadline", "the execution deadline passed: the shim killed the container");
  if (!s.failure().empty()) Row(out, "Failure", s.failure());
  return out;
}

nlohmann::json VerifyJson(const airlock::v1::VerifyResponse& r) {
  nlohmann::json probes = nlohmann::json::array();
  for (const airlock::v1::Probe& p : r.probes()) {
    probes.push_back({{"name", p.name()}, {"result", p.result()}, {"detail", p.detail()}});
  }
  return {{"id", r.id()}, {"phase", r.phase()}, {"held", VerifyHeld(r)}, {"probes", probes}};
}

bool VerifyHeld(const airlock::v1::VerifyResponse& r) {
  if (r.probes().empty() || r.phase() != "sealed") return false;
  for (const airlock::v1::Probe& p : r.probes()) {
    if (p.result() == "broken" || p.result() == "error") return false;
    if (p.result() != "held" && p.result() != "info") return false;  // an unknown word proves nothing
  }
  return true;
}

std::string VerifyText(const std::string& namespace_name, const airlock::v1::VerifyResponse& r) {
  std::string out = "Sandbox " + r.id() + " (namespace " + namespace_name + "), phase " + OrDash(r.phase()) + "\n";
  size_t width = 0;
  for (const airlock::v1::Probe& p : r.probes()) width = std::max(width, p.name().size());
  int broken = 0, errors = 0;
  for (const airlock::v1::Probe& p : r.probes()) {
    std::string word = p.result() == "broken" ? "BROKEN" : p.result();
    if (p.result() == "broken") ++broken;
    if (p.result() != "broken" && p.result() != "held" && p.result() != "info") ++errors;
    char head[160];
    std::snprintf(head, sizeof head, "  %-7s %-*s  ", word.c_str(), static_cast<int>(width), p.name().c_str());
    out += head + p.detail() + "\n";
  }
  if (r.probes().empty()) {
    out += "airlock NOT verified: the shim reported no probes\n";
  } else if (broken == 0 && errors == 0 && r.phase() != "sealed") {
    out += "airlock NOT verified: the sandbox is not sealed (phase " + OrDash(r.phase()) +
           "); the sealed probes ran through the helper, as an exec after the seal would (the setup.* ones are "
           "what the setup command's process saw under its filter)\n";
  } else if (broken == 0 && errors == 0) {
    out += "airlock verified: " + std::to_string(r.probes_size()) + " probes held\n";
  } else {
    out += "airlock NOT verified: " + std::to_string(broken) + " broken, " + std::to_string(errors) + " error\n";
  }
  return out;
}

std::string AuditLineText(const std::string& line) {
  nlohmann::json entry = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!entry.is_object()) return line;
  auto text_of = [](const nlohmann::json& value) { return value.is_string() ? value.get<std::string>() : JsonText(value); };
  std::string out = entry.contains("time") ? text_of(entry["time"]) : "-";
  out += "  ";
  out += entry.contains("event") ? text_of(entry["event"]) : "-";
  for (const auto& [key, value] : entry.items()) {
    if (key == "time" || key == "event") continue;
    const bool plain = value.is_string() && !value.get<std::string>().empty() &&
                       value.get<std::string>().find_first_of(" \"\\=\n\t") == std::string::npos;
    out += "  " + key + "=" + (plain ? value.get<std::string>() : JsonText(value));
  }
  return out;
}

}  // namespace airlock::cli
