// A policy as JSON in policy-file form (same keys and spellings): for the bundle's record of the
// effective policy, audit records and `airlock status`. JSON is YAML, so ParsePolicy reads it back.
#pragma once

#include <nlohmann/json.hpp>

#include "policy/model.h"

namespace airlock::policy {

nlohmann::json PolicyToJson(const Policy& policy);

}  // namespace airlock::policy
