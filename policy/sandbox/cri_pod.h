// What a container's spec says about the Kubernetes pod it belongs to (containerd's CRI plugin).
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "shim/base/unique_fd.h"

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

// The same for any namespace type ("uts", "ipc", ...): the path the spec joins, or "".
std::string SpecNamespacePath(const nlohmann::json& spec, const std::string& type);

// The sysctls of the pod a CRI container belongs to. containerd's CRI puts them on the pod's sandbox
// container only (its spec's linux.sysctl), since the pod's other containers share its namespaces;
// that spec is the config.json of the bundle next to this container's, named by the pod's id.
// Empty for a container of no pod, and for the sandbox container itself.
absl::StatusOr<std::map<std::string, std::string>> PodSysctls(const std::string& bundle,
                                                              const std::map<std::string, std::string>& annotations);

// The network namespace `uplink: pod` lends setup: the one the spec joins, opened. Refused: a spec
// that joins none, the shim's own (the host's: `uplink: nat` must be asked for by name), and, when
// the path is /proc/<pid>/ns/net and the CRI named the pod (io.kubernetes.cri.sandbox-id), a process
// outside the pod's cgroup (the pause container died and its pid went to someone else).
absl::StatusOr<UniqueFd> OpenPodNetns(const nlohmann::json& spec, const std::map<std::string, std::string>& annotations);

// Pieces of the above: the pid of a path under "/proc/<pid>/" (0 for any other path), and whether
// /proc/<pid>/cgroup text names the pod: its id as a whole path component (cgroupfs: .../<id>) or
// as a systemd scope's (.../cri-containerd-<id>.scope) in some line.
int ProcPid(absl::string_view path);
bool CgroupNamesPod(absl::string_view cgroup_text, absl::string_view pod_id);
// CgroupNamesPod of /proc/<pid>/cgroup (false if unreadable).
bool ProcessInPod(int pid, absl::string_view pod_id);

}  // namespace airlock::sandbox
