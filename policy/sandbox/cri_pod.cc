#include "policy/sandbox/cri_pod.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "shim/base/errno_status.h"
#include "shim/cgroups/cgroup_files.h"
#include "shim/task/spec_facts.h"

namespace airlock::sandbox {

bool IsPodSandboxContainer(const std::map<std::string, std::string>& annotations, absl::string_view id) {
  auto type = annotations.find(std::string(kCriContainerTypeAnnotation));
  auto pod = annotations.find(std::string(kCriSandboxIdAnnotation));
  return type != annotations.end() && type->second == "sandbox" && pod != annotations.end() && !id.empty() &&
         pod->second == id;
}

std::string SpecNetnsPath(const nlohmann::json& spec) { return SpecNamespacePath(spec, "network"); }

std::string SpecNamespacePath(const nlohmann::json& spec, const std::string& type) {
  const nlohmann::json* ns = task::SpecNamespace(spec, type);
  if (ns == nullptr) return "";
  auto path = ns->find("path");
  return path != ns->end() && path->is_string() ? path->get<std::string>() : "";
}

absl::StatusOr<std::map<std::string, std::string>> PodSysctls(const std::string& bundle,
                                                              const std::map<std::string, std::string>& annotations) {
  std::map<std::string, std::string> sysctls;
  auto type = annotations.find(std::string(kCriContainerTypeAnnotation));
  auto pod = annotations.find(std::string(kCriSandboxIdAnnotation));
  if (type == annotations.end() || type->second != "container" || pod == annotations.end()) return sysctls;
  // The CRI's ids are hex; anything else cannot name a sibling bundle.
  const std::string& pod_id = pod->second;
  if (pod_id.empty() || pod_id.size() > 128 ||
      pod_id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != std::string::npos ||
      pod_id.find("..") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("annotation ", kCriSandboxIdAnnotation, ": not a pod id"));
  }
  const size_t slash = bundle.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return sysctls;
  const std::string path = absl::StrCat(bundle.substr(0, slash), "/", pod_id, "/config.json");
  absl::StatusOr<std::string> text = cgroups::ReadSmallFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("the pod's sysctls (its sandbox container's spec): ", text.status().message()));
  }
  nlohmann::json spec = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object()) return absl::DataLossError(absl::StrCat(path, ": not a JSON object"));
  auto linux_spec = spec.find("linux");
  if (linux_spec == spec.end() || !linux_spec->is_object()) return sysctls;
  auto listed = linux_spec->find("sysctl");
  if (listed == linux_spec->end() || listed->is_null()) return sysctls;
  if (!listed->is_object()) return absl::DataLossError(absl::StrCat(path, ": linux.sysctl is not an object"));
  for (const auto& [key, value] : listed->items()) {
    if (!value.is_string()) return absl::DataLossError(absl::StrCat(path, ": linux.sysctl ", key, " is not a string"));
    sysctls[key] = value.get<std::string>();
  }
  return sysctls;
}

int ProcPid(absl::string_view path) {
  if (!absl::ConsumePrefix(&path, "/proc/")) return 0;
  size_t slash = path.find('/');
  if (slash == absl::string_view::npos || slash == 0) return 0;
  absl::string_view digits = path.substr(0, slash);
  for (char c : digits) {
    if (c < '0' || c > '9') return 0;
  }
  int pid = 0;
  return absl::SimpleAtoi(digits, &pid) && pid > 0 ? pid : 0;
}

bool CgroupNamesPod(absl::string_view cgroup_text, absl::string_view pod_id) {
  if (pod_id.empty()) return false;
  for (absl::string_view line : absl::StrSplit(cgroup_text, '\n')) {
    // "hierarchy-ID:controllers:path"
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (fields.size() != 3) continue;
    for (absl::string_view component : absl::StrSplit(fields[2], '/')) {
      if (component == pod_id) return true;
      if (absl::ConsumeSuffix(&component, ".scope") && absl::EndsWith(component, absl::StrCat("-", pod_id))) {
        return true;
      }
    }
  }
  return false;
}

bool ProcessInPod(int pid, absl::string_view pod_id) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/cgroup"));
  std::stringstream cgroup;
  cgroup << in.rdbuf();
  return in && CgroupNamesPod(cgroup.str(), pod_id);
}

namespace {

bool SameFile(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

}  // namespace

absl::StatusOr<UniqueFd> OpenPodNetns(const nlohmann::json& spec, const std::map<std::string, std::string>& annotations) {
  std::string path = SpecNetnsPath(spec);
  if (path.empty()) {
    return absl::FailedPreconditionError(
        "setup uplink pod: the container's spec joins no network namespace to borrow (a pod's containers join the "
        "pod's; this one has the host's network or a new namespace)");
  }
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(absl::StrCat("setup uplink pod: open the pod's network namespace ", path));
  struct stat pod_ns, own_ns;
  if (fstat(fd.get(), &pod_ns) != 0) return ErrnoStatus(absl::StrCat("setup uplink pod: stat ", path));
  if (stat("/proc/self/ns/net", &own_ns) != 0) return ErrnoStatus("setup uplink pod: stat /proc/self/ns/net");
  if (SameFile(pod_ns, own_ns)) {
    return absl::FailedPreconditionError(absl::StrCat("setup uplink pod: ", path,
                                                      " is the host's network namespace, not a pod's"));
  }
  auto pod = annotations.find(std::string(kCriSandboxIdAnnotation));
  int pid = ProcPid(path);
  if (pid == 0 || pod == annotations.end() || pod->second.empty()) return fd;
  // The process must be the pod's (in its cgroup), and still the one whose netns we hold.
  struct stat again;
  if (!ProcessInPod(pid, pod->second) || stat(path.c_str(), &again) != 0 || !SameFile(again, pod_ns)) {
    return absl::FailedPreconditionError(absl::StrCat("setup uplink pod: ", path, " is not pod ", pod->second,
                                                      "'s (the process ", pid,
                                                      " is not in the pod's cgroup: its sandbox container is gone?)"));
  }
  return fd;
}

}  // namespace airlock::sandbox
