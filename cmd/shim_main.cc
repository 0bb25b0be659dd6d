// containerd-shim-airlock-v2: containerd's runtime v2 shim for io.containerd.airlock.v2.
#include "shim/bootstrap/actions.h"

int main(int argc, char** argv) { return airlock::bootstrap::Main(argc, argv); }
