#include "shim/io/stdio_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"

namespace airlock::io {
namespace {

absl::Status MakeParents(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus(absl::StrCat("mkdir ", dir));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsFifo(int fd) {
  struct stat st;
  return fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

absl::StatusOr<PipeFds> MakePipe(bool shim_end_reads) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus("pipe");
  UniqueFd read_end(p[0]), write_end(p[1]);
  PipeFds fds;
  fds.shim_end = std::move(shim_end_reads ? read_end : write_end);
  fds.process_end = std::move(shim_end_reads ? write_end : read_end);
  if (absl::Status status = SetNonBlocking(fds.shim_end.get()); !status.ok()) return status;
  return fds;
}

absl::Status SetNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return ErrnoStatus("fcntl F_GETFL");
  int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) != 0) return ErrnoStatus("fcntl F_SETFL");
  return absl::OkStatus();
}

absl::StatusOr<OutputFds> OpenOutputPath(const std::string& path, bool nonblocking) {
  OutputFds fds;
  UniqueFd probe(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (probe && IsFifo(probe.get())) {
    fds.held_reader = std::move(probe);
    int flags = O_WRONLY | O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0);
    fds.write.reset(open(path.c_str(), flags));
    if (!fds.write) return ErrnoStatus(absl::StrCat("open fifo ", path, " for writing"));
    return fds;
  }
  if (!probe && errno == ENOENT) return ErrnoStatus(ENOENT, absl::StrCat("open stdio ", path));
  probe.reset();
  fds.write.reset(open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY));
  if (!fds.write) return ErrnoStatus(absl::StrCat("open stdio ", path));
  if (nonblocking) {
    if (absl::Status status = SetNonBlocking(fds.write.get()); !status.ok()) return status;
  }
  return fds;
}

absl::StatusOr<UniqueFd> OpenLogFile(const std::string& path) {
  if (path.empty() || path[0] != '/') return absl::InvalidArgumentError(absl::StrCat("log file path not absolute: ", path));
  if (absl::Status status = MakeParents(path); !status.ok()) return status;
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640));
  if (!fd) return ErrnoStatus(absl::StrCat("open log file ", path));
  return fd;
}

absl::StatusOr<StdinFds> OpenStdinPath(const std::string& path) {
  StdinFds fds;
  UniqueFd reader(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!reader) return ErrnoStatus(absl::StrCat("open stdin ", path));
  if (!IsFifo(reader.get())) {
    if (absl::Status status = SetNonBlocking(reader.get(), false); !status.ok()) return status;
    fds.plain = std::move(reader);
    return fds;
  }
  // With a reader open, opening for writing does not block (nor fail with ENXIO).
  fds.keepalive.reset(open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fds.keepalive) return ErrnoStatus(absl::StrCat("open stdin fifo ", path, " for writing"));
  fds.fifo = std::move(reader);
  return fds;
}

}  // namespace airlock::io
