#include "policy/path_rules.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace airlock::policy {

absl::StatusOr<std::string> CleanAbsolutePath(absl::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("empty path");
  if (absl::StrContains(path, absl::string_view("\0", 1)) || absl::StrContains(path, "\n")) {
    return absl::InvalidArgumentError(absl::StrCat("path \"", path, "\" contains a NUL or newline"));
  }
  if (path[0] != '/') return absl::InvalidArgumentError(absl::StrCat("path \"", path, "\" is not absolute"));
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") return absl::InvalidArgumentError(absl::StrCat("path \"", path, "\" contains \"..\""));
    parts.push_back(part);
  }
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

bool IsSameOrUnder(absl::string_view path, absl::string_view dir) {
  return path == dir || IsStrictlyUnder(path, dir);
}

bool IsStrictlyUnder(absl::string_view path, absl::string_view dir) {
  if (dir == "/") return path.size() > 1 && path[0] == '/';
  return path.size() > dir.size() + 1 && absl::StartsWith(path, dir) && path[dir.size()] == '/';
}

std::string ContainerMountPointProblem(absl::string_view path) {
  if (path == "/") return "\"/\" is not allowed: it would hide the whole root filesystem";
  for (absl::string_view reserved : {"/proc", "/sys", "/dev"}) {
    if (IsSameOrUnder(path, reserved)) {
      return absl::StrCat("\"", path, "\" lies in ", reserved, ", which the runtime manages");
    }
  }
  if (IsSameOrUnder(path, "/.airlock")) return absl::StrCat("\"", path, "\" lies in /.airlock, reserved for the airlock helper");
  return "";
}

std::string HostRepoPathProblem(absl::string_view path) {
  static constexpr absl::string_view kSystemTrees[] = {"/proc", "/sys",  "/dev", "/etc",  "/boot",  "/run",  "/var/run",
                                                       "/usr",  "/bin",  "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
  static constexpr absl::string_view kBroadDirs[] = {"/",        "/home",    "/root",    "/tmp",      "/srv",
                                                     "/opt",     "/mnt",     "/media",   "/var",      "/var/lib",
                                                     "/var/log", "/var/tmp", "/var/cache", "/var/spool"};
  for (absl::string_view tree : kSystemTrees) {
    if (IsSameOrUnder(path, tree)) return absl::StrCat("\"", path, "\" lies in the system directory ", tree);
  }
  for (absl::string_view dir : kBroadDirs) {
    if (path == dir) return absl::StrCat("\"", path, "\" is a system-wide directory, not a repository");
  }
  return "";
}

}  // namespace airlock::policy
