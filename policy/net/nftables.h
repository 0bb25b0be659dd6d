// nftables through libnftables, loaded with dlopen() on first use: a shim whose sandboxes never use
// NAT never maps libnftables and its dependencies (libnftnl, libmnl, libjansson, libgmp, libxtables).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policy/net/forward_guard.h"

namespace airlock::net {

// Runs an nft script (one atomic batch) in the network namespace `netns_fd` (< 0: the caller's).
// Errors carry nft's own error text. Unavailable when libnftables cannot be loaded.
absl::Status RunNft(absl::string_view script, int netns_fd = -1);

// The nft script of a nat sandbox: table `table` (family ip) that masquerades what `sandbox_address`
// sends out of any other interface, and forwards from `host_veth` what `guard` lets through
// (forward_guard.h: `allow` first, then `drop`), and replies back into it (new connections into
// the sandbox are dropped, so are packets with a forged source). The sandbox may not open
// connections to the host itself (input from the veth: replies only). Any old table of that name
// is replaced, atomically.
std::string NatTableScript(absl::string_view table, absl::string_view host_veth, absl::string_view sandbox_address,
                           const ForwardGuard& guard);

// Removes the table if it exists (idempotent: "add" then "delete" in one batch).
std::string DeleteTableScript(absl::string_view table);

// Whether table `table` (family ip) exists in the caller's netns: a read, no transaction. Cleanup
// asks first because the add-and-delete batch is a commit the kernel makes slow (about 10 ms, an
// RCU grace period) even when there was nothing to delete. Unavailable without libnftables;
// another error when nft fails otherwise.
absl::StatusOr<bool> NftTableExists(absl::string_view table);

}  // namespace airlock::net
