#include "policy/sandbox/cri_pod.h"

namespace airlock::sandbox {

bool IsPodSandboxContainer(const std::map<std::string, std::string>& annotations, absl::string_view id) {
  auto type = annotations.find(std::string(kCriContainerTypeAnnotation));
  auto pod = annotations.find(std::string(kCriSandboxIdAnnotation));
  return type != annotations.end() && type->second == "sandbox" && pod != annotations.end() && !id.empty() &&
         pod->second == id;
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
