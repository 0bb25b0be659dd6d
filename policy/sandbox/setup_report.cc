#include "policy/sandbox/setup_report.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace airlock::sandbox {
namespace {

constexpr size_t kMaxProbes = 64;
constexpr size_t kMaxText = 4096;

bool IsShortString(const nlohmann::json& value) {
  return value.is_string() && value.get_ref<const std::string&>().size() <= kMaxText;
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseSetupFilterReport(absl::string_view report_json) {
  nlohmann::json report = nlohmann::json::parse(std::string(report_json), nullptr, /*allow_exceptions=*/false);
  if (!report.is_object() || !report.contains("probes") || !report["probes"].is_array()) {
    return absl::InvalidArgumentError("setup filter report: not a probe report");
  }
  const nlohmann::json& probes = report["probes"];
  if (probes.empty() || probes.size() > kMaxProbes) {
    return absl::InvalidArgumentError(absl::StrCat("setup filter report: ", probes.size(), " probes"));
  }
  nlohmann::json out = nlohmann::json::array();
  for (const nlohmann::json& probe : probes) {
    if (!probe.is_object() || !IsShortString(probe.value("name", nlohmann::json())) ||
        !IsShortString(probe.value("result", nlohmann::json())) ||
        !IsShortString(probe.value("detail", nlohmann::json()))) {
      return absl::InvalidArgumentError("setup filter report: a probe without name, result and detail");
    }
    const std::string& name = probe["name"].get_ref<const std::string&>();
    const std::string& result = probe["result"].get_ref<const std::string&>();
    if (!absl::StartsWith(name, "setup.")) {
      return absl::InvalidArgumentError(absl::StrCat("setup filter report: probe \"", name, "\" is not a setup probe"));
    }
    if (result != "held" && result != "broken" && result != "error" && result != "info") {
      return absl::InvalidArgumentError(absl::StrCat("setup filter report: unknown result \"", result, "\""));
    }
    out.push_back({{"name", name}, {"result", result}, {"detail", probe["detail"]}});
  }
  return out;
}

nlohmann::json SetupProbesForVerify(const nlohmann::json& recorded, bool has_setup_command, bool setup_ran) {
  if (recorded.is_array() && !recorded.empty()) return recorded;
  nlohmann::json entry = {{"name", "setup.filter"}};
  if (!has_setup_command) {
    entry["result"] = "info";
    entry["detail"] = "no setup command: nothing ran before the seal";
  } else if (!setup_ran) {
    entry["result"] = "info";
    entry["detail"] = "the setup command has not started yet";
  } else {
    entry["result"] = "error";
    entry["detail"] = "the setup command's process sent no report of its filter (killed before it could?)";
  }
  return nlohmann::json::array({entry});
}

}  // namespace airlock::sandbox
