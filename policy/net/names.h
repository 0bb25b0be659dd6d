// Deterministic names of everything a sandbox owns on the host, derived from the sandbox name alone,
// so that cleanup after a crash needs nothing but that name.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace airlock::net {

// Sandbox names: 1..128 of [A-Za-z0-9_.-], starting with a letter or digit (containerd ids fit).
// They become a file name, an nftables table name and a hash input.
absl::Status ValidateSandboxName(absl::string_view name);

// The sandbox name of a container: "s" + 16 hex digits of SHA-256("<namespace>/<id>"). From
// namespace and id alone, so `delete` after a crash (and `airlock run`'s leftover check) find the
// sandbox's host objects again.
std::string SandboxName(absl::string_view ns, absl::string_view id);

// Which end of the uplink veth.
enum class VethSide : char {
  kSandbox = 's',   // inside the sandbox netns
  kHost = 'h',      // nat mode: in the host netns
  kUpstream = 'u',  // netns mode: in the upstream netns
};

// "al" + 12 hex digits of SHA-256(sandbox name) + side letter: 15 characters (IFNAMSIZ - 1).
// 48 bits of hash make a collision between two live sandboxes negligible.
std::string VethName(absl::string_view sandbox, VethSide side);

// "airlock-<sandbox name>", the nftables table (family ip) of a nat sandbox.
std::string NftTableName(absl::string_view sandbox);

}  // namespace airlock::net
