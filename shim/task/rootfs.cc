#include "shim/task/rootfs.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "shim/base/errno_status.h"
#include "shim/base/subprocess.h"

namespace airlock::task {
namespace {

constexpr size_t kPageSize = 4096;

struct FlagRule {
  bool clear;
  unsigned long flag;
};

const std::map<std::string, FlagRule, std::less<>>& FlagTable() {
  static const auto* table = new std::map<std::string, FlagRule, std::less<>>{
      {"async", {true, MS_SYNCHRONOUS}},   {"atime", {true, MS_NOATIME}},
      {"bind", {false, MS_BIND}},          {"defaults", {false, 0}},
      {"dev", {true, MS_NODEV}},           {"diratime", {true, MS_NODIRATIME}},
      {"dirsync", {false, MS_DIRSYNC}},    {"exec", {true, MS_NOEXEC}},
      {"mand", {false, MS_MANDLOCK}},      {"noatime", {false, MS_NOATIME}},
      {"nodev", {false, MS_NODEV}},        {"nodiratime", {false, MS_NODIRATIME}},
      {"noexec", {false, MS_NOEXEC}},      {"nomand", {true, MS_MANDLOCK}},
      {"norelatime", {true, MS_RELATIME}}, {"nostrictatime", {true, MS_STRICTATIME}},
      {"nosuid", {false, MS_NOSUID}},      {"rbind", {false, MS_BIND | MS_REC}},
      {"relatime", {false, MS_RELATIME}},  {"remount", {false, MS_REMOUNT}},
      {"ro", {false, MS_RDONLY}},          {"rw", {true, MS_RDONLY}},
      {"strictatime", {false, MS_STRICTATIME}}, {"suid", {true, MS_NOSUID}},
      {"sync", {false, MS_SYNCHRONOUS}},   {"private", {false, MS_PRIVATE}},
      {"rprivate", {false, MS_PRIVATE | MS_REC}}, {"slave", {false, MS_SLAVE}},
      {"rslave", {false, MS_SLAVE | MS_REC}}, {"shared", {false, MS_SHARED}},
      {"rshared", {false, MS_SHARED | MS_REC}}, {"unbindable", {false, MS_UNBINDABLE}},
  };
  return *table;
}

// Overlay lowerdir lists of many layers exceed mount(2)'s one-page data limit. As containerd does,
// rewrite them relative to their common parent and mount from there.
std::pair<std::string, std::vector<std::string>> CompactLowerdir(const std::vector<std::string>& options) {
  int index = -1;
  std::vector<std::string> dirs;
  for (size_t i = 0; i < options.size(); ++i) {
    if (absl::StartsWith(options[i], "lowerdir=")) {
      index = static_cast<int>(i);
      dirs = absl::StrSplit(options[i].substr(9), ':');
    }
  }
  if (index < 0 || dirs.size() < 2) return {"", options};
  std::string common = dirs[0];
  for (const auto& d : dirs) {
    while (!common.empty() && !absl::StartsWith(d, common + "/")) {
      size_t slash = common.rfind('/');
      common = slash == std::string::npos || slash == 0 ? "" : common.substr(0, slash);
    }
  }
  if (common.empty()) return {"", options};
  std::vector<std::string> relative;
  for (const auto& d : dirs) relative.push_back(d.substr(common.size() + 1));
  std::vector<std::string> out = options;
  out[index] = "lowerdir=" + absl::StrJoin(relative, ":");
  return {common, out};
}

// mount(2) from inside `dir`: chdir is process-wide, so a short-lived child does it.
absl::Status MountFromDir(const std::string& dir, const std::string& source, const std::string& target,
                          const std::string& type, unsigned long flags, const std::string& data) {
  absl::StatusOr<int> err = RunInForkedChild([&]() -> int {
    if (chdir(dir.c_str()) != 0) return errno;
    if (mount(source.c_str(), target.c_str(), type.c_str(), flags, data.c_str()) != 0) return errno;
    return 0;
  });
  if (!err.ok()) return err.status();
  if (*err != 0) return ErrnoStatus(*err, absl::StrCat("mount ", type, " on ", target));
  return absl::OkStatus();
}

}  // namespace

MountFlags ParseMountOptions(const std::vector<std::string>& options) {
  MountFlags result;
  std::vector<std::string> data;
  for (const auto& option : options) {
    auto it = FlagTable().find(option);
    if (it != FlagTable().end() && it->second.flag != 0) {
      if (it->second.clear) {
        result.flags &= ~it->second.flag;
      } else {
        result.flags |= it->second.flag;
      }
    } else if (it == FlagTable().end()) {
      data.push_back(option);
    }
  }
  result.data = absl::StrJoin(data, ",");
  return result;
}

absl::Status MountOne(const containerd::types::Mount& mount, const std::string& target) {
  std::vector<std::string> options(mount.options().begin(), mount.options().end());
  std::string chdir_to;
  size_t total = 0;
  for (const auto& o : options) total += o.size() + 1;
  if (mount.type() == "overlay" && total >= kPageSize - 512) {
    std::tie(chdir_to, options) = CompactLowerdir(options);
  }
  MountFlags parsed = ParseMountOptions(options);
  if (parsed.data.size() > kPageSize) return absl::InvalidArgumentError("mount options is too long");

  constexpr unsigned long kPropagation = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
  unsigned long flags = parsed.flags & ~kPropagation;
  if (!(parsed.flags & MS_REMOUNT) || !parsed.data.empty()) {
    if (!chdir_to.empty()) {
      absl::Status status = MountFromDir(chdir_to, mount.source(), target, mount.type(), flags, parsed.data);
      if (!status.ok()) return status;
    } else if (::mount(mount.source().c_str(), target.c_str(), mount.type().c_str(), flags,
                       parsed.data.empty() ? nullptr : parsed.data.c_str()) != 0) {
      return ErrnoStatus(absl::StrCat("mount ", mount.type(), " ", mount.source(), " on ", target));
    }
  }
  if (parsed.flags & kPropagation) {
    if (::mount("", target.c_str(), "", parsed.flags & (kPropagation | MS_REC | MS_SILENT), nullptr) != 0) {
      return ErrnoStatus(absl::StrCat("set propagation of ", target));
    }
  }
  if ((flags & (MS_BIND | MS_RDONLY)) == (MS_BIND | MS_RDONLY)) {
    // A bind mount ignores MS_RDONLY until remounted.
    if (::mount("", target.c_str(), "", flags | MS_REMOUNT, nullptr) != 0) {
      return ErrnoStatus(absl::StrCat("remount read-only ", target));
    }
  }
  return absl::OkStatus();
}

absl::Status MountAll(const std::vector<containerd::types::Mount>& mounts, const std::string& target) {
  for (const auto& m : mounts) {
    absl::Status status = MountOne(m, target);
    if (!status.ok()) {
      (void)UnmountAll(target);
      return absl::Status(status.code(), absl::StrCat("failed to mount rootfs component: ", status.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status UnmountAll(const std::string& target) {
  if (target.empty()) return absl::OkStatus();
  struct stat st;
  if (stat(target.c_str(), &st) != 0) return absl::OkStatus();
  for (int layer = 0; layer < 64; ++layer) {  // bounded: a stack this deep is not ours
    int busy_retries = 0;
    for (;;) {
      if (umount2(target.c_str(), UMOUNT_NOFOLLOW) == 0) break;
      if (errno == EINVAL) return absl::OkStatus();  // nothing (more) mounted here
      if (errno == EBUSY && busy_retries++ < 50) {
        absl::SleepFor(absl::Milliseconds(50));
        continue;
      }
      if (errno == EBUSY) {
        // Still busy after 2.5 s: detach so the mount cannot outlive the task.
        if (umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) break;
      }
      return ErrnoStatus(absl::StrCat("unmount ", target));
    }
  }
  return absl::InternalError(absl::StrCat("too many mounts stacked on ", target));
}

}  // namespace airlock::task
