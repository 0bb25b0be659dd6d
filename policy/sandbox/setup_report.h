// The setup battery as the shim keeps it: airlock-init runs it in the setup command's own process,
// under the setup seccomp filter and before the exec, and sends it as "SETUP_FILTER <JSON report>"
// (cmd/airlock-init/shim_channel.h). `airlock verify` shows it next to the sealed battery, so the
// verification covers both phases.
//
// Only airlock-init and that process, before its exec, hold the channel (close-on-exec, not
// dumpable): the setup command never can send it. The shim keeps the first report it gets.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace airlock::sandbox {

inline constexpr absl::string_view kSetupFilterMessage = "SETUP_FILTER ";

// The report's probes as a JSON array of {"name", "result", "detail"}, each name under "setup." and
// each result one of held, broken, error, info; an error for anything else.
absl::StatusOr<nlohmann::json> ParseSetupFilterReport(absl::string_view report_json);

// The setup probes `airlock verify` reports: `recorded` (null until a report came), or one entry
// saying why there is none (no setup command: info; a setup that ran without reporting: error).
nlohmann::json SetupProbesForVerify(const nlohmann::json& recorded, bool has_setup_command, bool setup_ran);

}  // namespace airlock::sandbox
