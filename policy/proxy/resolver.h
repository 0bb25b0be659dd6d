// Name resolution for the proxy: the sandbox has no DNS, the proxy resolves on the host. Either
// the system resolver (getaddrinfo: blocking, so off the reactor thread) or one hosts(5) file the
// host config names (read once when the sandbox is made: a test's names, an air-gapped node).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/proxy/address_guard.h"

namespace airlock::proxy {

// At most this many addresses of one name are tried.
inline constexpr size_t kMaxAddresses = 16;

class Resolver {
 public:
  virtual ~Resolver() = default;
  // The addresses of canonical `host` with `port`; NotFound when it has none.
  virtual absl::StatusOr<std::vector<Endpoint>> Resolve(const std::string& host, uint16_t port) const = 0;
  // True when Resolve answers from memory (callable on the reactor thread).
  virtual bool Immediate() const = 0;
};

// Reads `path` (at most 1 MiB): "address name [alias...]" lines, '#' comments. Names are matched in
// canonical form; a line that does not parse is an error naming it.
absl::StatusOr<std::unique_ptr<Resolver>> HostsFileResolver(const std::string& path);

// getaddrinfo() of this process (the host's resolv.conf and nsswitch).
std::unique_ptr<Resolver> SystemResolver();

}  // namespace airlock::proxy
