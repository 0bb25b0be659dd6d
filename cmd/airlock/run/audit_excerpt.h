// Short forms of the sandbox's evidence for the run's summary: the audit log as one short line an
// event (time since the first event, the event, its scalar fields), and the seal's netns findings
// as one phrase.
#pragma once

#include <string>
#include <vector>

namespace airlock::run {

// `lines` are the audit log's JSON lines, oldest first; at most `limit` results (the newest).
std::vector<std::string> AuditExcerpt(const std::vector<std::string>& lines, size_t limit);

// "only lo left (7 entries read back)" or "links: lo, eth0 (9 entries read back)".
std::string NetnsFindingsSummary(const std::vector<std::string>& findings);

}  // namespace airlock::run
