#include "policy/sandbox/pod_netns_record.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "policy/sandbox/cri_pod.h"
#include "shim/base/errno_status.h"
#include "shim/base/files.h"

namespace airlock::sandbox {
namespace {

bool SafeName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

}  // namespace

std::string PodNetnsRecordPath(const std::string& run_dir, const std::string& ns, const std::string& id) {
  return absl::StrCat(run_dir, "/pod-netns/", ns, "/", id);
}

std::string PinnedPodNetnsPath(const std::string& bundle, const std::map<std::string, std::string>& annotations,
                               int fd) {
  auto pod = annotations.find(std::string(kCriSandboxIdAnnotation));
  if (pod == annotations.end() || !SafeName(pod->second)) return "";
  std::filesystem::path sandbox_spec = std::filesystem::path(bundle).parent_path() / pod->second / "config.json";
  std::ifstream in(sandbox_spec);
  nlohmann::json spec = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object()) return "";
  std::string path = SpecNetnsPath(spec);
  struct stat pinned, ours;
  if (path.empty() || ProcPid(path) != 0 || stat(path.c_str(), &pinned) != 0 || fstat(fd, &ours) != 0 ||
      pinned.st_dev != ours.st_dev || pinned.st_ino != ours.st_ino) {
    return "";
  }
  return path;
}

absl::Status WritePodNetnsRecord(const std::string& record, const std::string& path, int fd,
                                 const std::string& pod_id) {
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(absl::StrCat("stat the pod's network namespace ", path));
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(record).parent_path(), ec);
  return WriteFileAtomically(record, absl::StrCat(path, "\n", st.st_dev, " ", st.st_ino, "\n", pod_id, "\n"), 0600);
}

absl::StatusOr<UniqueFd> ReopenPodNetns(const std::string& record) {
  std::ifstream in(record);
  if (!in) return absl::NotFoundError(absl::StrCat("no record ", record));
  std::string path, pod_id;
  unsigned long long dev = 0, ino = 0;
  if (!std::getline(in, path) || !(in >> dev >> ino) || path.empty() || path[0] != '/') {
    return absl::DataLossError(absl::StrCat("unreadable record ", record));
  }
  in >> pod_id;  // may be empty
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (!fd || fstat(fd.get(), &st) != 0 || st.st_dev != dev || st.st_ino != ino) {
    return absl::NotFoundError(absl::StrCat("the pod's network namespace ", path, " is gone"));
  }
  if (int pid = ProcPid(path); pid != 0) {
    struct stat again;
    if (pod_id.empty() || !ProcessInPod(pid, pod_id) ||
        stat(path.c_str(), &again) != 0 || again.st_dev != dev || again.st_ino != ino) {
      return absl::NotFoundError(absl::StrCat("the process behind ", path, " is not pod ", pod_id, "'s any more"));
    }
  }
  return fd;
}

void RemovePodNetnsRecord(const std::string& record) {
  if (unlink(record.c_str()) == 0) rmdir(std::filesystem::path(record).parent_path().c_str());
}

}  // namespace airlock::sandbox
