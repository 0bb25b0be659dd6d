#include "policy/sandbox/uts_hostname.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/utsname.h>

#include <cerrno>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"
#include "shim/base/unique_fd.h"

namespace airlock::sandbox {

absl::StatusOr<std::string> HostnameOfUtsNamespace(const std::string& ns_path) {
  UniqueFd ns(open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return ErrnoStatus(absl::StrCat("open the UTS namespace ", ns_path));
  int err = 0;
  std::string name;
  try {
    std::thread reader([&] {
      struct utsname uts {};
      if (setns(ns.get(), CLONE_NEWUTS) != 0) {
        err = errno;
        return;
      }
      if (uname(&uts) != 0) {
        err = errno;
        return;
      }
      name = uts.nodename;
    });
    reader.join();
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat("read the hostname of ", ns_path, ": no thread: ", e.what()));
  }
  if (err != 0) return ErrnoStatus(err, absl::StrCat("read the hostname of ", ns_path));
  return name;
}

}  // namespace airlock::sandbox
