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
  const auto linux_spec = spec.find("linux");
  if (linux_spec == spec.end() || !linux_spec->is_object()) return facts;
  const auto namespaces = linux_spec->find("namespaces");
  if (namespaces == linux_spec->end() || !namespaces->is_array()) return facts;
  for (const auto& ns : *namespaces) {
    if (ns.is_object() && ns.value("type", "") == "pid" && ns.value("path", "").empty()) facts.kill_all_on_exit = false;
  }
  return facts;
}

SpecFacts ReadSpecFacts(const std::string& bundle) {
  std::ifstream in(bundle + "/config.json");
  return SpecFactsOf(nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false));
}

}  // namespace airlock::task
