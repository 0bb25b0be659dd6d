#include "shim/bootstrap/address.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "shim/base/sha256.h"

namespace airlock::bootstrap {

std::string SocketAddress(absl::string_view containerd_address, absl::string_view ns, absl::string_view group) {
  // filepath.Join(address, ns, id) as containerd hashes it.
  std::string joined = absl::StrCat(containerd_address, "/", ns, "/", group);
  return absl::StrCat("unix://", kSocketDir, "/", Sha256Hex(joined));
}

std::string SocketPath(absl::string_view address) {
  if (absl::ConsumePrefix(&address, "unix://")) return std::string(address);
  return absl::StrCat(std::string(1, '\0'), address);
}

absl::StatusOr<Protocol> ParseProtocol(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower.empty() || lower == "auto") return Protocol::kAuto;
  if (lower == "ttrpc") return Protocol::kTtrpc;
  if (lower == "grpc") return Protocol::kGrpc;
  return absl::InvalidArgumentError(absl::StrCat("unknown shim protocol \"", text, "\" (want auto, ttrpc or grpc)"));
}

std::string BootstrapOutput(Protocol protocol, std::optional<int> max_shim_version, absl::string_view address,
                            int grpc_version) {
  int version = 0;
  if (max_shim_version.has_value()) {
    if (protocol == Protocol::kGrpc) version = grpc_version;
    if (protocol == Protocol::kAuto && *max_shim_version >= 3) version = 3;
  }
  if (version < 2) return std::string(address);
  // containerd dials the JSON address as a bare path. The path is ours (hex digest under a fixed
  // dir): nothing to escape.
  std::string path = SocketPath(address);
  return absl::StrCat("{\"version\":", version, ",\"address\":\"", path, "\",\"protocol\":\"grpc\"}");
}

std::optional<int> ParseMaxShimVersion(const char* value) {
  int version = 0;
  if (value == nullptr || !absl::SimpleAtoi(value, &version)) return std::nullopt;
  return version;
}

}  // namespace airlock::bootstrap
