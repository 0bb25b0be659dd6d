// What the task service needs to know from the OCI spec runc will run (the bundle's config.json,
// after a sandbox's rewrite).
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace airlock::task {

struct SpecFacts {
  // As containerd's runc shim: without a private pid namespace the init's exit does not take the
  // other processes down, so the shim kills them.
  bool kill_all_on_exit = true;
  // Newer runtimes run these in `start` (runc >= 1.5, crun): such a container is started by the
  // runtime's own `start`, not through its exec fifo.
  bool poststart_hooks = true;
};

// The spec's linux.namespaces entry of `type` (the first), or nullptr: none, or a malformed list.
const nlohmann::json* SpecNamespace(const nlohmann::json& spec, const std::string& type);

// An unreadable spec gets the careful answers; runc will say what is wrong with it.
SpecFacts SpecFactsOf(const nlohmann::json& spec);
SpecFacts ReadSpecFacts(const std::string& bundle);

}  // namespace airlock::task
