#include "policy/sandbox/rootfs_seal.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"
#include "shim/base/subprocess.h"
#include "shim/base/unique_fd.h"

namespace airlock::sandbox {
namespace {

// Mount flags that statvfs reports and a bind remount must repeat (or it would clear them).
unsigned long KeptFlags(unsigned long st_flags) {
  unsigned long flags = 0;
  if (st_flags & ST_NOSUID) flags |= MS_NOSUID;
  if (st_flags & ST_NODEV) flags |= MS_NODEV;
  if (st_flags & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st_flags & ST_NOATIME) flags |= MS_NOATIME;
  if (st_flags & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st_flags & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

// Remounted, yet not read-only. 255: no errno, and it survives a forked child's 8-bit exit status.
constexpr int kStillWritable = 255;

// Runs in a task of its own whose root and cwd are not shared (setns into a mount namespace
// demands it, and the chroot must not move anyone else). Returns an errno, 0 on success;
// async-signal-safe calls only (it may run in a forked child).
int RemountInChild(int mnt_ns, int root) {
  if (setns(mnt_ns, CLONE_NEWNS) != 0) return errno;
  if (fchdir(root) != 0) return errno;
  if (chroot(".") != 0) return errno;
  struct statvfs before;
  if (statvfs("/", &before) != 0) return errno;
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | KeptFlags(before.f_flag);
  if (mount(nullptr, "/", nullptr, flags, nullptr) != 0) return errno;
  struct statvfs after;
  if (statvfs("/", &after) != 0) return errno;
  return (after.f_flag & ST_RDONLY) ? 0 : kStillWritable;
}

// The remount on a one-shot thread that first unshares its fs attributes (root, cwd), so that
// setns() and chroot() change that thread alone; it ends right after. Cheaper on the seal's
// critical path than fork(): no page tables to copy, no round trip through the reaper.
// Returns false when no thread could be started.
bool RemountOnThread(int mnt_ns, int root, int* err) {
  try {
    std::thread remount([&] {
      *err = unshare(CLONE_FS) == 0 ? RemountInChild(mnt_ns, root) : errno;
    });
    remount.join();
    return true;
  } catch (const std::system_error&) {
    return false;
  }
}

}  // namespace

absl::Status RemountRootReadonly(pid_t init, int root) {
  // Opened from the host's view, before the child leaves it.
  UniqueFd mnt_ns(open(absl::StrCat("/proc/", init, "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
  if (!mnt_ns) return ErrnoStatus("open the container's mount namespace");
  int err = 0;
  if (!RemountOnThread(mnt_ns.get(), root, &err)) {
    absl::StatusOr<int> status = RunInForkedChild([&] { return RemountInChild(mnt_ns.get(), root); });
    if (!status.ok()) return status.status();
    err = *status;
  }
  if (err == 0) return absl::OkStatus();
  if (err == kStillWritable) return absl::InternalError("root filesystem still writable after the remount");
  return ErrnoStatus(err, "remount the container's root read-only");
}

}  // namespace airlock::sandbox
