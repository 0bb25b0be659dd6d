#include "cmd/airlock-init/probe_util.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace airlock::init {

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "errno " + std::to_string(err);
}

bool StatusField(const std::string& status_text, const std::string& key, std::string* value) {
  const std::string prefix = key + ":";
  size_t pos = 0;
  while (pos < status_text.size()) {
    size_t end = status_text.find('\n', pos);
    if (end == std::string::npos) end = status_text.size();
    if (status_text.compare(pos, prefix.size(), prefix) == 0) {
      size_t begin = status_text.find_first_not_of(" \t", pos + prefix.size());
      size_t last = status_text.find_last_not_of(" \t\r", end - 1);
      *value = (begin == std::string::npos || begin >= end || last < begin) ? ""
                                                                           : status_text.substr(begin, last + 1 - begin);
      return true;
    }
    pos = end + 1;
  }
  return false;
}

bool ParseHexMask(const std::string& text, uint64_t* mask) {
  if (text.empty() || text.size() > 16) return false;
  uint64_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return false;
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  *mask = value;
  return true;
}

int WaitChild(pid_t pid) {
  constexpr int kPolls = 500;  // 5 s in 10 ms steps
  int status = 0;
  for (int i = 0; i < kPolls; ++i) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0 && errno != EINTR) return -1;
    usleep(10 * 1000);
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return -1;
}

int RunInChild(int (*attempt)(), std::string* error) {
  pid_t pid = fork();
  if (pid < 0) {
    *error = "fork: " + ErrnoName(errno);
    return -1;
  }
  if (pid == 0) _exit(attempt() & 0xff);
  int code = WaitChild(pid);
  if (code < 0) *error = "the probe's child did not finish";
  return code;
}

}  // namespace airlock::init
