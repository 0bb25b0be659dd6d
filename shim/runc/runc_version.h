// Which runc the shim drives, as far as starting through the exec fifo goes (exec_fifo.h): the
// shortcut copies what `runc start` does in runc 1.0 to 1.4, so any other version (or a binary that
// does not say) keeps `runc start`.
#pragma once

#include <optional>
#include <string>
#include "absl/strings/string_view.h"

namespace airlock::runc {

struct RuncVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
};

// From `runc --version` output ("runc version 1.1.5+ds1\ncommit: ...").
std::optional<RuncVersion> ParseRuncVersion(absl::string_view text);

bool ExecFifoStartMatches(const RuncVersion& version);

// Asks `binary --version` once per host and binary: the answer is kept in `cache_dir` under the
// binary's path, inode, size and mtime (a replaced runc is asked again). False when it cannot tell.
bool ExecFifoStartSupported(const std::string& binary, const std::string& cache_dir);

}  // namespace airlock::runc
