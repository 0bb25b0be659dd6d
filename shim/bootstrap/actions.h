// The shim's command-line actions: `start` (daemonise the server, print its address), `delete`
// (clean up after a dead shim), `-v` and `-info`.
#pragma once

#include "shim/bootstrap/flags.h"

namespace airlock::bootstrap {

inline constexpr char kRuntimeName[] = "io.containerd.airlock.v2";

// Entry point of containerd-shim-airlock-v2. Returns the process exit code.
int Main(int argc, char** argv);

int RunStart(const Flags& flags);
int RunDelete(const Flags& flags);
int PrintVersion(const char* argv0);
int PrintInfo();

}  // namespace airlock::bootstrap
