#include "shim/task/spec_facts.h"

#include <fstream>

namespace airlock::task {

SpecFacts SpecFactsOf(const nlohmann::json& spec) {
  SpecFacts facts;
  if (!spec.is_object()) return facts;
  const auto hooks = spec.find("hooks");
  if (hooks == spec.end() || hooks->is_null()) {
    facts.poststart_hooks = false;
  } else if (hooks->is_object()) {
    const auto poststart = hooks->find("poststart");
    facts.poststart_hooks = poststart != hooks->end() && !poststart->is_null() && !(poststart->is_array() && poststart->empty());
  }
  if (const nlohmann::json* pid = SpecNamespace(spec, "pid")) {
    const auto path = pid->find("path");
    if (path == pid->end() || path->is_null() || (path->is_string() && path->get_ref<const std::string&>().empty())) {
      facts.kill_all_on_exit = false;
    }
  }
  return facts;
}

const nlohmann::json* SpecNamespace(const nlohmann::json& spec, const std::string& type) {
  if (!spec.is_object()) return nullptr;
  const auto linux_spec = spec.find("linux");
  if (linux_spec == spec.end() || !linux_spec->is_object()) return nullptr;
  const auto namespaces = linux_spec->find("namespaces");
  if (namespaces == linux_spec->end() || !namespaces->is_array()) return nullptr;
  for (const auto& ns : *namespaces) {
    if (!ns.is_object()) continue;
    const auto ns_type = ns.find("type");
    if (ns_type != ns.end() && ns_type->is_string() && ns_type->get_ref<const std::string&>() == type) return &ns;
  }
  return nullptr;
}

SpecFacts ReadSpecFacts(const std::string& bundle) {
  std::ifstream in(bundle + "/config.json");
  return SpecFactsOf(nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false));
}

}  // namespace airlock::task
