// What a container's spec says about the Kubernetes pod it belongs to (containerd's CRI plugin).
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"

namespace airlock::sandbox {

// The annotations the CRI plugin puts on every container it makes: the type, "sandbox" for a pod's
// sandbox ("pause") container and "container" for the pod's other containers, and the pod's id,
// which is the sandbox container's own id.
inline constexpr absl::string_view kCriContainerTypeAnnotation = "io.kubernetes.cri.container-type";
inline constexpr absl::string_view kCriSandboxIdAnnotation = "io.kubernetes.cri.sandbox-id";

// True for a pod's sandbox container `id`: it only holds the pod's namespaces (CNI's network
// namespace among them) and runs no task. Both marks must agree. A pod author cannot forge them:
// containerd's CRI sets them after the annotations it passes through (pod_annotations), and a
// pod's other containers carry the pod's id, not their own. Whoever else can set them can call
// containerd and run any container anyway.
bool IsPodSandboxContainer(const std::map<std::string, std::string>& annotations, absl::string_view id);

// The path of the network namespace the spec joins (under Kubernetes, the pod's: CNI's netns for
// the sandbox container, /proc/<pause pid>/ns/net for the others); "" when the spec makes a new one
// or names none (the host's network).
std::string SpecNetnsPath(const nlohmann::json& spec);

}  // namespace airlock::sandbox
