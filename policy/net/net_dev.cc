#include "policy/net/net_dev.h"

#include <fcntl.h>
#include <linux/if.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "policy/net/in_netns.h"
#include "shim/base/errno_status.h"

namespace airlock::net {

absl::StatusOr<NetDevList> NetDevList::OpenHere() {
  // thread-self: this thread's netns; /proc/self/net is the process leader's.
  UniqueFd fd(::open("/proc/thread-self/net/dev", O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("open /proc/thread-self/net/dev");
  return NetDevList(std::move(fd));
}

absl::StatusOr<NetDevList> NetDevList::OpenIn(int netns_fd) {
  return MakeInNetns<NetDevList>(netns_fd, [] { return OpenHere(); });
}

absl::StatusOr<std::vector<std::string>> NetDevList::Read() const {
  // Each read from offset 0 walks the device list afresh.
  std::string text;
  char buf[4096];
  for (off_t offset = 0;;) {
    ssize_t n = ::pread(fd_.get(), buf, sizeof buf, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read /proc/net/dev");
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    offset += n;
    if (text.size() > (1u << 20)) return absl::ResourceExhaustedError("/proc/net/dev larger than 1 MiB");
  }
  return ParseNetDevNames(text);
}

absl::StatusOr<std::vector<std::string>> ParseNetDevNames(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.size() < 2 || !absl::StrContains(lines[0], "Inter-") || !absl::StrContains(lines[1], "face")) {
    return absl::DataLossError("/proc/net/dev: unexpected header");
  }
  std::vector<std::string> names;
  for (size_t i = 2; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    absl::string_view name =
        colon == absl::string_view::npos ? "" : absl::StripAsciiWhitespace(lines[i].substr(0, colon));
    if (name.empty() || name.size() >= IFNAMSIZ) {
      return absl::DataLossError(absl::StrCat("/proc/net/dev: unexpected line '", lines[i].substr(0, 64), "'"));
    }
    names.emplace_back(name);
  }
  return names;
}

}  // namespace airlock::net
