// Minimal leveled logger. The shim writes to the bundle's `log` fifo, which containerd copies
// into its own log; lines use logrus' text format so they read like the rest of containerd's.
#pragma once

#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"

namespace airlock::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Where log lines go (default: stderr). The fd is not owned.
void SetOutput(int fd);
void SetLevel(Level level);
bool Enabled(Level level);
// Extra `key=value` fields appended to every line (e.g. namespace, id).
void SetFields(absl::string_view fields);

void Write(Level level, absl::string_view message);

template <typename... Args>
void Debug(const Args&... args) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, absl::StrCat(args...));
}
template <typename... Args>
void Info(const Args&... args) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, absl::StrCat(args...));
}
template <typename... Args>
void Warn(const Args&... args) {
  if (Enabled(Level::kWarn)) Write(Level::kWarn, absl::StrCat(args...));
}
template <typename... Args>
void Error(const Args&... args) {
  Write(Level::kError, absl::StrCat(args...));
}

}  // namespace airlock::log
