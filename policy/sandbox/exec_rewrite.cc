#include "policy/sandbox/exec_rewrite.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

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

  const std::set<std::string> allowed(policy.capabilities.begin(), policy.capabilities.end());
  auto caps = process.find("capabilities");
  if (caps != process.end() && caps->is_object()) {
    for (auto& [set_name, set] : caps->items()) {
      if (!set.is_array()) continue;
      nlohmann::json kept = nlohmann::json::array();
      for (const auto& cap : set) {
        if (cap.is_string() && allowed.count(cap.get<std::string>())) kept.push_back(cap);
      }
      set = std::move(kept);
    }
  }
  process["noNewPrivileges"] = true;

  if (sealed) {
    nlohmann::json wrapped = nlohmann::json::array({std::string(init_path), "exec", "--"});
    for (const auto& arg : *args) wrapped.push_back(arg);
    process["args"] = std::move(wrapped);
    auto env = process.find("env");
    if (env != process.end() && env->is_array()) {
      const std::set<std::string> secrets(policy.secrets.begin(), policy.secrets.end());
      nlohmann::json kept = nlohmann::json::array();
      for (const auto& entry : *env) {
        if (!entry.is_string()) continue;
        std::string text = entry.get<std::string>();
        if (!secrets.count(text.substr(0, text.find('=')))) kept.push_back(entry);
      }
      *env = std::move(kept);
    }
  }
  return process.dump();
}

}  // namespace airlock::sandbox
