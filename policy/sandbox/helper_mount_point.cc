#include "policy/sandbox/helper_mount_point.h"

#include <sys/stat.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "policy/sandbox/spec_rewrite.h"
#include "shim/base/errno_status.h"

namespace airlock::sandbox {
namespace {

const char* Kind(mode_t mode) {
  if (S_ISLNK(mode)) return "a symlink";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device node";
  return "something other than a regular file";
}

}  // namespace

std::string RootfsOf(const nlohmann::json& spec, const std::string& bundle) {
  std::string path = "rootfs";
  if (auto root = spec.find("root"); root != spec.end() && root->is_object()) {
    if (auto p = root->find("path"); p != root->end() && p->is_string() && !p->get<std::string>().empty()) {
      path = p->get<std::string>();
    }
  }
  return path[0] == '/' ? path : bundle + "/" + path;
}

absl::Status CheckHelperMountPoint(const std::string& rootfs) {
  const std::string path = rootfs + std::string(policy::kInitPath);
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(absl::StrCat("check ", policy::kInitPath, " in the container's root"));
  }
  if (S_ISREG(st.st_mode)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the image has ", Kind(st.st_mode), " at ", policy::kInitPath,
      ", where the airlock mounts its helper: remove it from the image (it is reserved for the airlock)"));
}

}  // namespace airlock::sandbox
