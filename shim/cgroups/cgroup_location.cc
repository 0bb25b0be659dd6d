#include "shim/cgroups/cgroup_location.h"

#include <linux/magic.h>
#include <sys/statfs.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "shim/base/errno_status.h"
#include "shim/base/mountinfo.h"
#include "shim/cgroups/cgroup_files.h"

namespace airlock::cgroups {
namespace {

struct CgroupMount {
  std::string root;         // the cgroup path shown at the mount point ("/" unless a sub-tree)
  std::string mount_point;  // where it is mounted
  std::string fs_type;      // "cgroup" or "cgroup2"
  std::vector<std::string> super_options;  // v1: include the controllers ("cpu", "name=systemd")
};

std::vector<CgroupMount> ParseCgroupMounts(absl::string_view mountinfo) {
  std::vector<CgroupMount> mounts;
  for (MountInfo& m : ParseMountinfo(mountinfo)) {
    if (m.fs_type != "cgroup" && m.fs_type != "cgroup2") continue;
    CgroupMount mount{std::move(m.root), std::move(m.mount_point), m.fs_type, {}};
    if (m.fs_type == "cgroup") mount.super_options = absl::StrSplit(m.super_options, ',');
    mounts.push_back(std::move(mount));
  }
  return mounts;
}

// The directory of `path` under `mount`, or "" when the mount does not show that path.
std::string DirUnder(const CgroupMount& mount, const std::string& path) {
  if (mount.root == "/") return path == "/" ? mount.mount_point : mount.mount_point + path;
  if (path == mount.root) return mount.mount_point;
  if (absl::StartsWith(path, mount.root + "/")) return mount.mount_point + path.substr(mount.root.size());
  return "";
}

}  // namespace

std::string CgroupLocation::V1Dir(const std::string& controller) const {
  auto it = v1.find(controller);
  return it == v1.end() ? std::string() : it->second;
}

std::string CgroupLocation::ProcsDir() const {
  if (unified) return unified_dir;
  std::string dir = V1Dir("pids");
  return dir.empty() ? V1Dir("memory") : dir;
}

std::string CgroupLocation::Describe() const {
  if (unified) return absl::StrCat("cgroup2 ", unified_dir);
  return absl::StrCat("cgroup v1 ", absl::StrJoin(v1, ", ", absl::PairFormatter("=")));
}

absl::StatusOr<CgroupMode> DetectCgroupMode(const std::string& root) {
  struct statfs fs {};
  if (::statfs(root.c_str(), &fs) != 0) return ErrnoStatus(absl::StrCat("statfs ", root));
  if (fs.f_type == CGROUP2_SUPER_MAGIC) return CgroupMode::kUnified;
  std::string unified = root + "/unified";
  if (::statfs(unified.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) return CgroupMode::kHybrid;
  return CgroupMode::kLegacy;
}

absl::StatusOr<CgroupLocation> ResolveCgroupsFrom(CgroupMode mode, absl::string_view proc_pid_cgroup,
                                                  absl::string_view mountinfo) {
  std::vector<CgroupMount> mounts = ParseCgroupMounts(mountinfo);
  CgroupLocation location;
  location.unified = mode == CgroupMode::kUnified;
  bool found_unified_line = false;
  for (absl::string_view line : absl::StrSplit(proc_pid_cgroup, '\n', absl::SkipEmpty())) {
    // hierarchy-id:controller-list:path
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) return absl::InvalidArgumentError(absl::StrCat("bad cgroup line: ", line));
    std::string path(parts[2]);
    if (parts[0] == "0" && parts[1].empty()) {
      found_unified_line = true;
      if (!location.unified) continue;
      for (const CgroupMount& mount : mounts) {
        if (mount.fs_type != "cgroup2") continue;
        if (std::string dir = DirUnder(mount, path); !dir.empty()) {
          location.unified_dir = dir;
          break;
        }
      }
      continue;
    }
    if (location.unified) continue;
    for (absl::string_view controller : absl::StrSplit(parts[1], ',', absl::SkipEmpty())) {
      for (const CgroupMount& mount : mounts) {
        if (mount.fs_type != "cgroup") continue;
        bool has = false;
        for (const std::string& option : mount.super_options) has = has || option == controller;
        if (!has) continue;
        if (std::string dir = DirUnder(mount, path); !dir.empty()) {
          location.v1[std::string(controller)] = dir;
          break;
        }
      }
    }
  }
  if (location.unified && location.unified_dir.empty()) {
    return absl::NotFoundError(found_unified_line ? "no cgroup2 mount shows the process's cgroup"
                                                  : "process has no cgroup2 membership");
  }
  if (!location.unified && location.v1.empty()) return absl::NotFoundError("no cgroup v1 mount shows the process's cgroups");
  return location;
}

namespace {

// What both ways start from: the host's cgroup mode (by <root>) and the process's /proc/<pid>/cgroup.
struct Membership {
  CgroupMode mode;
  std::string cgroup;
};

absl::StatusOr<Membership> ReadMembership(pid_t pid, const std::string& root) {
  absl::StatusOr<CgroupMode> mode = DetectCgroupMode(root);
  if (!mode.ok()) return mode.status();
  absl::StatusOr<std::string> cgroup = ReadSmallFile(absl::StrCat("/proc/", pid, "/cgroup"));
  if (!cgroup.ok()) return cgroup.status();
  return Membership{*mode, *std::move(cgroup)};
}

absl::StatusOr<CgroupLocation> FromMountinfo(const Membership& m) {
  absl::StatusOr<std::string> mountinfo = ReadSmallFile("/proc/self/mountinfo");
  if (!mountinfo.ok()) return mountinfo.status();
  return ResolveCgroupsFrom(m.mode, m.cgroup, *mountinfo);
}

absl::StatusOr<CgroupLocation> FromStandardLayout(const Membership& m, pid_t pid, const std::string& root) {
  auto is_fs = [](const std::string& dir, int64_t magic) {
    struct statfs fs {};
    return ::statfs(dir.c_str(), &fs) == 0 && static_cast<int64_t>(fs.f_type) == magic;
  };
  // One mount per hierarchy, whole (root "/"), where systemd and cgroupfs-mount put it: the
  // unified one at <root>, v1 ones at <root>/<controller list> (name=systemd at <root>/systemd).
  // A hierarchy the layout does not show sends the whole resolution to mountinfo.
  std::string mountinfo;
  for (absl::string_view line : absl::StrSplit(m.cgroup, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) return absl::InvalidArgumentError(absl::StrCat("bad cgroup line: ", line));
    bool unified_line = parts[0] == "0" && parts[1].empty();
    if (unified_line != (m.mode == CgroupMode::kUnified)) continue;  // as ResolveCgroupsFrom reads them
    std::string dir = root;
    if (!unified_line) {
      std::string name(parts[1]);
      if (absl::StartsWith(name, "name=")) name = name.substr(5);
      if (name.empty() || absl::StrContains(name, '/') || name == "." || name == "..") {
        return absl::NotFoundError(absl::StrCat("no standard mount point for '", parts[1], "'"));
      }
      dir = absl::StrCat(root, "/", name);
    }
    if (!is_fs(dir, unified_line ? CGROUP2_SUPER_MAGIC : CGROUP_SUPER_MAGIC)) {
      return absl::NotFoundError(absl::StrCat(dir, " is not the '", parts[1], "' hierarchy"));
    }
    // A mountinfo line as the kernel would write it for that mount, for the one parser.
    absl::StrAppend(&mountinfo, "0 0 0:0 / ", dir, " rw - ", unified_line ? "cgroup2" : "cgroup", " cgroup rw",
                    unified_line ? "" : absl::StrCat(",", parts[1]), "\n");
  }
  absl::StatusOr<CgroupLocation> location = ResolveCgroupsFrom(m.mode, m.cgroup, mountinfo);
  if (!location.ok()) return absl::NotFoundError(location.status().message());
  // The layout is believed only if the process is found where it says (a shim inside a cgroup
  // namespace or with a sub-tree mounted there would see other paths): in the directory its
  // processes are listed from, and in the freezer's, which the seal writes to.
  std::vector<std::string> confirm = {location->ProcsDir()};
  if (confirm[0].empty()) return absl::NotFoundError("no pids or memory hierarchy in the standard layout");
  if (std::string freezer = location->V1Dir("freezer"); !freezer.empty()) confirm.push_back(freezer);
  for (const std::string& dir : confirm) {
    absl::StatusOr<std::string> procs = ReadSmallFile(dir + "/cgroup.procs");
    if (!procs.ok()) return absl::NotFoundError(procs.status().message());
    if (!ProcsListContains(*procs, pid)) {
      return absl::NotFoundError(absl::StrCat("pid ", pid, " is not in ", dir, "/cgroup.procs"));
    }
  }
  return location;
}

}  // namespace

bool ProcsListContains(absl::string_view procs, pid_t pid) {
  std::string wanted = absl::StrCat(pid);
  for (absl::string_view member : absl::StrSplit(procs, '\n', absl::SkipEmpty())) {
    if (member == wanted) return true;
  }
  return false;
}

absl::StatusOr<CgroupLocation> ResolveCgroupsByStandardLayout(pid_t pid, const std::string& root) {
  absl::StatusOr<Membership> m = ReadMembership(pid, root);
  if (!m.ok()) return m.status();
  return FromStandardLayout(*m, pid, root);
}

absl::StatusOr<CgroupLocation> ResolveCgroupsByMountinfo(pid_t pid) {
  absl::StatusOr<Membership> m = ReadMembership(pid, "/sys/fs/cgroup");
  if (!m.ok()) return m.status();
  return FromMountinfo(*m);
}

absl::StatusOr<CgroupLocation> ResolveCgroups(pid_t pid) {
  absl::StatusOr<Membership> m = ReadMembership(pid, "/sys/fs/cgroup");
  if (!m.ok()) return m.status();
  absl::StatusOr<CgroupLocation> standard = FromStandardLayout(*m, pid, "/sys/fs/cgroup");
  if (standard.ok() || !absl::IsNotFound(standard.status())) return standard;
  return FromMountinfo(*m);
}

}  // namespace airlock::cgroups
