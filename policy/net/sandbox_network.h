// The network of one sandbox: its own persistent netns, an optional setup uplink, and the one-way
// seal that removes the uplink and verifies over netlink that only loopback is left.
//
// Names are derived from the sandbox name only (names.h), so Cleanup(name) can remove everything
// after a crash: the netns bind mount, the veth pair, the nftables table, the ip_forward claim.
// Calls on one SandboxNetwork must not run concurrently (the shim serialises them per task).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "policy/net/forward_guard.h"
#include "policy/net/ipv4.h"
#include "policy/net/netlink.h"
#include "policy/net/netns.h"
#include "policy/net/seal_check.h"
#include "shim/base/unique_fd.h"

namespace airlock::net {

struct SandboxNetworkOptions {
  // Holds netns/ (the bind mounts), ipforward/ (ip_forward claims) and pool.lock.
  std::string run_dir = "/run/airlock";
  // false: the netns is held by the handle's fd only (no bind mount under run_dir/netns), so a
  // crashed shim leaves no netns behind; its path is then /proc/<pid>/fd/<fd>.
  bool persistent = true;
};

enum class UplinkMode { kNone, kNetns, kNat };

struct UplinkConfig {
  UplinkMode mode = UplinkMode::kNone;
  // kNetns: the upstream netns the sandbox gets a veth to (e.g. a Kubernetes pod netns).
  std::string upstream_netns_path;
  // Addresses: the given ones, or a free subnet of `pool` (free = overlapping no IPv4 address of
  // the outer netns; allocation is serialised across processes by run_dir/pool.lock).
  std::optional<UplinkAddresses> addresses;
  Ipv4Prefix pool = {0xC6120000u, 16};  // 198.18.0.0/16
  int subnet_length = 30;               // 30 or 31
  // kNat: the netns that plays the host (its veth end, the nftables table and ip_forward);
  // < 0: this process's netns. Not owned.
  int host_netns_fd = -1;
  // kNat: turn net.ipv4.ip_forward on while the sandbox needs it, restore it after (ip_forward.h).
  bool manage_ip_forward = true;
  // kNat: where the sandbox may not send (forward_guard.h).
  ForwardGuard guard;
};

// What AddUplink made.
struct UplinkInfo {
  UplinkMode mode = UplinkMode::kNone;
  std::string sandbox_veth;  // inside the sandbox netns
  std::string outer_veth;    // in the host (nat) or upstream (netns) netns
  UplinkAddresses addresses;
  std::string nft_table;  // nat only
};

struct SealReport {
  bool verified = false;            // the only thing to act on: false means fail closed
  SealCheck check;                  // what was found inside the netns
  std::vector<std::string> errors;  // trouble removing the uplink (the check decides)
  absl::Duration to_verified;       // trigger -> verified (uplink deleted and netns read back)
  std::string ToString() const;
};

class SandboxNetwork {
 public:
  // Creates the netns run_dir/netns/<name> and brings lo up. AlreadyExists when that path exists:
  // a live sandbox of that name, or the leftover of a crash, which Cleanup(name) clears.
  static absl::StatusOr<std::unique_ptr<SandboxNetwork>> Create(absl::string_view name,
                                                                const SandboxNetworkOptions& options = {});
  // Removes everything of the sandbox `name` left on the host, e.g. after a crash; idempotent.
  static absl::Status Cleanup(absl::string_view name, const SandboxNetworkOptions& options = {});
  // After a crash, for a nat uplink whose "host" was another netns (`uplink: pod`): removes the
  // sandbox's nft table there and releases its ip_forward claim on it (restoring the value when it
  // was the last). Idempotent.
  static absl::Status CleanupNatIn(absl::string_view name, int netns_fd, const SandboxNetworkOptions& options = {});

  SandboxNetwork(const SandboxNetwork&) = delete;
  SandboxNetwork& operator=(const SandboxNetwork&) = delete;
  ~SandboxNetwork();  // Remove()

  // Adds the setup uplink (at most one). FailedPrecondition once sealed: sealing is one-way.
  absl::StatusOr<UplinkInfo> AddUplink(const UplinkConfig& config);

  // Deletes the uplink (the sandbox end of the veth; the peer goes with it) and verifies. The handle
  // is sealed from the first instruction on, whatever happens. Calling it again re-verifies. The
  // host-side state of a nat uplink is left for ReleaseHostState(): it is hygiene, not isolation,
  // and its nft commit (milliseconds) must not hold up the sandbox.
  //
  // The RTM_DELLINK runs on a helper thread: the kernel unlists the link, closes it and flushes its
  // routes and addresses under the rtnl lock within about a millisecond, but the request only
  // returns after an RCU barrier and the wait for the last device reference (tens of ms here).
  // Verification needs only the former, so it polls (bounded) until the netns reads back as
  // loopback-only or the deletion has finished; the helper thread is joined later (next Seal,
  // Remove, destructor).
  SealReport Seal();

  // The seal's first half: the handle is sealed and the uplink's deletion starts on the helper
  // thread. The caller may do other seal work meanwhile (the sandbox kills setup leftovers), then
  // Seal() verifies; it counts to_verified from here. Seal() alone does both.
  void BeginSeal();

  // After Seal(): drops a nat uplink's nft table and ip_forward claim; the errors, if any. Idempotent;
  // Remove() does it too.
  std::vector<std::string> ReleaseHostState();

  // The verification alone (no state change).
  SealCheck Verify(LinkDetail detail = LinkDetail::kDump);

  // Removes everything: uplink, nftables table, ip_forward claim, netns. Idempotent.
  absl::Status Remove();

  const std::string& name() const { return name_; }
  const std::string& netns_path() const { return netns_.path(); }
  int netns_fd() const { return netns_.fd(); }
  bool sealed() const { return sealed_; }
  const std::optional<UplinkInfo>& uplink() const { return uplink_; }

  // Bounds of the seal's verification polling.
  static constexpr absl::Duration kSealVerifyTimeout = absl::Seconds(5);
  static constexpr int kSealVerifyMaxAttempts = 10000;

 private:
  SandboxNetwork(std::string name, SandboxNetworkOptions options, Netns netns, NetlinkSocket socket,
                 NetDevList devices);

  absl::StatusOr<UplinkInfo> AddNetnsUplink(const UplinkConfig& config);
  absl::StatusOr<UplinkInfo> AddNatUplink(const UplinkConfig& config);
  // Wires addresses and the default route once the veth pair exists.
  struct VethIndexes {
    int outer = 0;
    int inner = 0;
  };
  // Both ends up, the subnet claimed (under the pool lock), the sandbox end's address and route.
  absl::Status ConfigureVeth(const UplinkConfig& config, NetlinkSocket& outer, UplinkInfo* info);
  absl::Status BringVethUp(NetlinkSocket& outer, const UplinkInfo& info, VethIndexes* indexes);
  absl::Status ClaimSubnet(const UplinkConfig& config, NetlinkSocket& outer, int outer_index, UplinkInfo* info);
  absl::Status ConfigureInner(const UplinkInfo& info, int inner_index);
  // Drops the nftables table and the ip_forward claim of a nat uplink.
  std::vector<std::string> RemoveHostState(const UplinkInfo& uplink);
  // A working socket in the sandbox netns (reopened when it went bad).
  absl::StatusOr<NetlinkSocket*> SandboxSocket();
  void OpenDeleteSocket();
  // Waits for the seal's helper thread, if any.
  void JoinDeleteThread();

  std::string name_;
  SandboxNetworkOptions options_;
  Netns netns_;
  std::optional<NetlinkSocket> socket_;
  std::optional<NetlinkSocket> delete_socket_;  // in the sandbox netns, for the seal's helper thread
  std::optional<NetDevList> devices_;           // the sandbox netns's /proc/net/dev, until Remove()
  std::thread delete_thread_;
  struct UplinkDeletion {
    std::atomic<bool> finished{false};
    absl::Status status;
  };
  std::shared_ptr<UplinkDeletion> deletion_;  // from BeginSeal() to the end of Seal()
  absl::Time seal_started_;
  std::optional<UplinkInfo> uplink_;      // until the seal deletes it
  std::optional<UplinkInfo> host_state_;  // a sealed nat uplink's host side, until released
  UniqueFd host_netns_;  // nat: a dup of the configured host netns fd (none: this process's)
  bool manage_ip_forward_ = false;
  bool sealed_ = false;
  bool removed_ = false;
};

}  // namespace airlock::net
