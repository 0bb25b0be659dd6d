// The long-lived shim server, in the process `start` forked: one socket serving ttrpc (and gRPC
// for connections that open with the HTTP/2 preface), the task service, the reaper and the event
// publisher, until containerd shuts it down.
#pragma once

#include <string>

#include "shim/base/unique_fd.h"
#include "shim/bootstrap/extensions.h"
#include "shim/bootstrap/flags.h"

namespace airlock::bootstrap {

// What the server tells `start` through the ready pipe once it serves: one byte, then for
// kReadyWithoutGrpc the reason (at most PIPE_BUF bytes in all: one atomic write).
inline constexpr char kReady = 1;
inline constexpr char kReadyWithoutGrpc = 2;  // serving ttrpc; the gRPC module could not be loaded

// Never returns. `load_grpc`: `start` means to announce gRPC, so the transport module is loaded
// before the server says it is ready (containerd would otherwise wait for a protocol that is not
// there).
[[noreturn]] void ServerMain(const Flags& flags, const Extensions& extensions, const std::string& address,
                             UniqueFd listener, UniqueFd ready, bool load_grpc);

}  // namespace airlock::bootstrap
