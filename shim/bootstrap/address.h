// Where the shim listens and what `start` prints for containerd.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace airlock::bootstrap {

// Directory of the shims' sockets. Our own, not containerd's /run/containerd/s: containerd only
// needs the address `start` prints (and the bundle's `address` file after a restart).
inline constexpr absl::string_view kSocketDir = "/run/airlock/s";

// unix:///run/airlock/s/<sha256(containerd address/namespace/group)>, like containerd's runc shim,
// so containers of one group (a Kubernetes pod) find the same shim. Short enough for sun_path.
std::string SocketAddress(absl::string_view containerd_address, absl::string_view ns, absl::string_view group);

// "unix:///path" -> "/path" (containerd's addresses also name abstract sockets without the prefix).
std::string SocketPath(absl::string_view address);

enum class Protocol { kAuto, kTtrpc, kGrpc };
absl::StatusOr<Protocol> ParseProtocol(absl::string_view text);  // "", "auto", "ttrpc", "grpc"

// What `start` prints. Facts (containerd sources): 1.6 reads a plain address only (ttrpc). 1.7 and
// 2.x also read the JSON bootstrap {"version":N,"address":PATH,"protocol":"grpc"}; 1.7 accepts
// N <= 2, 2.0-2.2 need N = 3 for gRPC; both dial a bare path. All of 1.7 and 2.x set
// MAX_SHIM_VERSION=2, so the version cannot tell 1.7 from 2.x:
// - auto: a plain ttrpc address (every containerd speaks it; the cheap path), JSON gRPC at version
//   3 only if containerd ever advertises MAX_SHIM_VERSION >= 3;
// - grpc: JSON at `grpc_version` (3 for containerd 2.x, 2 for 1.7), when containerd advertises a
//   version at all; 1.6 (none) gets the plain address;
// - ttrpc: always the plain address.
// The bundle's `address` file gets the plain address, or the JSON of version 2 (containerd 1.7
// reads it back after a restart as it reads this output; 2.x keeps its own bootstrap.json).
std::string BootstrapOutput(Protocol protocol, std::optional<int> max_shim_version, absl::string_view address,
                            int grpc_version = 3);

// MAX_SHIM_VERSION as containerd sets it; nullopt when unset or not a number.
std::optional<int> ParseMaxShimVersion(const char* value);

}  // namespace airlock::bootstrap
