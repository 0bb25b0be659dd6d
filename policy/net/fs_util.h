// Small file-system helpers of the sandbox network's run directory.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shim/base/files.h"  // MakeDirs, next to the lock its callers take
#include "shim/base/unique_fd.h"

namespace airlock::net {

// An exclusive flock on `path` (created 0600), waited for at most `timeout`; closing the fd
// releases it. Serialises work across shim processes.
absl::StatusOr<UniqueFd> LockFile(const std::string& path, absl::Duration timeout = absl::Seconds(10));

}  // namespace airlock::net
