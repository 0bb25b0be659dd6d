#include "policy/model.h"

#include "absl/strings/str_cat.h"

namespace airlock::policy {

const std::vector<std::string>& DefaultCapabilities() {
  static const std::vector<std::string>* const kCaps = new std::vector<std::string>{
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER",           "CAP_FSETID",      "CAP_KILL",        "CAP_SETGID",
      "CAP_SETUID", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_MKNOD"};
  return *kCaps;
}

Policy StrictestDefaultPolicy() { return Policy{}; }

HostConfig DefaultHostConfig() { return HostConfig{}; }

std::string ToString(const Ipv4Cidr& cidr) {
  uint32_t a = cidr.address;
  return absl::StrCat(a >> 24, ".", (a >> 16) & 255, ".", (a >> 8) & 255, ".", a & 255, "/", cidr.prefix_length);
}

absl::string_view ToString(PolicyMode mode) {
  return mode == PolicyMode::kPassthrough ? "passthrough" : "airlock";
}

absl::string_view ToString(RootfsMode mode) { return mode == RootfsMode::kWritable ? "writable" : "readonly"; }

absl::string_view ToString(OtherBinds mode) { return mode == OtherBinds::kReadonly ? "readonly" : "reject"; }

absl::string_view ToString(ExecutionNetwork mode) { return mode == ExecutionNetwork::kProxy ? "proxy" : "deny"; }

absl::string_view ToString(ProxyPreset preset) {
  switch (preset) {
    case ProxyPreset::kCommonDependencies:
      return "common-dependencies";
    case ProxyPreset::kAll:
      return "all";
    case ProxyPreset::kNone:
      break;
  }
  return "none";
}

bool UsesProxy(const Network& network) {
  return network.execution == ExecutionNetwork::kProxy || network.setup.uplink.kind == UplinkKind::kProxy;
}

absl::string_view ToString(SeccompMode) { return "strict"; }
absl::string_view ToString(SetupSeccompMode mode) {
  return mode == SetupSeccompMode::kAllowMount ? "allow-mount" : "strict";
}

absl::string_view ToString(LeftoverSecrets mode) { return mode == LeftoverSecrets::kScrub ? "scrub" : "fail"; }

absl::string_view ToString(bootstrap::Protocol protocol) {
  switch (protocol) {
    case bootstrap::Protocol::kTtrpc:
      return "ttrpc";
    case bootstrap::Protocol::kGrpc:
      return "grpc";
    case bootstrap::Protocol::kAuto:
      break;
  }
  return "auto";
}

std::string ToString(const Uplink& uplink) {
  switch (uplink.kind) {
    case UplinkKind::kNat:
      return "nat";
    case UplinkKind::kNetns:
      return absl::StrCat("netns:", uplink.netns_path);
    case UplinkKind::kPod:
      return "pod";
    case UplinkKind::kProxy:
      return "proxy";
    case UplinkKind::kNone:
      break;
  }
  return "none";
}

}  // namespace airlock::policy
