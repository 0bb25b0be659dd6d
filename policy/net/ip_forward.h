// net.ipv4.ip_forward for nat sandboxes, reference-counted across shim processes (one shim per
// container): the first sandbox of a netns remembers the values and turns forwarding on, the last
// one restores what was remembered. State lives under a run directory, guarded by flock:
//   <state_dir>/lock
//   <state_dir>/net-<dev>-<inode>/saved          "ip_forward accept_redirects" as found
//   <state_dir>/net-<dev>-<inode>/users/<sandbox>
// Writing ip_forward also flips conf/all/accept_redirects (the kernel sets it to !forwarding), so
// that value is remembered and restored too. Not restored: per-device forwarding values an admin
// set by hand before (the kernel overwrites all of them when ip_forward changes) and LRO, which
// the kernel disables on every device when forwarding goes on. If an admin enables forwarding while
// sandboxes hold it, the last release still turns it off: it cannot tell the difference.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace airlock::net {

// Registers `sandbox` as a user of forwarding in the netns `netns_fd` (< 0: the caller's) and turns
// forwarding on there. Idempotent per sandbox.
absl::Status AcquireIpForward(absl::string_view state_dir, absl::string_view sandbox, int netns_fd);

// Drops the registration; the last user restores the remembered values. Idempotent.
absl::Status ReleaseIpForward(absl::string_view state_dir, absl::string_view sandbox, int netns_fd);

// Crash cleanup with only the sandbox name: drops its registration wherever it is. Values are
// restored for the caller's own netns; a registration in another netns is dropped without
// restoring (that netns cannot be entered from its inode alone; it is usually gone).
absl::Status ReleaseIpForwardEverywhere(absl::string_view state_dir, absl::string_view sandbox);

}  // namespace airlock::net
