// The host config (/etc/airlock/config.yaml): strict YAML -> HostConfig, errors as in parse.h.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policy/model.h"

namespace airlock::policy {

absl::StatusOr<HostConfig> ParseHostConfig(absl::string_view yaml, absl::string_view file_name);

// "198.18.0.0/16": dotted quad, prefix 1..32, host bits zero (nat.pool takes 1..30: it holds /30s).
absl::StatusOr<Ipv4Cidr> ParseIpv4Cidr(absl::string_view text);

}  // namespace airlock::policy
