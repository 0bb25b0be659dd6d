// How containerd names a stdio stream, parsed the way its runc shim reads it (pkg/process/io.go):
// "" is nothing, a plain path is a fifo (or a file that already exists), "file:///path" is a log
// file to append to, "binary:///path?k=v" is a logging program. "fifo://path" is accepted too.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace airlock::io {

struct StdioTarget {
  enum class Kind { kNull, kFifo, kFile, kBinary };
  Kind kind = Kind::kNull;
  std::string path;
  // kBinary: the program's arguments, built from the query as containerd's NewBinaryCmd does: each
  // key followed by its first value ("" when it has none), in the order the keys first appear.
  std::vector<std::string> args;
};

absl::StatusOr<StdioTarget> ParseStdioUri(absl::string_view uri);

}  // namespace airlock::io
