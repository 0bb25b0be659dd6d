// Where `uplink: pod` left state outside the sandbox: the NAT table, the uplink's outer end and the
// ip_forward claim live in the pod's network namespace. A small record names that netns, so the
// cleanup after a crashed shim (`shim delete`) can reach it again, and only if it is still the same:
//   <run_dir>/pod-netns/<namespace>/<id>    "PATH\nDEV INO\nPOD_ID\n"
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "shim/base/unique_fd.h"

namespace airlock::sandbox {

// The record of task `id` of containerd namespace `ns`.
std::string PodNetnsRecordPath(const std::string& run_dir, const std::string& ns, const std::string& id);

// The path that pins the pod's netns for the pod's life (containerd's CRI bind-mounts CNI's netns,
// e.g. /var/run/netns/cni-...), from the pod's sandbox container's spec in the bundle next to
// `bundle` (containerd keeps a namespace's bundles side by side, the sandbox's under the pod's id);
// "" if that cannot be read or does not name the netns `fd` is. Unlike /proc/<pause pid>/ns/net it
// still leads there once the pause container is gone, as it may be first when a crashed shim's
// tasks are cleaned up.
std::string PinnedPodNetnsPath(const std::string& bundle, const std::map<std::string, std::string>& annotations,
                               int fd);

// Writes the netns `fd` (opened from `path`, of pod `pod_id`) into `record` (its directory made).
absl::Status WritePodNetnsRecord(const std::string& record, const std::string& path, int fd,
                                 const std::string& pod_id);

// Opens the recorded netns again. NotFound: no record, or the netns at that path is gone or is not
// the recorded one any more (same device and inode; for a /proc/<pid>/... path, whose inode number
// a new netns may get again, the process must also still be in the pod's cgroup).
absl::StatusOr<UniqueFd> ReopenPodNetns(const std::string& record);

// Removes the record and its namespace's directory once empty.
void RemovePodNetnsRecord(const std::string& record);

}  // namespace airlock::sandbox
