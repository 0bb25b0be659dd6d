#include "policy/net/listener_check.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace airlock::net {
namespace {

constexpr absl::string_view kListenState = "0A";
constexpr int kMaxLines = 100000;  // a netns with more sockets than this is not read to the end

struct Listener {
  std::string local;  // hex "ADDR:PORT" as the kernel prints it
  ino_t inode = 0;
};

// The LISTEN sockets on `port` in one /proc/net/tcp{,6} table; false when it cannot be read.
bool ReadListeners(const std::string& path, uint16_t port, std::vector<Listener>& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  std::getline(in, line);  // header
  for (int n = 0; n < kMaxLines && std::getline(in, line); ++n) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 10 || f[3] != kListenState) continue;
    size_t colon = f[1].rfind(':');
    uint32_t local_port = 0;
    if (colon == absl::string_view::npos || !absl::SimpleHexAtoi(f[1].substr(colon + 1), &local_port)) continue;
    if (local_port != port) continue;
    uint64_t inode = 0;
    if (!absl::SimpleAtoi(f[9], &inode)) continue;
    out.push_back({std::string(f[1]), static_cast<ino_t>(inode)});
  }
  return true;
}

}  // namespace

ListenerCheck CheckOnlyListener(pid_t pid, uint16_t port, ino_t inode) {
  std::vector<Listener> listeners;
  for (const char* table : {"tcp", "tcp6"}) {
    std::string path = absl::StrCat("/proc/", pid, "/net/", table);
    if (!ReadListeners(path, port, listeners)) {
      return {false, absl::StrCat("proxy listener: cannot read ", path)};
    }
  }
  bool ours = false;
  std::vector<std::string> others;
  for (const Listener& l : listeners) {
    if (l.inode == inode) {
      ours = true;
    } else {
      others.push_back(absl::StrCat(l.local, " (socket inode ", l.inode, ")"));
    }
  }
  if (!others.empty()) {
    return {false, absl::StrCat("proxy listener: another socket listens on port ", port, ": ",
                                absl::StrJoin(others, ", "))};
  }
  if (!ours) return {false, absl::StrCat("proxy listener: the shim's socket (inode ", inode, ") is not listening")};
  return {true, absl::StrCat("proxy 127.0.0.1:", port, " listening, the shim's socket (inode ", inode, ")")};
}

}  // namespace airlock::net
