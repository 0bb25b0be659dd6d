// rootfs.readonly and workspace.writable.
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include "cmd/airlock-init/probe_util.h"
#include "cmd/airlock-init/probes.h"

namespace airlock::init {
namespace {

std::string InDir(const std::string& dir, const std::string& name) {
  return dir + (dir.back() == '/' ? "" : "/") + name;
}

}  // namespace

ProbeResult ProbeRootfsReadonly(const std::string& rootfs_dir) {
  ProbeResult result{"rootfs.readonly", Verdict::kHeld, ""};
  const std::string path = InDir(rootfs_dir, "airlock-probe." + std::to_string(getpid()));
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    close(fd);
    unlink(path.c_str());
    result.verdict = Verdict::kBroken;
    result.detail = "created " + path + ": the root filesystem is writable";
    return result;
  }
  int err = errno;
  if (err == EROFS) {
    result.detail = "creating " + path + ": EROFS";
    return result;
  }
  // EACCES and the like only say this user may not write there: ask the mount itself.
  struct statvfs vfs {};
  if (statvfs(rootfs_dir.c_str(), &vfs) != 0) {
    result.verdict = Verdict::kError;
    result.detail = "creating " + path + ": " + ErrnoName(err) + "; statvfs: " + ErrnoName(errno);
  } else if ((vfs.f_flag & ST_RDONLY) != 0) {
    result.detail = "creating " + path + ": " + ErrnoName(err) + "; mounted read-only";
  } else {
    result.verdict = Verdict::kBroken;
    result.detail = "mounted read-write (creating " + path + " failed only with " + ErrnoName(err) + ")";
  }
  return result;
}

ProbeResult ProbeWorkspaceWritable(const std::string& workspace) {
  ProbeResult result{"workspace.writable", Verdict::kHeld, ""};
  if (workspace.empty()) {
    result.detail = "no workspace in this sandbox";
    return result;
  }
  const std::string path = InDir(workspace, ".airlock-probe." + std::to_string(getpid()));
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    result.verdict = Verdict::kBroken;
    result.detail = "creating " + path + ": " + ErrnoName(errno);
    return result;
  }
  static constexpr char kLine[] = "airlock probe\n";
  ssize_t written = write(fd, kLine, sizeof kLine - 1);
  int write_err = errno;
  close(fd);
  bool removed = unlink(path.c_str()) == 0;
  int unlink_err = errno;
  if (written != static_cast<ssize_t>(sizeof kLine - 1)) {
    result.verdict = Verdict::kBroken;
    result.detail = "writing " + path + ": " + (written < 0 ? ErrnoName(write_err) : "short write");
  } else if (!removed) {
    result.verdict = Verdict::kBroken;
    result.detail = "removing " + path + ": " + ErrnoName(unlink_err);
  } else {
    result.detail = "created, wrote and removed " + path;
  }
  return result;
}

}  // namespace airlock::init
