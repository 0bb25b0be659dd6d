#include "policy/sandbox/cri_pod.h"

namespace airlock::sandbox {

bool IsPodSandboxContainer(const std::map<std::string, std::string>& annotations) {
  auto it = annotations.find(std::string(kCriContainerTypeAnnotation));
  return it != annotations.end() && it->second == "sandbox";
}

std::string SpecNetnsPath(const nlohmann::json& spec) {
  auto linux_spec = spec.find("linux");
  if (linux_spec == spec.end() || !linux_spec->is_object()) return "";
  auto namespaces = linux_spec->find("namespaces");
  if (namespaces == linux_spec->end() || !namespaces->is_array()) return "";
  for (const nlohmann::json& ns : *namespaces) {
    if (!ns.is_object() || ns.value("type", nlohmann::json()) != "network") continue;
    auto path = ns.find("path");
    return path != ns.end() && path->is_string() ? path->get<std::string>() : "";
  }
  return "";
}

}  // namespace airlock::sandbox
