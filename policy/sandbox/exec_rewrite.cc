#include "policy/sandbox/exec_rewrite.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "policy/sandbox/spec_rewrite.h"

namespace airlock::sandbox {

absl::StatusOr<std::string> RewriteExecSpec(const std::string& spec_json, const policy::Policy& policy, bool sealed,
                                            absl::string_view init_path) {
  nlohmann::json process = nlohmann::json::parse(spec_json, nullptr, /*allow_exceptions=*/false);
  if (!process.is_object()) return absl::InvalidArgumentError("exec: the process spec is not a JSON object");
  auto args = process.find("args");
  if (args == process.end() || !args->is_array() || args->empty()) {
    return absl::InvalidArgumentError("exec: the process spec has no args");
  }
  for (const auto& arg : *args) {
    if (!arg.is_string()) return absl::InvalidArgumentError("exec: args must be strings");
  }

  std::vector<std::string> notes;
  if (absl::Status restricted = policy::RestrictCapabilities(process, policy, &notes); !restricted.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("exec: ", restricted.message()));
  }
  process["noNewPrivileges"] = true;
  if (policy::UsesProxy(policy.network)) {
    process["env"] = policy::WithProxyEnv(process.contains("env") ? process["env"] : nlohmann::json::array(), policy);
  }

  if (sealed) {
    nlohmann::json wrapped = nlohmann::json::array({std::string(init_path), "exec", "--"});
    for (const auto& arg : *args) wrapped.push_back(arg);
    process["args"] = std::move(wrapped);
    if (process.contains("env")) process["env"] = policy::WithoutSecrets(process["env"], policy);
  }
  return process.dump();
}

}  // namespace airlock::sandbox
