#include "shim/io/relay.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "shim/base/log.h"

namespace airlock::io {
namespace {

// Reads (or splices) per readiness event, so that one busy stream cannot starve the others.
constexpr int kMaxReadsPerEvent = 16;
// One splice moves at most what the input pipe holds (64 KiB by default); ask for more than that.
constexpr size_t kSpliceMax = 1 << 20;

// Runs `call` (a write or splice into a pipe) so that EPIPE is reported without SIGPIPE: the
// signal goes to the calling thread; blocked here, it stays pending and is then consumed.
template <typename Call>
ssize_t NoSigpipe(Call call) {
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  ssize_t n = call();
  int err = errno;
  if (n < 0 && err == EPIPE) {
    struct timespec zero{};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return n;
}

}  // namespace

ssize_t WriteNoSigpipe(int fd, const void* data, size_t size) {
  return NoSigpipe([&] { return ::write(fd, data, size); });
}

size_t QueuedInPipe(int fd) {
  int queued = 0;
  if (fd < 0 || ioctl(fd, FIONREAD, &queued) != 0 || queued < 0) return 0;
  return static_cast<size_t>(queued);
}

void Relay::Attach(int in, int out, Options options) {
  *this = Relay();
  attached_ = true;
  in_ = in;
  out_ = out;
  out_may_sigpipe_ = options.out_may_sigpipe;
  splice_ = options.splice && out >= 0;
}

void Relay::MarkOutputBroken() {
  output_broken_ = true;
  out_full_ = false;
  start_ = end_ = 0;
  ReleaseIfEmpty();
}

void Relay::Detach() {
  attached_ = false;
  in_ = out_ = -1;
  out_full_ = false;
  start_ = end_ = 0;
  buffer_.reset();
}

bool Relay::Flush() {
  bool progress = false;
  while (Pending() > 0) {
    if (out_ < 0) {  // discarding
      delivered_ += Pending();
      start_ = end_ = 0;
      return true;
    }
    const char* data = buffer_.get() + start_;
    ssize_t n = out_may_sigpipe_ ? WriteNoSigpipe(out_, data, Pending()) : ::write(out_, data, Pending());
    if (n > 0) {
      start_ += static_cast<size_t>(n);
      delivered_ += static_cast<uint64_t>(n);
      progress = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0 && errno != EPIPE && errno != EIO) log::Debug("stdio relay: write: ", std::strerror(errno));
    MarkOutputBroken();  // the reader is gone (EPIPE), a pty without slave (EIO), or worse
    return true;
  }
  if (Pending() == 0) start_ = end_ = 0;
  return progress;
}

bool Relay::OnWritable() {
  if (splice_) {
    out_full_ = false;  // room again: take up where the last splice stopped
    return SpliceSome();
  }
  bool progress = Flush();
  ReleaseIfEmpty();
  return progress;
}

bool Relay::OnReadable() { return splice_ ? SpliceSome() : CopySome(); }

bool Relay::CopySome() {
  bool progress = false;
  for (int round = 0; round < kMaxReadsPerEvent && WantsRead(); ++round) {
    if (!buffer_) buffer_.reset(new char[kChunk]);
    ssize_t n = ::read(in_, buffer_.get(), kChunk);
    if (n > 0) {
      start_ = 0;
      end_ = static_cast<size_t>(n);
      progress = true;
      Flush();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    // 0: every writer is gone. EIO: a pty master whose slave side is closed. Anything else ends
    // the input too.
    if (n < 0 && errno != EIO) log::Debug("stdio relay: read: ", std::strerror(errno));
    input_ended_ = true;
    progress = true;
    break;
  }
  ReleaseIfEmpty();
  return progress;
}

bool Relay::SpliceSome() {
  bool progress = false;
  for (int round = 0; round < kMaxReadsPerEvent && WantsRead(); ++round) {
    auto splice_once = [&] { return splice(in_, nullptr, out_, nullptr, kSpliceMax, SPLICE_F_MOVE | SPLICE_F_NONBLOCK); };
    ssize_t n = out_may_sigpipe_ ? NoSigpipe(splice_once) : splice_once();
    if (n > 0) {
      delivered_ += static_cast<uint64_t>(n);
      progress = true;
      continue;
    }
    if (n == 0) {  // the input pipe is empty and has no writer left
      input_ended_ = true;
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      // Either `in` is empty or `out` is full; only the second is worth waiting for on `out`.
      if (QueuedInPipe(in_) > 0) out_full_ = true;
      break;
    }
    if (errno == EPIPE) {
      MarkOutputBroken();
      return true;
    }
    // EINVAL and the like: this pair cannot be spliced (not both pipes after all); copy instead.
    log::Debug("stdio relay: splice: ", std::strerror(errno), "; copying instead");
    splice_ = false;
    return CopySome() || progress;
  }
  return progress;
}

void Relay::ReleaseIfEmpty() {
  if (Pending() == 0) {
    start_ = end_ = 0;
    buffer_.reset();
  }
}

}  // namespace airlock::io
