#include "policy/sandbox/pod_netns_record.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "policy/sandbox/cri_pod.h"
#include "shim/base/errno_status.h"
#include "shim/base/files.h"

namespace airlock::sandbox {

std::string PodNetnsRecordPath(const std::string& task_record) { return task_record + ".pod-netns"; }

std::string PinnedPodNetnsPath(const std::string& bundle, const std::map<std::string, std::string>& annotations,
                               int fd) {
  auto pod = annotations.find(std::string(kCriSandboxIdAnnotation));
  if (pod == annotations.end() || pod->second.empty() || pod->second.find('/') != std::string::npos ||
      pod->second == "." || pod->second == "..") {
    return "";
  }
  std::filesystem::path sandbox_spec = std::filesystem::path(bundle).parent_path() / pod->second / "config.json";
  std::ifstream in(sandbox_spec);
  nlohmann::json spec = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object()) return "";
  std::string path = SpecNetnsPath(spec);
  struct stat pinned, ours;
  if (path.empty() || stat(path.c_str(), &pinned) != 0 || fstat(fd, &ours) != 0 || pinned.st_dev != ours.st_dev ||
      pinned.st_ino != ours.st_ino) {
    return "";
  }
  return path;
}

absl::Status WritePodNetnsRecord(const std::string& record, const std::string& path, int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(absl::StrCat("stat the pod's network namespace ", path));
  return WriteFileAtomically(record, absl::StrCat(path, "\n", st.st_dev, " ", st.st_ino, "\n"), 0600);
}

absl::StatusOr<UniqueFd> ReopenPodNetns(const std::string& record) {
  std::ifstream in(record);
  if (!in) return absl::NotFoundError(absl::StrCat("no record ", record));
  std::string path;
  unsigned long long dev = 0, ino = 0;
  if (!std::getline(in, path) || !(in >> dev >> ino) || path.empty() || path[0] != '/') {
    return absl::DataLossError(absl::StrCat("unreadable record ", record));
  }
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (!fd || fstat(fd.get(), &st) != 0 || st.st_dev != dev || st.st_ino != ino) {
    return absl::NotFoundError(absl::StrCat("the pod's network namespace ", path, " is gone"));
  }
  return fd;
}

}  // namespace airlock::sandbox
