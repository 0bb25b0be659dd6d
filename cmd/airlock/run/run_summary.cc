#include "cmd/airlock/run/run_summary.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "shim/base/terminal_text.h"

namespace airlock::run {
namespace {

constexpr size_t kMaxLeftOutRows = 20;

std::string Seconds(absl::Duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2fs", absl::ToDoubleSeconds(d));
  return text;
}

// One row, one line: a value that quotes the sandbox (a failure naming a path) can hold a newline,
// which must not start a row of its own.
void Row(std::string& out, const char* label, const std::string& value) {
  char head[32];
  std::snprintf(head, sizeof head, "  %-11s", label);
  out += head + EscapeForTerminal(value, /*keep_tab=*/false) + "\n";
}

}  // namespace

std::vector<std::string> FileLines(const std::vector<ChangedFile>& files, size_t limit) {
  std::vector<std::string> lines;
  // The names are the agent's: quoted as git quotes them, and so that none passes for two entries.
  for (size_t i = 0; i < files.size() && i < limit; ++i) {
    lines.push_back(absl::StrCat(std::string(1, files[i].status), " ",
                                 files[i].name_hidden ? files[i].path : QuotePathInList(files[i].path)));
  }
  if (files.size() > limit) lines.push_back(absl::StrCat("... and ", files.size() - limit, " more"));
  return lines;
}

nlohmann::json SummaryJson(const RunSummary& s) {
  nlohmann::json phases = nlohmann::json::array();
  for (const PhaseRecord& p : s.phases) {
    nlohmann::json entry = {{"name", p.name}, {"ran", p.ran}, {"duration_s", absl::ToDoubleSeconds(p.duration)}};
    entry["exit_code"] = p.exit_code ? nlohmann::json(*p.exit_code) : nlohmann::json(nullptr);
    if (!p.note.empty()) entry["note"] = p.note;
    phases.push_back(entry);
  }
  nlohmann::json files = nlohmann::json::array();
  for (const ChangedFile& f : s.files) {
    nlohmann::json entry = {{"status", std::string(1, f.status)}};
    if (f.name_hidden) {
      entry["path"] = f.path;  // "<a name holding secret NAME>"
      entry["name_hidden"] = true;
    } else {
      SetJsonText(entry, "path", f.path);  // "path_base64" too when the name is not UTF-8
    }
    files.push_back(std::move(entry));
  }
  nlohmann::json leaks = nlohmann::json::array();
  for (const SecretFinding& l : s.leaks) leaks.push_back({{"secret", l.secret}, {"where", l.where}});
  const RunExitInfo& info = InfoOf(s.exit);
  return {
      {"id", s.id},
      {"image", s.image},
      {"policy", s.policy},
      {"repo", s.repo},
      {"base", s.base},
      {"phases", phases},
      {"seal", s.seal},
      {"seal_findings", s.seal_findings},
      {"verification", s.verification},
      {"files", files},
      {"insertions", s.insertions},
      {"deletions", s.deletions},
      {"branch", s.branch.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.branch)},
      {"commit", s.commit.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.commit)},
      {"tree", s.tree.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.tree)},
      {"check_tree", s.check_tree.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.check_tree)},
      {"left_out", s.left_out},
      {"patch", s.patch_path.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.patch_path)},
      {"changes_note", s.changes_note},
      {"secret_leaks", leaks},
      {"audit_excerpt", s.audit_excerpt},
      {"internet", s.internet ? nlohmann::json{{"allowed", s.internet->allowed},
                                               {"refused", s.internet->refused},
                                               {"errors", s.internet->errors},
                                               {"refused_hosts", s.internet->refused_hosts},
                                               {"more_refused_hosts", s.internet->more_refused_hosts}}
                              : nlohmann::json(nullptr)},
      {"cache", s.cache ? nlohmann::json{{"key", s.cache->key}, {"verdict", s.cache->verdict}, {"why", s.cache->why},
                                         {"written", s.cache->written}}
                        : nlohmann::json(nullptr)},
      {"audit_log", s.audit_path},
      {"destroyed", s.destroyed},
      {"leftovers", s.leftovers},
      {"exit_code", static_cast<int>(s.exit)},
      {"failed_phase", s.exit == RunExit::kOk ? nlohmann::json(nullptr) : nlohmann::json(info.name)},
      {"failure", s.failure},
      {"duration_s", absl::ToDoubleSeconds(s.total)},
  };
}

std::string SummaryText(const RunSummary& s) {
  std::string out = "\nsummary of " + s.id + "\n";
  Row(out, "repository", s.repo + " @ " + s.base);
  Row(out, "image", s.image);
  Row(out, "policy", s.policy);
  if (s.cache) {
    Row(out, "cache", absl::StrCat("setup cache ", s.cache->verdict, " (", s.cache->key, "): ", s.cache->why,
                                         s.cache->written.empty() ? "" : "; " + s.cache->written));
  }
  std::vector<std::string> phase_words;
  for (const PhaseRecord& p : s.phases) {
    std::string word = p.name + " ";
    if (!p.ran) {
      word += p.note.empty() ? "skipped" : p.note;
    } else {
      word += p.exit_code ? absl::StrCat("exit ", *p.exit_code) : std::string("no exit code");
      word += " in " + Seconds(p.duration);
    }
    phase_words.push_back(word);
  }
  Row(out, "phases", absl::StrJoin(phase_words, " | "));
  Row(out, "seal", s.seal.empty() ? "-" : s.seal);
  if (!s.verification.empty()) Row(out, "verified", s.verification);
  std::string files = s.files.empty() ? "none" : absl::StrCat(s.files.size(), " (+", s.insertions, " -", s.deletions, ")");
  Row(out, "files", files);
  for (const std::string& line : FileLines(s.files, 20)) Row(out, "", line);
  if (!s.leaks.empty()) {
    for (const SecretFinding& l : s.leaks) Row(out, "LEAK", "secret " + l.secret + " found in " + l.where);
  }
  for (size_t i = 0; i < s.left_out.size() && i < kMaxLeftOutRows; ++i) Row(out, i == 0 ? "left out" : "", s.left_out[i]);
  if (s.left_out.size() > kMaxLeftOutRows) Row(out, "", absl::StrCat("... and ", s.left_out.size() - kMaxLeftOutRows, " more"));
  if (!s.tree.empty()) Row(out, "tree", s.tree);
  if (!s.check_tree.empty()) {
    Row(out, "checked", s.check_tree == s.tree ? "the check ran on that tree, in a sandbox of its own"
                                               : "the check ran on tree " + s.check_tree);
  }
  Row(out, "branch", s.branch.empty() ? "none (" + s.changes_note + ")" : s.branch + " (commit " + s.commit.substr(0, 12) + ")");
  Row(out, "patch", s.patch_path.empty() ? "none" : s.patch_path);
  if (s.internet) {
    const ProxyTally& t = *s.internet;
    Row(out, "internet", absl::StrCat(t.allowed, " request(s) allowed, ", t.refused, " refused",
                                      t.errors ? absl::StrCat(", ", t.errors, " failed upstream") : std::string(),
                                      " (the agent's, through the airlock proxy)"));
    if (!t.refused_hosts.empty()) {
      Row(out, "", absl::StrCat("refused: ", absl::StrJoin(t.refused_hosts, ", "),
                                t.more_refused_hosts ? absl::StrCat(" and ", t.more_refused_hosts, " more") : ""));
    }
  }
  if (!s.audit_excerpt.empty()) {
    bool first = true;
    for (const std::string& line : s.audit_excerpt) {
      Row(out, first ? "audit" : "", line);
      first = false;
    }
    if (!s.audit_path.empty()) Row(out, "", "(full log: " + s.audit_path + ")");
  }
  if (s.destroyed && s.leftovers.empty()) {
    Row(out, "sandbox", "destroyed, nothing left");
  } else {
    Row(out, "sandbox", absl::StrCat("NOT fully destroyed: ", s.leftovers.size(), " thing(s) left"));
    for (const std::string& l : s.leftovers) Row(out, "", l);
  }
  const RunExitInfo& info = InfoOf(s.exit);
  std::string verdict = absl::StrCat(static_cast<int>(s.exit), " (", info.name, ")");
  if (!s.failure.empty()) verdict += ": " + s.failure;
  Row(out, "exit", verdict);
  Row(out, "took", Seconds(s.total));
  return out;
}

}  // namespace airlock::run
