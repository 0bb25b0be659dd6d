// errno -> absl::Status, with the code containerd's errdefs would pick.
#pragma once

#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace airlock {

// Builds a status "what: strerror(err)" whose code follows errno (ENOENT -> NotFound, ...).
absl::Status ErrnoStatus(int err, absl::string_view what);

// Same, reading errno.
absl::Status ErrnoStatus(absl::string_view what);

}  // namespace airlock
