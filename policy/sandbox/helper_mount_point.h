// Where the airlock puts its helper in the container: /.airlock, a read-only file bind that setup
// cannot move, replace or shadow (it is a mount point). That holds only if runc mounts exactly
// there: runc follows symlinks inside the container's root when it mounts (securejoin), so an
// image's own /.airlock symlink would send the mount elsewhere and leave a symlink that setup, root
// in a writable root, could point at a program of its own for every exec after the seal.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace airlock::sandbox {

// The container's root on the host: the spec's root.path, relative to `bundle` unless absolute.
std::string RootfsOf(const nlohmann::json& spec, const std::string& bundle);

// OK when /.airlock is absent from `rootfs` or a regular file (runc binds onto it); otherwise a
// FailedPrecondition that names what the image has there.
absl::Status CheckHelperMountPoint(const std::string& rootfs);

}  // namespace airlock::sandbox
