// The long-lived shim server, in the process `start` forked: one socket serving ttrpc (and gRPC
// for connections that open with the HTTP/2 preface), the task service, the reaper and the event
// publisher, until containerd shuts it down.
#pragma once

#include <string>

#include "shim/base/unique_fd.h"
#include "shim/bootstrap/flags.h"

namespace airlock::bootstrap {

// Never returns. Writes one byte to `ready` once it serves.
[[noreturn]] void ServerMain(const Flags& flags, const std::string& address, UniqueFd listener, UniqueFd ready);

}  // namespace airlock::bootstrap
