// `airlock-init probe ...`: checks from inside a live sandbox that every promise of the airlock
// holds, and prints one JSON object (--json) or a table. The shim's Control.Verify runs it after the
// seal, as an agent process would run; see AIRLOCK_POLICY_DESIGN.md ("Shim integration contracts").
//
// Exit code: 0 when every probe held, 1 when any is broken or in error, 2 for a bad command line.
#pragma once

#include <string>
#include <vector>

namespace airlock::init {

// `args` are the words after "probe".
int RunProbeMode(const std::vector<std::string>& args);

}  // namespace airlock::init
