#include "policy/net/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "policy/net/fs_util.h"
#include "policy/net/in_netns.h"
#include "policy/net/names.h"
#include "shim/base/errno_status.h"
#include "shim/base/log.h"

namespace airlock::net {
namespace {

// Makes `dir` a shared mount point, bind-mounting it on itself first when it is not a mount point
// (what iproute2 does for /run/netns). A lock file next to it keeps two shims from stacking mounts.
absl::Status MakeSharedMountPoint(const std::string& dir) {
  if (absl::Status status = MakeDirs(dir); !status.ok()) return status;
  absl::StatusOr<UniqueFd> lock = LockFile(absl::StrCat(dir, ".lock"));
  if (!lock.ok()) return lock.status();
  bool bound = false;
  while (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    // EINVAL: not a mount point yet.
    if (errno != EINVAL || bound) return ErrnoStatus(absl::StrCat("make ", dir, " shared"));
    if (::mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) {
      return ErrnoStatus(absl::StrCat("bind-mount ", dir, " on itself"));
    }
    bound = true;
  }
  return absl::OkStatus();
}

// A new network namespace, held by an fd; made on a thread so no other thread changes netns.
absl::StatusOr<UniqueFd> UnshareNetns() {
  UniqueFd ns;
  absl::Status status = RunInNetns(-1, [&]() -> absl::Status {
    if (::unshare(CLONE_NEWNET) != 0) return ErrnoStatus("unshare(CLONE_NEWNET)");
    ns.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!ns) return ErrnoStatus("open /proc/thread-self/ns/net");
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return ns;
}

absl::Status Unmount(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return ErrnoStatus(absl::StrCat("umount ", path));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(absl::StrCat("unlink ", path));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Netns> Netns::Create(absl::string_view name, absl::string_view dir) {
  if (absl::Status status = ValidateSandboxName(name); !status.ok()) return status;
  std::string dir_path(dir);
  if (absl::Status status = MakeSharedMountPoint(dir_path); !status.ok()) return status;
  std::string path = absl::StrCat(dir_path, "/", name);

  // The mount point file; O_EXCL: an existing one belongs to someone (or to a crash).
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
  if (!file) return ErrnoStatus(absl::StrCat("create ", path));
  file.reset();

  absl::StatusOr<UniqueFd> ns = UnshareNetns();
  if (!ns.ok()) {
    ::unlink(path.c_str());
    return ns.status();
  }
  std::string source = absl::StrCat("/proc/self/fd/", ns->get());
  if (::mount(source.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
    absl::Status status = ErrnoStatus(absl::StrCat("bind-mount netns on ", path));
    ::unlink(path.c_str());
    return status;
  }
  return Netns(*std::move(ns), std::move(path), /*owned=*/true);
}

absl::StatusOr<Netns> Netns::CreateAnonymous() {
  absl::StatusOr<UniqueFd> ns = UnshareNetns();
  if (!ns.ok()) return ns.status();
  std::string path = absl::StrCat("/proc/", ::getpid(), "/fd/", ns->get());
  return Netns(*std::move(ns), std::move(path), /*owned=*/false);
}

absl::StatusOr<Netns> Netns::Open(absl::string_view path) {
  std::string path_string(path);
  UniqueFd fd(::open(path_string.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(absl::StrCat("open ", path));
  if (!IsNetnsFd(fd.get())) return absl::InvalidArgumentError(absl::StrCat(path, " is not a network namespace"));
  return Netns(std::move(fd), std::move(path_string), /*owned=*/false);
}

absl::Status Netns::Remove(absl::string_view name, absl::string_view dir) {
  if (absl::Status status = ValidateSandboxName(name); !status.ok()) return status;
  return Unmount(absl::StrCat(dir, "/", name));
}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (absl::Status status = Delete(); !status.ok()) log::Warn("netns ", path_, ": ", status.message());
    fd_ = std::move(other.fd_);
    path_ = std::move(other.path_);
    owned_ = std::exchange(other.owned_, false);
  }
  return *this;
}

Netns::~Netns() {
  if (absl::Status status = Delete(); !status.ok()) log::Warn("netns ", path_, ": ", status.message());
}

absl::Status Netns::Delete() {
  fd_.reset();
  if (!owned_) return absl::OkStatus();
  owned_ = false;
  return Unmount(path_);
}

}  // namespace airlock::net
