// What a container's spec says about the Kubernetes pod it belongs to (containerd's CRI plugin).
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"

namespace airlock::sandbox {

// The annotation the CRI plugin puts on every container it makes: "sandbox" for a pod's sandbox
// ("pause") container, "container" for the pod's other containers.
inline constexpr absl::string_view kCriContainerTypeAnnotation = "io.kubernetes.cri.container-type";

// True for a pod's sandbox container: it only holds the pod's namespaces (CNI's network namespace
// among them) and runs no task. Whoever can set the annotation can call containerd and run any
// container anyway: believing it grants nothing.
bool IsPodSandboxContainer(const std::map<std::string, std::string>& annotations);

// The path of the network namespace the spec joins (under Kubernetes, the pod's: CNI's netns for
// the sandbox container, /proc/<pause pid>/ns/net for the others); "" when the spec makes a new one
// or names none (the host's network).
std::string SpecNetnsPath(const nlohmann::json& spec);

}  // namespace airlock::sandbox
