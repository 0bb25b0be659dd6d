#include "policy/net/sandbox_network.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/net/fs_util.h"
#include "policy/net/in_netns.h"
#include "policy/net/ip_forward.h"
#include "policy/net/names.h"
#include "policy/net/nftables.h"
#include "policy/net/rtnl.h"
#include "shim/base/errno_status.h"
#include "shim/base/log.h"
#include "shim/base/sha256.h"

namespace airlock::net {
namespace {

std::string NetnsDir(const SandboxNetworkOptions& options) { return absl::StrCat(options.run_dir, "/netns"); }
std::string IpForwardDir(const SandboxNetworkOptions& options) { return absl::StrCat(options.run_dir, "/ipforward"); }

// Serialises subnet allocation + address assignment across shim processes.
absl::StatusOr<UniqueFd> LockPool(const SandboxNetworkOptions& options) {
  if (absl::Status status = MakeDirs(options.run_dir); !status.ok()) return status;
  return LockFile(absl::StrCat(options.run_dir, "/pool.lock"));
}

uint64_t SeedOf(absl::string_view name) {
  std::array<uint8_t, 32> digest = [&] {
    Sha256 sha;
    sha.Update(name);
    return sha.Finish();
  }();
  uint64_t seed = 0;
  for (int i = 0; i < 8; ++i) seed = (seed << 8) | digest[i];
  return seed;
}

absl::StatusOr<std::vector<Ipv4Prefix>> Ipv4InUse(NetlinkSocket& socket) {
  auto addresses = ListAddresses(socket, AF_INET);
  if (!addresses.ok()) return addresses.status();
  std::vector<Ipv4Prefix> used;
  for (const Address& address : *addresses) {
    for (const std::vector<uint8_t>* bytes : {&address.address, &address.peer}) {
      if (bytes->size() != 4) continue;
      uint32_t value =
          (uint32_t{(*bytes)[0]} << 24) | (uint32_t{(*bytes)[1]} << 16) | (uint32_t{(*bytes)[2]} << 8) | (*bytes)[3];
      used.push_back(Ipv4Prefix{value, address.prefix_len});
    }
  }
  return used;
}

absl::StatusOr<UplinkAddresses> ChooseAddresses(const UplinkConfig& config, absl::string_view name,
                                                NetlinkSocket& outer) {
  if (config.addresses) {
    const UplinkAddresses& given = *config.addresses;
    uint32_t mask = PrefixMask(given.prefix_length);
    auto special = [&](uint32_t a) {  // network or broadcast address of a subnet wider than /31
      return given.prefix_length < 31 && ((a & ~mask) == 0 || (a & ~mask) == ~mask);
    };
    if (given.prefix_length < 8 || given.prefix_length > 31 || given.outer == given.sandbox ||
        (given.outer & mask) != (given.sandbox & mask) || special(given.outer) || special(given.sandbox)) {
      return absl::InvalidArgumentError(absl::StrCat("uplink addresses ", FormatIpv4(given.outer), " and ",
                                                     FormatIpv4(given.sandbox), " are not two ends of one /",
                                                     given.prefix_length));
    }
    return given;
  }
  auto in_use = Ipv4InUse(outer);
  if (!in_use.ok()) return in_use.status();
  return AllocateUplinkSubnet(config.pool, config.subnet_length, SeedOf(name), *in_use);
}

absl::StatusOr<NetlinkSocket> SocketIn(int netns_fd) {
  return netns_fd >= 0 ? NetlinkSocket::OpenInNetns(netns_fd) : NetlinkSocket::Open();
}

// Links born in the calling thread's netns from now on (the uplink's end) get no IPv6 at all: the
// uplink is IPv4 only. (Its end comes up second, with the carrier, so an addrgenmode set in that
// same request can come too late for the link-local address; this cannot.)
absl::Status DisableIpv6ForNewLinksHere() {
  UniqueFd fd(::open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC));
  if (!fd) return errno == ENOENT ? absl::OkStatus() : ErrnoStatus("open ipv6 conf/default/disable_ipv6");
  return WriteAll(fd.get(), "1\n", "ipv6 conf/default/disable_ipv6");
}

void Keep(absl::Status* first, absl::Status status) {
  if (first->ok() && !status.ok()) *first = std::move(status);
}

}  // namespace

std::string SealReport::ToString() const {
  std::string text =
      absl::StrCat(verified ? "verified" : "NOT verified", " in ", absl::FormatDuration(to_verified), "; links [",
                   absl::StrJoin(check.links, ", "), "] addresses [", absl::StrJoin(check.addresses, ", "),
                   "] routes [", absl::StrJoin(check.routes, ", "), "] rules [", absl::StrJoin(check.rules, ", "), "]");
  if (!check.violations.empty()) absl::StrAppend(&text, "; violations: ", absl::StrJoin(check.violations, "; "));
  if (!errors.empty()) absl::StrAppend(&text, "; errors: ", absl::StrJoin(errors, "; "));
  return text;
}

SandboxNetwork::SandboxNetwork(std::string name, SandboxNetworkOptions options, Netns netns, NetlinkSocket socket,
                               NetDevList devices)
    : name_(std::move(name)),
      options_(std::move(options)),
      netns_(std::move(netns)),
      socket_(std::move(socket)),
      devices_(std::move(devices)) {}

absl::StatusOr<std::unique_ptr<SandboxNetwork>> SandboxNetwork::Create(absl::string_view name,
                                                                       const SandboxNetworkOptions& options) {
  absl::StatusOr<Netns> netns = options.persistent ? Netns::Create(name, NetnsDir(options)) : Netns::CreateAnonymous();
  if (!netns.ok()) return netns.status();
  // From here on the Netns handle removes the bind mount again on any failure. One thread joins
  // the new netns for everything that must be opened or set from inside it.
  absl::StatusOr<NetlinkSocket> socket = absl::InternalError("not opened");
  // Opened now, not at the seal: a seal that could not read it could never be verified.
  absl::StatusOr<NetDevList> devices = absl::InternalError("not opened");
  absl::Status ipv6_off;
  absl::Status joined = RunInNetns(netns->fd(), [&] {
    socket = NetlinkSocket::Open();
    devices = NetDevList::OpenHere();
    ipv6_off = DisableIpv6ForNewLinksHere();
    return absl::OkStatus();
  });
  if (!joined.ok()) return joined;
  if (!socket.ok()) return socket.status();
  if (!devices.ok()) return devices.status();
  // Not a security property (the uplink is IPv4 only, and deleted at the seal): a read-only /proc/sys
  // (a shim inside a container) only costs the link-local address.
  if (!ipv6_off.ok()) log::Warn("sandbox ", name, ": new links keep IPv6: ", ipv6_off.message());
  if (absl::Status status = SetLinkUp(*socket, kLoopbackIndex); !status.ok()) {
    return absl::Status(status.code(), absl::StrCat("bring lo up: ", status.message()));
  }
  return std::unique_ptr<SandboxNetwork>(new SandboxNetwork(std::string(name), options, *std::move(netns),
                                                            *std::move(socket), *std::move(devices)));
}

SandboxNetwork::~SandboxNetwork() {
  if (absl::Status status = Remove(); !status.ok()) log::Warn("sandbox network ", name_, ": ", status.message());
}

absl::StatusOr<NetlinkSocket*> SandboxNetwork::SandboxSocket() {
  if (removed_) return absl::FailedPreconditionError(absl::StrCat("sandbox network ", name_, " removed"));
  if (!socket_ || !socket_->healthy()) {
    absl::StatusOr<NetlinkSocket> fresh = NetlinkSocket::OpenInNetns(netns_.fd());
    if (!fresh.ok()) return fresh.status();
    socket_ = *std::move(fresh);
  }
  return &*socket_;
}

absl::StatusOr<UplinkInfo> SandboxNetwork::AddUplink(const UplinkConfig& config) {
  if (removed_) return absl::FailedPreconditionError("sandbox network removed");
  if (sealed_) return absl::FailedPreconditionError("sandbox network is sealed: no uplink can be added");
  if (uplink_) return absl::AlreadyExistsError("sandbox network already has an uplink");
  switch (config.mode) {
    case UplinkMode::kNone:
      uplink_ = UplinkInfo{.mode = UplinkMode::kNone};
      return *uplink_;
    case UplinkMode::kNetns:
      return AddNetnsUplink(config);
    case UplinkMode::kNat:
      return AddNatUplink(config);
  }
  return absl::InvalidArgumentError("unknown uplink mode");
}

absl::Status SandboxNetwork::BringVethUp(NetlinkSocket& outer, const UplinkInfo& info, VethIndexes* indexes) {
  absl::StatusOr<NetlinkSocket*> inner_socket = SandboxSocket();
  if (!inner_socket.ok()) return inner_socket.status();
  NetlinkSocket& inner = **inner_socket;
  absl::StatusOr<int> outer_index = LinkIndex(outer, info.outer_veth);
  if (!outer_index.ok()) return outer_index.status();
  absl::StatusOr<int> inner_index = LinkIndex(inner, info.sandbox_veth);
  if (!inner_index.ok()) return inner_index.status();
  // Outer end first, without a carrier yet (its peer is down): its addrgenmode is in place before
  // the inner end brings the carrier up. The inner end was born without IPv6 (sandbox netns default).
  if (absl::Status s = SetLinkUp(outer, *outer_index, Ipv6LinkLocal::kNone); !s.ok()) return s;
  if (absl::Status s = SetLinkUp(inner, *inner_index); !s.ok()) return s;
  *indexes = VethIndexes{.outer = *outer_index, .inner = *inner_index};
  return absl::OkStatus();
}

absl::Status SandboxNetwork::ClaimSubnet(const UplinkConfig& config, NetlinkSocket& outer, int outer_index,
                                         UplinkInfo* info) {
  // Held across the choice and the outer address only: that address is what marks the subnet as
  // taken for the next shim's choice. Everything else runs unlocked, so 50 shims starting at once
  // do not queue behind each other's rtnl requests here.
  absl::StatusOr<UniqueFd> lock = LockPool(options_);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<UplinkAddresses> addresses = ChooseAddresses(config, name_, outer);
  if (!addresses.ok()) return addresses.status();
  info->addresses = *addresses;
  const UplinkAddresses& a = info->addresses;
  if (absl::Status s = AddIpv4Address(outer, outer_index, a.outer, a.prefix_length); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("address ", FormatIpv4(a.outer), " on ", info->outer_veth, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status SandboxNetwork::ConfigureInner(const UplinkInfo& info, int inner_index) {
  absl::StatusOr<NetlinkSocket*> inner_socket = SandboxSocket();
  if (!inner_socket.ok()) return inner_socket.status();
  NetlinkSocket& inner = **inner_socket;
  const UplinkAddresses& a = info.addresses;
  if (absl::Status s = AddIpv4Address(inner, inner_index, a.sandbox, a.prefix_length); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("address ", FormatIpv4(a.sandbox), " on ", info.sandbox_veth, ": ", s.message()));
  }
  if (absl::Status s = AddIpv4DefaultRoute(inner, a.outer, inner_index); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("default route via ", FormatIpv4(a.outer), ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status SandboxNetwork::ConfigureVeth(const UplinkConfig& config, NetlinkSocket& outer, UplinkInfo* info) {
  VethIndexes indexes;
  if (absl::Status s = BringVethUp(outer, *info, &indexes); !s.ok()) return s;
  if (absl::Status s = ClaimSubnet(config, outer, indexes.outer, info); !s.ok()) return s;
  return ConfigureInner(*info, indexes.inner);
}

absl::StatusOr<UplinkInfo> SandboxNetwork::AddNetnsUplink(const UplinkConfig& config) {
  absl::StatusOr<Netns> upstream = Netns::Open(config.upstream_netns_path);
  if (!upstream.ok()) return upstream.status();
  absl::StatusOr<NetlinkSocket> outer = NetlinkSocket::OpenInNetns(upstream->fd());
  if (!outer.ok()) return outer.status();

  UplinkInfo info{.mode = UplinkMode::kNetns,
                  .sandbox_veth = VethName(name_, VethSide::kSandbox),
                  .outer_veth = VethName(name_, VethSide::kUpstream)};

  absl::StatusOr<NetlinkSocket*> inner = SandboxSocket();
  if (!inner.ok()) return inner.status();
  // One request from inside the sandbox: our end here, the peer born in the upstream netns.
  absl::Status status = CreateVeth(
      **inner, VethSpec{.name = info.sandbox_veth, .peer_name = info.outer_veth, .peer_netns_fd = upstream->fd()});
  if (!status.ok())
    return absl::Status(status.code(), absl::StrCat("create veth ", info.sandbox_veth, ": ", status.message()));
  status = ConfigureVeth(config, *outer, &info);
  if (!status.ok()) {
    if (inner = SandboxSocket(); inner.ok()) (void)DeleteLinkByName(**inner, info.sandbox_veth);
    return status;
  }
  uplink_ = info;
  OpenDeleteSocket();
  log::Info("sandbox ", name_, ": uplink to ", config.upstream_netns_path, " ", info.sandbox_veth, " ",
            FormatIpv4(info.addresses.sandbox), " via ", FormatIpv4(info.addresses.outer));
  return info;
}

absl::StatusOr<UplinkInfo> SandboxNetwork::AddNatUplink(const UplinkConfig& config) {
  if (config.host_netns_fd >= 0) {
    host_netns_.reset(::fcntl(config.host_netns_fd, F_DUPFD_CLOEXEC, 0));
    if (!host_netns_) return ErrnoStatus("dup host netns fd");
  }
  absl::StatusOr<NetlinkSocket> host = SocketIn(host_netns_.get());
  if (!host.ok()) return host.status();

  UplinkInfo info{.mode = UplinkMode::kNat,
                  .sandbox_veth = VethName(name_, VethSide::kSandbox),
                  .outer_veth = VethName(name_, VethSide::kHost),
                  .nft_table = NftTableName(name_)};

  // One request in the host netns: our end there, the peer born inside the sandbox.
  absl::Status status = CreateVeth(
      *host, VethSpec{.name = info.outer_veth, .peer_name = info.sandbox_veth, .peer_netns_fd = netns_.fd()});
  if (!status.ok())
    return absl::Status(status.code(), absl::StrCat("create veth ", info.outer_veth, ": ", status.message()));
  manage_ip_forward_ = config.manage_ip_forward;
  uplink_ = info;  // from here on Remove()/Seal() undo whatever part exists
  status = ConfigureVeth(config, *host, &info);
  if (status.ok()) uplink_ = info;  // now with its addresses (the nft rule names the sandbox's)
  if (status.ok())
    status =
        RunNft(NatTableScript(info.nft_table, info.outer_veth, FormatIpv4(info.addresses.sandbox), config.guard),
               host_netns_.get());
  if (status.ok() && manage_ip_forward_) status = AcquireIpForward(IpForwardDir(options_), name_, host_netns_.get());
  if (!status.ok()) {
    (void)DeleteLinkByName(*host, info.outer_veth);
    for (const std::string& error : RemoveHostState(info)) log::Warn("sandbox ", name_, ": rollback: ", error);
    uplink_.reset();
    return status;
  }
  OpenDeleteSocket();
  log::Info("sandbox ", name_, ": nat uplink ", info.outer_veth, " ", FormatIpv4(info.addresses.sandbox), " via ",
            FormatIpv4(info.addresses.outer), ", nft table ", info.nft_table);
  return info;
}

std::vector<std::string> SandboxNetwork::RemoveHostState(const UplinkInfo& uplink) {
  std::vector<std::string> errors;
  if (uplink.mode != UplinkMode::kNat) return errors;
  if (absl::Status s = RunNft(DeleteTableScript(uplink.nft_table), host_netns_.get()); !s.ok()) {
    errors.push_back(absl::StrCat("delete nft table ", uplink.nft_table, ": ", s.ToString()));
  }
  if (manage_ip_forward_) {
    if (absl::Status s = ReleaseIpForward(IpForwardDir(options_), name_, host_netns_.get()); !s.ok()) {
      errors.push_back(absl::StrCat("release ip_forward: ", s.ToString()));
    }
  }
  return errors;
}

SealCheck SandboxNetwork::Verify(LinkDetail detail) {
  absl::StatusOr<NetlinkSocket*> socket = SandboxSocket();  // fails once removed (devices_ gone too)
  if (!socket.ok()) {
    SealCheck check;
    check.violations.push_back(absl::StrCat("cannot reach the sandbox netns: ", socket.status().ToString()));
    return check;
  }
  return CheckLoopbackOnly(**socket, *devices_, detail);
}

void SandboxNetwork::OpenDeleteSocket() {
  // Ready before the seal, so the seal spends no time on it. Without it the seal deletes inline.
  absl::StatusOr<NetlinkSocket> socket = NetlinkSocket::OpenInNetns(netns_.fd());
  if (socket.ok())
    delete_socket_ = *std::move(socket);
  else
    log::Warn("sandbox ", name_, ": ", socket.status().message());
}

void SandboxNetwork::JoinDeleteThread() {
  if (delete_thread_.joinable()) delete_thread_.join();
}

void SandboxNetwork::BeginSeal() {
  sealed_ = true;  // one-way, before anything can fail
  if (deletion_) return;
  seal_started_ = absl::Now();
  JoinDeleteThread();
  auto deletion = std::make_shared<UplinkDeletion>();
  deletion_ = deletion;
  if (!uplink_ || uplink_->mode == UplinkMode::kNone) {
    deletion->finished.store(true);
    return;
  }
  // Deleting our end takes the peer with it, in whatever netns it lives.
  std::string veth = uplink_->sandbox_veth;
  auto run = [deletion, veth](NetlinkSocket& socket) {
    deletion->status = DeleteLinkByName(socket, veth);
    deletion->finished.store(true, std::memory_order_release);
  };
  if (delete_socket_ && delete_socket_->healthy()) {
    try {
      delete_thread_ = std::thread([run, socket = std::move(*delete_socket_)]() mutable { run(socket); });
      delete_socket_.reset();
      return;
    } catch (const std::system_error& e) {
      log::Warn("sandbox ", name_, ": no thread for the uplink deletion (", e.what(), "), deleting inline");
    }
    delete_socket_.reset();
  }
  absl::StatusOr<NetlinkSocket*> socket = SandboxSocket();
  if (socket.ok()) {
    run(**socket);
  } else {
    deletion->status = socket.status();
    deletion->finished.store(true);
  }
}

SealReport SandboxNetwork::Seal() {
  BeginSeal();
  std::shared_ptr<UplinkDeletion> deletion = std::exchange(deletion_, nullptr);  // a later Seal() re-verifies
  absl::Time start = seal_started_;
  SealReport report;
  bool has_veth = uplink_ && uplink_->mode != UplinkMode::kNone;

  // Poll until loopback-only, or the deletion is over (then one last look decides). A state read
  // while the deletion is half done can only show more than loopback, never less: no false pass.
  absl::Time deadline = start + kSealVerifyTimeout;
  for (int attempt = 0; attempt < kSealVerifyMaxAttempts; ++attempt) {
    bool finished = deletion->finished.load(std::memory_order_acquire);
    report.check = Verify(LinkDetail::kNames);
    if (report.check.verified || finished || absl::Now() >= deadline) break;
    ::usleep(200);
  }
  if (!report.check.verified) report.check = Verify(LinkDetail::kDump);  // the failure, described
  report.verified = report.check.verified;
  report.to_verified = absl::Now() - start;

  if (deletion->finished.load(std::memory_order_acquire) && !deletion->status.ok() &&
      !absl::IsNotFound(deletion->status)) {
    report.errors.push_back(absl::StrCat("delete ", uplink_->sandbox_veth, ": ", deletion->status.ToString()));
  }
  // Host-side state is hygiene, not isolation: ReleaseHostState() drops it once the sandbox goes on.
  if (has_veth) host_state_ = std::exchange(uplink_, std::nullopt);
  if (report.verified) {
    log::Info("sandbox ", name_, ": sealed and verified in ", absl::FormatDuration(report.to_verified));
  } else {
    log::Error("sandbox ", name_, ": seal NOT verified: ", report.ToString());
  }
  return report;
}

std::vector<std::string> SandboxNetwork::ReleaseHostState() {
  if (!host_state_) return {};
  std::vector<std::string> errors = RemoveHostState(*host_state_);
  host_state_.reset();
  return errors;
}

absl::Status SandboxNetwork::Remove() {
  // The seal's uplink deletion may still be inside the kernel (RTM_DELLINK returns only after an
  // RCU barrier, often milliseconds after the link is gone): the thread owns its socket and state,
  // so it may finish on its own instead of holding up the task's Delete.
  if (delete_thread_.joinable()) delete_thread_.detach();
  if (removed_) return absl::OkStatus();
  sealed_ = true;
  absl::Status result;
  if (uplink_ && uplink_->mode != UplinkMode::kNone) {
    absl::StatusOr<NetlinkSocket*> socket = SandboxSocket();
    absl::Status s = socket.ok() ? DeleteLinkByName(**socket, uplink_->sandbox_veth) : socket.status();
    if (!absl::IsNotFound(s)) Keep(&result, s);
    host_state_ = std::exchange(uplink_, std::nullopt);
  }
  for (const std::string& error : ReleaseHostState()) Keep(&result, absl::InternalError(error));
  removed_ = true;
  socket_.reset();
  delete_socket_.reset();
  devices_.reset();
  Keep(&result, netns_.Delete());
  host_netns_.reset();
  return result;
}

absl::Status SandboxNetwork::CleanupNatIn(absl::string_view name, int netns_fd, const SandboxNetworkOptions& options) {
  if (absl::Status status = ValidateSandboxName(name); !status.ok()) return status;
  absl::Status result = RunNft(DeleteTableScript(NftTableName(name)), netns_fd);
  // The veth's end there normally dies with the sandbox netns, unless something still holds that.
  if (absl::StatusOr<NetlinkSocket> socket = NetlinkSocket::OpenInNetns(netns_fd); socket.ok()) {
    absl::Status s = DeleteLinkByName(*socket, VethName(name, VethSide::kHost));
    if (!absl::IsNotFound(s)) Keep(&result, s);
  } else {
    Keep(&result, socket.status());
  }
  Keep(&result, ReleaseIpForward(IpForwardDir(options), name, netns_fd));
  return result;
}

absl::Status SandboxNetwork::Cleanup(absl::string_view name, const SandboxNetworkOptions& options) {
  if (absl::Status status = ValidateSandboxName(name); !status.ok()) return status;
  absl::Status result;
  std::string path = absl::StrCat(NetnsDir(options), "/", name);

  // The sandbox end of the veth (nat or netns mode) lives in the sandbox netns: deleting it takes
  // the peer, wherever that is.
  if (absl::StatusOr<Netns> netns = Netns::Open(path); netns.ok()) {
    absl::StatusOr<NetlinkSocket> socket = NetlinkSocket::OpenInNetns(netns->fd());
    if (socket.ok()) {
      absl::Status s = DeleteLinkByName(*socket, VethName(name, VethSide::kSandbox));
      if (!absl::IsNotFound(s)) Keep(&result, s);
    } else {
      Keep(&result, socket.status());
    }
  }
  // A nat host end whose sandbox netns is already gone (normally it dies with its peer).
  if (absl::StatusOr<NetlinkSocket> host = NetlinkSocket::Open(); host.ok()) {
    absl::Status s = DeleteLinkByName(*host, VethName(name, VethSide::kHost));
    if (!absl::IsNotFound(s)) Keep(&result, s);
  } else {
    Keep(&result, host.status());
  }
  // containerd runs `delete` after every task, so the common case (no nat table) must stay cheap.
  absl::StatusOr<bool> table = NftTableExists(NftTableName(name));
  if (absl::IsUnavailable(table.status())) {
    // No libnftables: no nat uplink can have been made on this host.
    log::Warn("sandbox ", name, ": nftables cleanup skipped: ", table.status().message());
  } else if (!table.ok() || *table) {
    Keep(&result, RunNft(DeleteTableScript(NftTableName(name))));
  }
  Keep(&result, ReleaseIpForwardEverywhere(IpForwardDir(options), name));
  Keep(&result, Netns::Remove(name, NetnsDir(options)));
  return result;
}

}  // namespace airlock::net
