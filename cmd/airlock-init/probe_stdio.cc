// stdio.no-host-fifo: the stdin, stdout and stderr of the processes runc started in the sandbox
// are pipes (or a terminal, /dev/null), never a fifo or file of the host. A host fifo or file
// there names a host path (containerd's state dir, the container id), and reopening
// /proc/self/fd/N reaches the host inode itself: chmod or chown it, hold it open for writing so
// containerd never sees EOF, read or truncate a log file.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "cmd/airlock-init/init_config.h"
#include "cmd/airlock-init/probe_util.h"
#include "cmd/airlock-init/probes.h"

namespace airlock::init {
namespace {

constexpr size_t kMaxStatusBytes = 64 << 10;
constexpr int kMaxProcesses = 4096;

const char* KindOf(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFIFO:
      return "a fifo";
    case S_IFREG:
      return "a file";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFDIR:
      return "a directory";
    case S_IFSOCK:
      return "a socket";
    default:
      return "an inode";
  }
}

bool StartsWith(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

// Processes runc put into the sandbox from outside: the init and each exec (their parent is not
// in this pid namespace, so PPid is 0). Children inherit their stdio from one of them.
bool StartedByRuntime(const std::string& pid) {
  std::string status, error, ppid;
  if (!ReadSmallFile("/proc/" + pid + "/status", kMaxStatusBytes, &status, &error)) return false;
  return StatusField(status, "PPid", &ppid) && ppid == "0";
}

}  // namespace

std::string StdioFdProblem(const std::string& link, const struct stat& target, const struct stat* in_view) {
  // Kernel objects without a path: nothing of the host's filesystem to reopen.
  for (const char* kernel : {"pipe:[", "socket:[", "anon_inode:", "/memfd:"}) {
    if (StartsWith(link, kernel)) return "";
  }
  const char* kind = KindOf(target.st_mode);
  if (in_view == nullptr) return link + ": " + kind + " outside the sandbox";
  // A device is the same device under any node: /dev/null, the sandbox's own pty.
  if (S_ISCHR(target.st_mode) && S_ISCHR(in_view->st_mode) && target.st_rdev == in_view->st_rdev) return "";
  // The sandbox's own file: that path here is that very inode.
  if (target.st_dev == in_view->st_dev && target.st_ino == in_view->st_ino) return "";
  return link + ": " + kind + " outside the sandbox (that path here is another inode)";
}

ProbeResult ProbeStdioNotHostFiles() {
  ProbeResult result{"stdio.no-host-fifo", Verdict::kHeld, ""};
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return {result.name, Verdict::kError, "/proc: " + ErrnoName(errno)};
  std::string problems, unreadable, kinds;
  int checked = 0;
  auto note_kind = [&](const std::string& kind) {
    if (kinds.find(kind) == std::string::npos) kinds += (kinds.empty() ? "" : ", ") + kind;
  };
  for (int seen = 0; seen < kMaxProcesses; ++seen) {
    dirent* entry = readdir(proc);
    if (entry == nullptr) break;
    std::string pid = entry->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (!StartedByRuntime(pid)) continue;
    bool readable = true;
    for (int fd = 0; fd <= 2; ++fd) {
      const std::string path = "/proc/" + pid + "/fd/" + std::to_string(fd);
      char buf[4096];
      ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
      if (n < 0 && errno == ENOENT) continue;  // closed
      struct stat target {};
      if (n < 0 || stat(path.c_str(), &target) != 0) {
        if (errno == ENOENT) continue;  // closed, or the process ended meanwhile
        unreadable += (unreadable.empty() ? "" : "; ") + std::string("pid ") + pid + ": " + ErrnoName(errno);
        readable = false;
        break;
      }
      std::string link(buf, static_cast<size_t>(n));
      struct stat here {};
      bool found = !link.empty() && link[0] == '/' && stat(link.c_str(), &here) == 0;
      std::string problem = StdioFdProblem(link, target, found ? &here : nullptr);
      if (!problem.empty()) {
        problems += (problems.empty() ? "" : "; ") + std::string("pid ") + pid + " fd " + std::to_string(fd) + " " +
                    problem;
      } else {
        note_kind(link[0] == '/' ? link : link.substr(0, link.find(':')));
      }
    }
    if (readable) ++checked;
  }
  closedir(proc);
  if (!problems.empty()) {
    result.verdict = Verdict::kBroken;
    result.detail = problems;
    return result;
  }
  if (checked == 0) {
    // Unreadable /proc/<pid>/fd is as unreadable for an agent; but then nothing was checked.
    result.verdict = unreadable.empty() ? Verdict::kError : Verdict::kHeld;
    result.detail = unreadable.empty() ? "no process started by the runtime found in /proc"
                                       : "stdio of the init and execs unreadable (" + unreadable + ")";
    return result;
  }
  result.detail = "stdin/stdout/stderr of " + std::to_string(checked) +
                  " process(es) started by the runtime (init, execs): " + (kinds.empty() ? "closed" : kinds);
  if (!unreadable.empty()) result.detail += "; unreadable: " + unreadable;
  return result;
}

}  // namespace airlock::init
