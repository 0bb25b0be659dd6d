// The seal's check of the proxy listener: inside the sandbox's network namespace, the TCP sockets
// listening on the proxy's port are exactly the shim's one (by socket inode). A sandbox process
// listening there too (on another address, or over IPv6) could answer the agent in the proxy's
// name; the seal fails then.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace airlock::net {

struct ListenerCheck {
  bool verified = false;
  std::string finding;  // what was found, for the seal's findings (a violation when not verified)
};

// Reads /proc/<pid>/net/tcp and tcp6 (the netns `pid` is in) for sockets in LISTEN on `port`.
ListenerCheck CheckOnlyListener(pid_t pid, uint16_t port, ino_t inode);

}  // namespace airlock::net
