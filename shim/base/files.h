// Files and directories: the one place for the write loop, the tmp+rename dance and mkdir -p.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace airlock {

// mkdir -p: every missing directory of the absolute `path` made with `mode`.
absl::Status MakeDirs(const std::string& path, mode_t mode = 0755);

// write(2) until all of `content` is out (EINTR retried); `what` names the file in errors.
absl::Status WriteAll(int fd, absl::string_view content, absl::string_view what);

// Replaces `path` with `content` at once: readers see the old file or the new one, never a part.
// Written to `path`.tmp (no symlink followed) with exactly `mode` (umask aside), then renamed; the
// temporary file is removed when anything fails.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content, mode_t mode = 0644);

// Truncates and rewrites an existing `path` in place: no inode allocated, none freed (tmp+rename
// costs both). Only for files nobody reads before the writer reports success.
absl::Status RewriteFileInPlace(const std::string& path, absl::string_view content);

}  // namespace airlock
