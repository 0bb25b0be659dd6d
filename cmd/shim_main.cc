// containerd-shim-airlock-v2: containerd's runtime v2 shim for io.containerd.airlock.v2: the shim
// core with the airlock wired in.
#include "cmd/shim_extensions.h"
#include "shim/bootstrap/actions.h"

int main(int argc, char** argv) { return airlock::bootstrap::Main(argc, argv, airlock::AirlockShimExtensions()); }
