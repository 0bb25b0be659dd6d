#include "cmd/airlock/run/leftovers.h"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cmd/airlock/containerd/services.h"
#include "policy/net/names.h"
#include "shim/base/mountinfo.h"
#include "shim/base/subprocess.h"

namespace airlock::run {
namespace {

constexpr int kMaxProcs = 100000;

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

// 0 for a process that does not exist or is a zombie (it has exited; only its parent's wait is
// missing).
unsigned long long StartTime(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return 0;
  std::vector<std::string> fields = absl::StrSplit(text.substr(close + 2), ' ');
  if (!fields.empty() && (fields[0] == "Z" || fields[0] == "X")) return 0;
  unsigned long long start = 0;
  // field 22 overall = index 19 after "pid (comm) "
  if (fields.size() > 19 && absl::SimpleAtoi(fields[19], &start)) return start;
  return 0;
}

bool Alive(const PinnedPid& p) { return p.pid > 0 && StartTime(p.pid) == p.start_time && p.start_time != 0; }

// Processes whose network namespace is `inode`.
std::vector<int> HoldersOfNetns(unsigned long inode) {
  std::vector<int> holders;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return holders;
  for (int i = 0; i < kMaxProcs; ++i) {
    dirent* e = readdir(proc);
    if (e == nullptr) break;
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    struct stat st {};
    if (stat(absl::StrCat("/proc/", pid, "/ns/net").c_str(), &st) == 0 && st.st_ino == inode) holders.push_back(pid);
  }
  closedir(proc);
  return holders;
}

// A mountinfo line of one of airlock run's own workspace tmpfs mounts at one of `mount_points`.
bool IsOwnTmpfs(const std::string& line, const std::vector<std::string>& mount_points) {
  std::optional<MountInfo> m = ParseMountinfoLine(line);
  return m && ((m->fs_type == "tmpfs" && m->source == kWorkspaceTmpfsSource) ||
                (m->fs_type == "overlay" && m->source == kWorkspaceOverlaySource)) &&
         std::find(mount_points.begin(), mount_points.end(), m->mount_point) != mount_points.end();
}

std::vector<std::string> MountLinesWith(const std::vector<std::string>& needles, const std::vector<std::string>& own_tmpfs) {
  std::vector<std::string> found;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  for (int i = 0; i < kMaxProcs && std::getline(in, line); ++i) {
    if (IsOwnTmpfs(line, own_tmpfs)) continue;
    for (const std::string& needle : needles) {
      if (!needle.empty() && absl::StrContains(line, needle)) {
        found.push_back(line.substr(0, 300));
        break;
      }
    }
  }
  return found;
}

// True when a link `name` exists in the netns at `netns_path` (checked in a forked child).
bool LinkInNetns(const std::string& netns_path, const std::string& name) {
  absl::StatusOr<int> code = RunInForkedChild([&]() -> int {
    int fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) return 2;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return 2;
    ifreq req {};
    std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
    return ioctl(s, SIOCGIFINDEX, &req) == 0 ? 0 : 1;
  }, absl::Seconds(10));
  return code.ok() && *code == 0;
}

std::vector<std::string> NftTables() {
  std::vector<std::string> tables;
  SpawnOptions options{.argv = {"nft", "list", "tables"}, .capture_stdout = true};
  absl::StatusOr<ChildResult> r = Run(options, absl::Seconds(10));
  if (!r.ok() || r->exit.status != 0) return tables;
  for (absl::string_view line : absl::StrSplit(r->out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() == 3 && f[0] == "table") tables.push_back(f[2]);
  }
  return tables;
}

}  // namespace

PinnedPid Pin(int pid, const std::string& what) { return PinnedPid{pid, StartTime(pid), what}; }

std::vector<std::string> CgroupDirsOf(int pid) {
  std::vector<std::string> dirs;
  std::ifstream in(absl::StrCat("/proc/", pid, "/cgroup"));
  std::string line;
  for (int i = 0; i < 64 && std::getline(in, line); ++i) {
    // "0::/ns/id" (v2) or "4:memory:/ns/id" (v1)
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3 || f[2] == "/" || f[2].empty()) continue;
    if (f[1].empty()) {
      dirs.push_back("/sys/fs/cgroup" + f[2]);
    } else {
      std::string controller = f[1];
      if (absl::StartsWith(controller, "name=")) controller = controller.substr(5);
      std::string dir = absl::StrCat("/sys/fs/cgroup/", controller, f[2]);
      if (Exists(dir)) dirs.push_back(dir);
    }
  }
  return dirs;
}

unsigned long NetnsInodeOf(int pid) {
  struct stat st {};
  return stat(absl::StrCat("/proc/", pid, "/ns/net").c_str(), &st) == 0 ? st.st_ino : 0;
}

std::vector<std::string> FindLeftovers(containerd::Connection& c, const SandboxTraces& t) {
  std::vector<std::string> left;
  if (containerd::GetTask(c, t.id, {.timeout = absl::Seconds(10), .uncancellable = true}).ok()) left.push_back("task still listed by containerd");
  if (containerd::GetContainer(c, t.id).ok()) left.push_back("container still listed by containerd");
  if (!t.snapshot_key.empty() && containerd::StatSnapshot(c, t.snapshotter, t.snapshot_key).ok()) {
    left.push_back(absl::StrCat("snapshot ", t.snapshot_key, " (", t.snapshotter, ") still exists"));
  }
  if (!t.lease.empty()) {
    absl::StatusOr<bool> lease = containerd::LeaseExists(c, t.lease);
    if (lease.ok() && *lease) left.push_back(absl::StrCat("lease ", t.lease, " still exists"));
  }
  for (const PinnedPid& p : t.pids) {
    if (Alive(p)) left.push_back(absl::StrCat(p.what, " (pid ", p.pid, ") still running"));
  }
  if (t.netns_inode != 0) {
    std::vector<int> holders = HoldersOfNetns(t.netns_inode);
    if (!holders.empty()) left.push_back(absl::StrCat("sandbox netns still held by pid ", holders.front()));
  }
  for (const std::string& dir : t.cgroups) {
    if (Exists(dir)) left.push_back("cgroup " + dir);
  }
  std::vector<std::string> paths = t.paths;
  paths.push_back(t.record_path);
  if (!t.shim_socket.empty()) paths.push_back(t.shim_socket);
  if (!t.bundle.empty()) paths.push_back(t.bundle);
  // runc's state as the shim kept it before containerd's layout (the new place is in t.paths).
  paths.push_back(absl::StrCat(t.run_dir, "/runc/", t.name_space, "/", t.id));
  paths.push_back(absl::StrCat(t.run_dir, "/netns/", t.sandbox_name));
  paths.push_back(absl::StrCat(t.run_dir, "/ipforward/", t.sandbox_name));
  paths.push_back(absl::StrCat(t.run_dir, "/workspaces/", t.sandbox_name));
  for (const std::string& path : paths) {
    if (!path.empty() && Exists(path)) left.push_back("path " + path);
  }
  std::vector<std::string> needles = {t.id, t.sandbox_name};
  if (t.netns_inode != 0) needles.push_back(absl::StrCat("net:[", t.netns_inode, "]"));
  if (!t.bundle.empty()) needles.push_back(t.bundle);
  for (const std::string& line : MountLinesWith(needles, t.own_tmpfs_mounts)) left.push_back("mount " + line);
  std::string host_veth = net::VethName(t.sandbox_name, net::VethSide::kHost);
  if (Exists("/sys/class/net/" + host_veth)) left.push_back("veth " + host_veth + " in the host netns");
  if (!t.upstream_netns.empty() && Exists(t.upstream_netns)) {
    std::string up = net::VethName(t.sandbox_name, net::VethSide::kUpstream);
    if (LinkInNetns(t.upstream_netns, up)) left.push_back("veth " + up + " in " + t.upstream_netns);
  }
  std::string table = net::NftTableName(t.sandbox_name);
  for (const std::string& name : NftTables()) {
    if (name == table) left.push_back("nft table ip " + table);
  }
  return left;
}

std::vector<std::string> WaitForNoLeftovers(containerd::Connection& c, const SandboxTraces& traces, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    std::vector<std::string> left = FindLeftovers(c, traces);
    if (left.empty() || absl::Now() >= deadline) return left;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::string CheckedPlaces(const SandboxTraces& t) {
  return absl::StrCat("task, container, snapshot, lease, processes (shim, init), netns, ",
                      t.cgroups.empty() ? "" : "cgroups, ",
                      "mounts, veths, nft table, state dirs (bundle, runc, record), workspace");
}

}  // namespace airlock::run
