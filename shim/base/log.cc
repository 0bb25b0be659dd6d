#include "shim/base/log.h"

#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

namespace airlock::log {
namespace {

std::atomic<int> g_fd{STDERR_FILENO};
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_fields_mu;
std::string g_fields;

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warning";
    case Level::kError: return "error";
  }
  return "info";
}

void AppendQuoted(std::string& out, absl::string_view s) {
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

void SetOutput(int fd) { g_fd.store(fd); }
void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }
bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }
void SetFields(absl::string_view fields) {
  std::lock_guard lock(g_fields_mu);
  g_fields = std::string(fields);
}

void Write(Level level, absl::string_view message) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
  std::string line = "time=\"";
  line += stamp;
  line += "\" level=";
  line += LevelName(level);
  line += " msg=";
  AppendQuoted(line, message);
  {
    std::lock_guard lock(g_fields_mu);
    if (!g_fields.empty()) {
      line.push_back(' ');
      line += g_fields;
    }
  }
  line.push_back('\n');
  // One write per line keeps lines whole on a fifo (< PIPE_BUF for short lines).
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(g_fd.load(), p, left);
    if (n <= 0) break;  // Logging never fails the caller.
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace airlock::log
