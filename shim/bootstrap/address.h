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

// What `start` prints. containerd 1.6 understands only a plain address (ttrpc). containerd
// advertising shim API versions (MAX_SHIM_VERSION, 1.7+) also accepts the JSON bootstrap
// {"version":N,"address":...,"protocol":"grpc"}: chosen when it advertises version 3 (2.x) under
// `auto`, or whenever the protocol option asks for gRPC.
std::string BootstrapOutput(Protocol protocol, std::optional<int> max_shim_version, absl::string_view address);

// MAX_SHIM_VERSION as containerd sets it; nullopt when unset or not a number.
std::optional<int> ParseMaxShimVersion(const char* value);

}  // namespace airlock::bootstrap
