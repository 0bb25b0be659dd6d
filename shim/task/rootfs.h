// Mounting the rootfs that containerd hands to Create (snapshotter mounts: overlay, bind, ...),
// with the option semantics of containerd's mount package, and unmounting it on Delete.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "containerd/types/mount.pb.h"

namespace airlock::task {

struct MountFlags {
  unsigned long flags = 0;
  std::string data;  // options that are not flags, comma-joined, for the filesystem
};

// Splits fstab-style options into mount(2) flags and filesystem data, as containerd does.
MountFlags ParseMountOptions(const std::vector<std::string>& options);

absl::Status MountOne(const containerd::types::Mount& mount, const std::string& target);

// Mounts every component onto `target` in order; on failure unmounts what was mounted.
absl::Status MountAll(const std::vector<containerd::types::Mount>& mounts, const std::string& target);

// Unmounts everything stacked on `target` (a no-op if nothing is mounted there or it is missing).
absl::Status UnmountAll(const std::string& target);

}  // namespace airlock::task
