// The seal's secret sweep: before the entrypoint starts, every place the setup phase could write
// is searched for the values of the secrets setup was given (raw and the encodings secret_scan.h
// knows), so a careless `npm config set` (a token in ~/.npmrc) or a hostile setup script cannot
// hand a secret to the agent through a file. Places: the rootfs' changes (the overlay's upper
// layer) when setup may write the rootfs, the workspace (files changed since the sandbox was made)
// and the tmpfs mounts the policy names. Writable tmpfs and mqueue mounts the policy does not name
// (/dev/shm, /run, /dev/mqueue, ...) are emptied instead; /dev (runc's device tmpfs) is searched.
//
// Everything below a place was written by setup: names are bytes (never followed: openat2 beneath
// the place, no symlinks, no other mounts), only regular files are read, and the walk is bounded
// in entries and bytes (past a bound the sweep fails: nothing is ever searched only in part).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "policy/sandbox/secret_scan.h"
#include "shim/base/unique_fd.h"

namespace airlock::sandbox {

struct SweepPlace {
  enum class Action { kSearch, kEmpty };
  std::string label;  // "rootfs", "workspace /workspace", "tmpfs /tmp", "tmpfs /dev/shm (not in the policy)"
  UniqueFd dir;       // the place's top directory; the walk never leaves its mount
  Action action = Action::kSearch;
  // Only files whose status changed at or after this time are read (the workspace: what was
  // there before the sandbox existed is the repository, not setup's). ctime cannot be set back
  // from inside the sandbox.
  std::optional<absl::Time> changed_since;
  // Scrub: where a found file is removed, the same relative path beneath this directory (the
  // rootfs: found in the upper layer, removed through the container's view so overlayfs leaves a
  // whiteout). -1: beneath `dir`.
  int remove_root = -1;
};

struct SweepLimits {
  uint64_t max_entries = 2'000'000;        // directory entries visited, all places together
  uint64_t max_bytes = uint64_t{16} << 30;  // file bytes read, all places together
};

struct SweepResult {
  // "<label>: <path> holds <SECRET>[ (<encoding>)]", the path quoted for a terminal; never a value.
  std::vector<std::string> found;
  std::vector<std::string> removed;  // scrub: "<label>: <path>"
  std::vector<std::string> emptied;  // "<label> (<n> entries)"
  uint64_t files_read = 0;
  uint64_t bytes_read = 0;
  uint64_t entries = 0;
};

// Searches (and empties) `places`. `scrub`: a file holding a value is removed (through
// `remove_root`) and listed in `removed`; otherwise it is only listed in `found`. An error means
// the sweep could not finish (a bound passed, an unreadable directory, a removal that failed):
// the seal must fail closed.
absl::StatusOr<SweepResult> SweepForSecrets(std::vector<SweepPlace>& places, const std::vector<Secret>& secrets,
                                            bool scrub, const SweepLimits& limits = {});

// The places of a container whose init is `init` (its mountinfo; `container_root` is its
// /proc/PID/root, which must stay open while the places are used): the rootfs
// (`rootfs_upper`, the overlay's upper directory on the host, when setup may write the rootfs; ""
// means none is known, and then the whole root mount is searched for files changed since
// `created`), the workspace at `workspace_target` ("" for none; files changed since `created`),
// and the writable tmpfs/mqueue mounts (`named_tmpfs`: searched, others emptied, /dev searched).
absl::StatusOr<std::vector<SweepPlace>> ContainerSweepPlaces(pid_t init, bool rootfs_writable,
                                                             const std::string& rootfs_upper,
                                                             const std::string& workspace_target,
                                                             const std::vector<std::string>& named_tmpfs,
                                                             absl::Time created, int container_root);

}  // namespace airlock::sandbox
