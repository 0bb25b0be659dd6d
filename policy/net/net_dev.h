// The names of a netns's network devices, read from its /proc/net/dev. The kernel walks that list
// under RCU, without the rtnl lock an RTM_GETLINK dump takes: the seal polls it while other
// sandboxes on the host create netns and veths (which queue on rtnl for tens of milliseconds).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "shim/base/unique_fd.h"

namespace airlock::net {

class NetDevList {
 public:
  // Opens /proc/net/dev as seen from inside `netns_fd` (on a short-lived thread that joins it). The
  // open file stays bound to that netns, so every later Read() lists its devices.
  static absl::StatusOr<NetDevList> OpenIn(int netns_fd);
  // The same for the calling thread's netns (for code already running inside one).
  static absl::StatusOr<NetDevList> OpenHere();

  // The device names, in the kernel's order.
  absl::StatusOr<std::vector<std::string>> Read() const;

 private:
  explicit NetDevList(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// Parses /proc/net/dev text: two header lines, then "<name>: <counters>" per device. Strict: a line
// without a name and a colon is an error, not a device to skip.
absl::StatusOr<std::vector<std::string>> ParseNetDevNames(absl::string_view text);

}  // namespace airlock::net
