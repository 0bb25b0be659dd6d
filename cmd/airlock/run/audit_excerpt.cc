#include "cmd/airlock/run/audit_excerpt.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace airlock::run {
namespace {

constexpr size_t kMaxValueChars = 40;
constexpr size_t kMaxLineChars = 110;

std::string Scalar(const nlohmann::json& v) {
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    return s.size() > kMaxValueChars ? s.substr(0, kMaxValueChars - 3) + "..." : s;
  }
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  return "";
}

// A field worth showing: scalars, and short lists of scalars.
bool Shown(const nlohmann::json& v, std::string* out) {
  if (v.is_string() || v.is_boolean() || v.is_number()) {
    *out = Scalar(v);
    return !out->empty();
  }
  if (v.is_array() && !v.empty()) {
    std::vector<std::string> items;
    for (const auto& item : v) {
      if (item.is_object() || item.is_array()) return false;
      items.push_back(Scalar(item));
    }
    *out = absl::StrJoin(items, ",");
    return out->size() <= kMaxValueChars;
  }
  return false;
}

}  // namespace

std::vector<std::string> AuditExcerpt(const std::vector<std::string>& lines, size_t limit) {
  std::vector<std::string> out;
  absl::Time first = absl::InfinitePast();
  for (const std::string& line : lines) {
    nlohmann::json entry = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!entry.is_object()) continue;
    std::string when = "";
    absl::Time t;
    std::string err;
    if (entry.contains("time") && entry["time"].is_string() &&
        absl::ParseTime(absl::RFC3339_full, entry["time"].get<std::string>(), &t, &err)) {
      if (first == absl::InfinitePast()) first = t;
      char text[32];
      std::snprintf(text, sizeof text, "+%.3fs", absl::ToDoubleSeconds(t - first));
      when = text;
    }
    std::string text = absl::StrCat(when, "  ", entry.contains("event") ? Scalar(entry["event"]) : "-");
    for (const auto& [key, value] : entry.items()) {
      if (key == "time" || key == "event") continue;
      std::string shown;
      if (!Shown(value, &shown)) continue;
      std::string field = absl::StrCat("  ", key, "=", shown);
      if (text.size() + field.size() > kMaxLineChars) {
        text += "  ...";
        break;
      }
      text += field;
    }
    out.push_back(text);
  }
  if (out.size() > limit) out.erase(out.begin(), out.end() - static_cast<long>(limit));
  return out;
}

std::string NetnsFindingsSummary(const std::vector<std::string>& findings) {
  std::vector<std::string> links;
  for (const std::string& f : findings) {
    // "link 1:lo up loopback"
    if (f.rfind("link ", 0) != 0) continue;
    std::string rest = f.substr(5);
    size_t colon = rest.find(':');
    size_t space = rest.find(' ');
    if (colon != std::string::npos) links.push_back(rest.substr(colon + 1, space == std::string::npos ? std::string::npos : space - colon - 1));
  }
  std::string tail = absl::StrCat(" (", findings.size(), " entries read back)");
  if (links.size() == 1 && links[0] == "lo") return "only lo left" + tail;
  if (links.empty()) return findings.empty() ? "nothing read back" : "no links" + tail;
  return "links: " + absl::StrJoin(links, ", ") + tail;
}

ProxyTally TallyProxy(const std::vector<std::string>& lines, bool after_verify) {
  ProxyTally tally;
  std::vector<std::string> seen;
  bool counting = !after_verify;
  for (const std::string& line : lines) {
    nlohmann::json entry = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!entry.is_object()) continue;
    if (!counting) {
      counting = entry.value("event", "") == "verify";
      continue;
    }
    if (entry.value("event", "") != "proxy" || !entry["decision"].is_string()) continue;
    const std::string decision = entry["decision"].get<std::string>();
    if (decision == "allowed") {
      ++tally.allowed;
    } else if (decision == "error") {
      ++tally.errors;
    } else {
      ++tally.refused;
      if (!entry.contains("host") || !entry["host"].is_string()) continue;
      // The shim writes canonical names ([a-z0-9._-], bracketed addresses); anything else is not shown.
      std::string host = entry["host"].get<std::string>();
      if (host.empty() || host.size() > 255 ||
          host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-_[]:") != std::string::npos) {
        continue;
      }
      if (std::find(seen.begin(), seen.end(), host) != seen.end()) continue;
      seen.push_back(host);
      if (tally.refused_hosts.size() < kMaxTalliedHosts) {
        tally.refused_hosts.push_back(host);
      } else {
        ++tally.more_refused_hosts;
      }
    }
  }
  return tally;
}

}  // namespace airlock::run
