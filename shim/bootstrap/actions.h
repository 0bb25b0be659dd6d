// The shim's command-line actions: `start` (daemonise the server, print its address), `delete`
// (clean up after a dead shim), `-v` and `-info`.
#pragma once

#include "shim/bootstrap/extensions.h"
#include "shim/bootstrap/flags.h"

namespace airlock::bootstrap {

inline constexpr char kRuntimeName[] = "io.containerd.airlock.v2";

// Entry point of containerd-shim-airlock-v2, with what its main adds. Returns the exit code.
int Main(int argc, char** argv, const Extensions& extensions);

int RunStart(const Flags& flags, const Extensions& extensions);
int RunDelete(const Flags& flags, const Extensions& extensions);
int PrintVersion(const char* argv0);
int PrintInfo(const Extensions& extensions);

}  // namespace airlock::bootstrap
