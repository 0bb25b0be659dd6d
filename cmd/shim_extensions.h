// The airlock wired into the shim core (shim/ knows nothing of policy/): the host config's runtime
// and protocol settings, a sandbox per container with the airlock.v1.Control service, and the
// sandbox's cleanup after a dead shim.
#pragma once

#include "shim/bootstrap/extensions.h"

namespace airlock {

bootstrap::Extensions AirlockShimExtensions();

}  // namespace airlock
