// The hostname of a UTS namespace the sandbox does not join: a pod's containers share the pod's
// (its sandbox container's) UTS namespace, which holds the pod's hostname; a sandbox gets a private
// UTS namespace instead, and the pod's hostname is set in it (spec.hostname), so that `hostname`
// says what /etc/hostname says and not the node's name.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace airlock::sandbox {

// The nodename (uname -n) of the UTS namespace at `ns_path` (e.g. /proc/<pid>/ns/uts), read by a
// one-shot thread that joins it (a thread's UTS namespace is its own; the shim's stays untouched).
absl::StatusOr<std::string> HostnameOfUtsNamespace(const std::string& ns_path);

}  // namespace airlock::sandbox
