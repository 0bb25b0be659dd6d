// /proc/<pid>/mountinfo, one line a mount: the one parser of it (cgroup discovery, the seal's
// secret sweep, airlock run's leftover check).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace airlock {

struct MountInfo {
  std::string root;           // the mounted directory within its filesystem
  std::string mount_point;    // where it is mounted (unescaped)
  std::string options;        // per-mount options: "rw,nosuid,..."
  std::string fs_type;        // "tmpfs", "overlay", "cgroup2", ...
  std::string source;         // unescaped
  std::string super_options;  // per-filesystem options
  bool read_only() const;     // `options` has "ro"
};

// One line: "id parent major:minor root mount_point options [optional...] - fs_type source super";
// nullopt when it does not have that shape.
std::optional<MountInfo> ParseMountinfoLine(absl::string_view line);
// Every well-formed line, in order.
std::vector<MountInfo> ParseMountinfo(absl::string_view text);

}  // namespace airlock
