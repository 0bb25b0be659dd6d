// stdout/stderr of one container process, the way containerd's cio does it for ctr: two fifos in
// a directory of ours that the shim opens for writing; a thread here reads them and hands every
// chunk to a sink as it arrives (live output). No stdin.
//
// The fifos are opened O_RDWR here: opening never blocks and a read never sees a spurious EOF
// before the shim has opened its end. The end of the output is therefore not an EOF but Finish(),
// called once the process has exited: it drains what the fifos still hold and stops the thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cmd/airlock/containerd/services.h"
#include "shim/base/unique_fd.h"

namespace airlock::containerd {

enum class OutputStream { kStdout, kStderr };
// Called on the reader thread.
using OutputSink = std::function<void(OutputStream, absl::string_view)>;

class ProcessIo {
 public:
  // Makes <dir>/<name>-stdout and <dir>/<name>-stderr (dir must exist) and starts reading.
  static absl::StatusOr<std::unique_ptr<ProcessIo>> Create(const std::string& dir, const std::string& name,
                                                           OutputSink sink);
  ~ProcessIo();  // Finish(), then the fifos are removed

  TaskIoPaths paths() const { return paths_; }
  // Drains and stops the reader (idempotent). Output a process writes after this is lost.
  void Finish();

 private:
  ProcessIo() = default;
  void ReadLoop();

  TaskIoPaths paths_;
  UniqueFd out_, err_, wake_;
  OutputSink sink_;
  std::thread reader_;
};

}  // namespace airlock::containerd
