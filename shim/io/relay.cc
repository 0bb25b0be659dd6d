#include "shim/io/relay.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>


#include "shim/base/log.h"

namespace airlock::io {
namespace {
// Reads per readiness event, so that one busy stream cannot starve the others on the Reactor.
constexpr int kMaxReadsPerEvent = 16;
}  // namespace

ssize_t WriteNoSigpipe(int fd, const void* data, size_t size) {
  // SIGPIPE is sent to the writing thread: blocked here, it stays pending and is then consumed.
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  ssize_t n = ::write(fd, data, size);
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

void Relay::Attach(int in, int out, bool out_may_sigpipe) {
  attached_ = true;
  in_ = in;
  out_ = out;
  out_may_sigpipe_ = out_may_sigpipe;
}

void Relay::MarkOutputBroken() {
  output_broken_ = true;
  start_ = end_ = 0;
  ReleaseIfEmpty();
}

void Relay::Detach() {
  attached_ = false;
  in_ = out_ = -1;
  start_ = end_ = 0;
  buffer_.reset();
}

bool Relay::Flush() {
  bool progress = false;
  while (Pending() > 0) {
    if (out_ < 0) {  // discarding
      start_ = end_ = 0;
      return true;
    }
    const char* data = buffer_.get() + start_;
    ssize_t n = out_may_sigpipe_ ? WriteNoSigpipe(out_, data, Pending()) : ::write(out_, data, Pending());
    if (n > 0) {
      start_ += static_cast<size_t>(n);
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
  bool progress = Flush();
  ReleaseIfEmpty();
  return progress;
}

bool Relay::OnReadable() {
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

void Relay::ReleaseIfEmpty() {
  if (Pending() == 0) {
    start_ = end_ = 0;
    buffer_.reset();
  }
}

}  // namespace airlock::io
