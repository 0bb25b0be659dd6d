// What one `airlock run` did, for the end of its output: human text and the --json summary.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "cmd/airlock/run/audit_excerpt.h"
#include "cmd/airlock/run/exit_codes.h"
#include "policy/sandbox/secret_scan.h"
#include "cmd/airlock/run/workspace.h"

namespace airlock::run {

struct PhaseRecord {
  std::string name;             // setup, agent, check
  bool ran = false;
  std::optional<int> exit_code;
  absl::Duration duration;
  std::string note;             // "skipped: setup failed", ...
};

struct RunSummary {
  std::string id;
  std::string image;
  std::string policy;           // where it came from
  std::string repo;             // the user's repository
  std::string base;             // HEAD it started from (short) and its name
  std::vector<PhaseRecord> phases;
  std::string seal;             // "sealed by setup-exit at ..., verified in 3.2 ms"
  std::vector<std::string> seal_findings;
  std::string verification;     // "13 probes held"
  std::vector<ChangedFile> files;
  std::vector<std::string> left_out;  // what was not collected, one line each: fifos, sockets, devices
                                      // (as git does), a top-level .git; names quoted
  int64_t insertions = 0;
  int64_t deletions = 0;
  std::string tree;             // the change set's tree (the branch's), "" when none
  std::string check_tree;       // the tree the check ran on, "" when no check ran
  std::string branch;           // "" when none was made
  std::string commit;
  std::string patch_path;       // "" when none was written
  std::string changes_note;     // why no branch ("no changes", "blocked: ...", "agent failed")
  std::vector<SecretFinding> leaks;
  std::vector<std::string> audit_excerpt;  // formatted lines
  std::optional<ProxyTally> internet;      // the agent's requests through the airlock proxy
  struct Cache {
    std::string key;
    std::string verdict;  // hit, miss, stale
    std::string why;
    std::string written;  // miss: "written: ...", "not written: ..."; "" on a hit
  };
  std::optional<Cache> cache;              // the policy's setup cache, when it is on
  std::string audit_path;
  bool destroyed = false;
  std::vector<std::string> leftovers;
  std::string checked;          // what the leftover check looked at
  RunExit exit = RunExit::kOk;
  std::string failure;          // the first failure's message
  absl::Duration total;
};

nlohmann::json SummaryJson(const RunSummary& s);
std::string SummaryText(const RunSummary& s);

// "M src/x.sh" lines, at most `limit` then "... and N more".
std::vector<std::string> FileLines(const std::vector<ChangedFile>& files, size_t limit);

}  // namespace airlock::run
