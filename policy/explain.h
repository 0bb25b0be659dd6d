// `airlock policy explain`: what a container under a policy can and cannot do, phase by phase, in
// plain words.
#pragma once

#include <string>

#include "policy/model.h"

namespace airlock::policy {

// Several lines ending in "\n": workspace, "During setup:", "The seal:", "After the seal:", warnings.
std::string ExplainPolicy(const Policy& policy);

}  // namespace airlock::policy
