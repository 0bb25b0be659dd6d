// airlock_probe: the entrypoint the airlock-init tests run. Prints what the sealed process sees:
//   env:NAME=value      every environment entry
//   cwd=/path           working directory
//   seccomp=N           the Seccomp: mode from /proc/self/status (2 = filter)
//   unshare_net=E       result of unshare(CLONE_NEWNET): "ok" or the errno name
//   fd3=open|closed     whether the shim's socket leaked into the entrypoint
//   fd4=open|closed     whether airlock-init's payload did
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

extern char** environ;

namespace {

std::string SeccompMode() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Seccomp:", 0) == 0) return line.substr(line.find_first_not_of(" \t", 8));
  }
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::strcmp(argv[1], "report") != 0) {
    std::fprintf(stderr, "usage: airlock_probe report\n");
    return 2;
  }
  for (char** e = environ; *e != nullptr; ++e) std::printf("env:%s\n", *e);
  char cwd[4096];
  std::printf("cwd=%s\n", getcwd(cwd, sizeof cwd) != nullptr ? cwd : "?");
  std::printf("seccomp=%s\n", SeccompMode().c_str());
  std::printf("fd3=%s\n", fcntl(3, F_GETFD) >= 0 ? "open" : "closed");
  std::printf("fd4=%s\n", fcntl(4, F_GETFD) >= 0 ? "open" : "closed");
  // Last: if the filter were missing this would move the probe into a fresh netns, harmlessly.
  std::printf("unshare_net=%s\n", unshare(CLONE_NEWNET) == 0 ? "ok" : strerrorname_np(errno));
  return 0;
}
