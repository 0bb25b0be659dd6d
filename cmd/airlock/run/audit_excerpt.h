// Short forms of the sandbox's evidence for the run's summary: the audit log as one short line an
// event (time since the first event, the event, its scalar fields), and the seal's netns findings
// as one phrase.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace airlock::run {

// `lines` are the audit log's JSON lines, oldest first; at most `limit` results (the newest).
std::vector<std::string> AuditExcerpt(const std::vector<std::string>& lines, size_t limit);

// What went through the airlock proxy (the audit's "proxy" events), for the run's summary.
struct ProxyTally {
  uint64_t allowed = 0;
  uint64_t refused = 0;
  uint64_t errors = 0;                      // allowed, but the upstream failed
  std::vector<std::string> refused_hosts;   // distinct, in order, at most kMaxTalliedHosts
  uint64_t more_refused_hosts = 0;          // distinct ones past that
};
inline constexpr size_t kMaxTalliedHosts = 10;
// `after_verify`: only the records after the first "verify" record (airlock run verifies before the
// agent starts: the probes' own requests are not the agent's).
ProxyTally TallyProxy(const std::vector<std::string>& lines, bool after_verify = false);

// "only lo left (7 entries read back)" or "links: lo, eth0 (9 entries read back)".
std::string NetnsFindingsSummary(const std::vector<std::string>& findings);

}  // namespace airlock::run
