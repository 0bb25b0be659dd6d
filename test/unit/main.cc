// Catch2 main. SIGCHLD is blocked before any test starts a thread, as the shim's main() does, so
// the reaper's signalfd sees every child exit.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "shim/reaper/reaper.h"

int main(int argc, char* argv[]) {
  if (!airlock::Reaper::BlockSigchld().ok()) return 1;
  return Catch::Session().run(argc, argv);
}
