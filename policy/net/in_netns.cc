#include "policy/net/in_netns.h"

#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>

#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"

namespace airlock::net {

absl::Status RunInNetns(int netns_fd, absl::FunctionRef<absl::Status()> fn) {
  absl::Status status;
  try {
    std::thread worker([&] {
      if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) {
        status = ErrnoStatus("setns(CLONE_NEWNET)");
        return;
      }
      status = fn();
    });
    worker.join();
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot start a thread: ", e.what()));
  }
  return status;
}

bool IsNetnsFd(int fd) { return ::ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET; }

}  // namespace airlock::net
