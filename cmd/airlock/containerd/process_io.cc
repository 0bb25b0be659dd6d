#include "cmd/airlock/containerd/process_io.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"

namespace airlock::containerd {
namespace {

absl::StatusOr<UniqueFd> MakeFifo(const std::string& path) {
  if (mkfifo(path.c_str(), 0600) != 0) return ErrnoStatus(absl::StrCat("mkfifo ", path));
  UniqueFd fd(open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(absl::StrCat("open ", path));
  return fd;
}

// Reads what `fd` holds now; false once nothing is left (EAGAIN) or on an error.
bool ReadAvailable(int fd, OutputStream stream, const OutputSink& sink) {
  char buf[16384];
  for (int i = 0; i < 64; ++i) {  // bounded per wake-up: the other stream gets its turn
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sink(stream, absl::string_view(buf, static_cast<size_t>(n)));
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ProcessIo>> ProcessIo::Create(const std::string& dir, const std::string& name,
                                                             OutputSink sink) {
  std::unique_ptr<ProcessIo> io(new ProcessIo());
  io->paths_.stdout_path = absl::StrCat(dir, "/", name, "-stdout");
  io->paths_.stderr_path = absl::StrCat(dir, "/", name, "-stderr");
  io->sink_ = std::move(sink);
  absl::StatusOr<UniqueFd> out = MakeFifo(io->paths_.stdout_path);
  if (!out.ok()) return out.status();
  io->out_ = *std::move(out);
  absl::StatusOr<UniqueFd> err = MakeFifo(io->paths_.stderr_path);
  if (!err.ok()) {
    unlink(io->paths_.stdout_path.c_str());
    return err.status();
  }
  io->err_ = *std::move(err);
  io->wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!io->wake_.valid()) return ErrnoStatus("eventfd");
  io->reader_ = std::thread([raw = io.get()] { raw->ReadLoop(); });
  return io;
}

ProcessIo::~ProcessIo() {
  Finish();
  if (!paths_.stdout_path.empty()) unlink(paths_.stdout_path.c_str());
  if (!paths_.stderr_path.empty()) unlink(paths_.stderr_path.c_str());
}

void ProcessIo::ReadLoop() {
  for (;;) {
    pollfd fds[3] = {{out_.get(), POLLIN, 0}, {err_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    int n = poll(fds, 3, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (fds[0].revents & POLLIN) ReadAvailable(out_.get(), OutputStream::kStdout, sink_);
    if (fds[1].revents & POLLIN) ReadAvailable(err_.get(), OutputStream::kStderr, sink_);
    if (fds[2].revents & POLLIN) break;
  }
  // Finish(): the process is gone; what it wrote is in the fifos. Bounded: 1024 rounds of 1 MiB.
  for (int round = 0; round < 1024; ++round) {
    bool more_out = ReadAvailable(out_.get(), OutputStream::kStdout, sink_);
    bool more_err = ReadAvailable(err_.get(), OutputStream::kStderr, sink_);
    if (!more_out && !more_err) break;
  }
}

void ProcessIo::Finish() {
  if (!reader_.joinable()) return;
  uint64_t one = 1;
  ssize_t ignored = write(wake_.get(), &one, sizeof one);
  (void)ignored;
  reader_.join();
}

}  // namespace airlock::containerd
