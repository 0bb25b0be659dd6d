// Reading what the shim hands the helper (policy/sandbox/init_payload_format.h): its config and
// the two seccomp programs (execution, setup), from one sealed memfd.
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

#include "cmd/airlock-init/init_config.h"

namespace airlock::init {

struct Airlock {
  InitConfig config;
  std::vector<sock_filter> filter;        // the execution filter
  std::vector<sock_filter> setup_filter;  // the setup command's; empty when the config has no setup
};

// Reads and checks the payload on `fd` and closes it (nothing the helper execs inherits it). Only a
// sealed memfd is taken: a file anybody could still change is not the shim's. On failure returns
// false with a one-line reason in `error`.
bool ReadInitPayload(int fd, Airlock* out, std::string* error);

}  // namespace airlock::init
