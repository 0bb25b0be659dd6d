// Where `uplink: pod` left state outside the sandbox: the NAT table and the ip_forward claim live
// in the pod's network namespace. A small record next to the task record names that netns, so the
// cleanup after a crashed shim (`shim delete`) can reach it again, and only if it is still the same.
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "shim/base/unique_fd.h"

namespace airlock::sandbox {

// The record of the task whose record file is `task_record`.
std::string PodNetnsRecordPath(const std::string& task_record);

// The path that pins the pod's netns for the pod's life (CNI's, e.g. /var/run/netns/cni-...), from
// the pod's sandbox container's spec in the bundle next to `bundle` (containerd keeps a namespace's
// bundles side by side, the sandbox's under the pod's id); "" if that cannot be read or does not
// name the netns `fd` is. Unlike /proc/<pause pid>/ns/net it still leads there once the pause
// container is gone, as it may be first when a crashed shim's tasks are cleaned up.
std::string PinnedPodNetnsPath(const std::string& bundle, const std::map<std::string, std::string>& annotations,
                               int fd);

// Writes the netns `fd` (opened from `path`) into `record`: its path and identity (device, inode).
absl::Status WritePodNetnsRecord(const std::string& record, const std::string& path, int fd);

// Opens the recorded netns again. NotFound: no record, or the netns at that path is gone or is not
// the recorded one any more (nothing of ours can be left in a netns that no longer exists).
absl::StatusOr<UniqueFd> ReopenPodNetns(const std::string& record);

}  // namespace airlock::sandbox
