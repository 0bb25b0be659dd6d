// Moves bytes from one non-blocking fd to another, driven by readiness events from the Reactor.
// One buffer of at most kChunk bytes, allocated only while data is in flight; nothing is read
// while it holds data, so a slow reader stops the writer (backpressure) instead of growing memory.
#pragma once

#include <cstddef>
#include <memory>

#include "absl/strings/string_view.h"

namespace airlock::io {

class Relay {
 public:
  static constexpr size_t kChunk = 32 * 1024;

  // `out` = -1 discards what is read. `out_may_sigpipe`: `out` is a pipe whose reader may vanish;
  // writes then fail with EPIPE instead of raising SIGPIPE.
  void Attach(int in, int out, bool out_may_sigpipe);
  // Forgets both fds and anything buffered; the relay wants nothing any more.
  void Detach();
  bool attached() const { return attached_; }
  int in() const { return in_; }
  int out() const { return out_; }

  bool WantsRead() const { return attached_ && !input_ended_ && !output_broken_ && Pending() == 0; }
  bool WantsWrite() const { return attached_ && out_ >= 0 && !output_broken_ && Pending() > 0; }

  // Each returns whether anything happened (bytes moved, or the input ended / output broke).
  bool OnReadable();
  bool OnWritable();

  // Nothing more will move: the input ended and everything read was written, or the output broke.
  bool Finished() const { return attached_ && ((input_ended_ && Pending() == 0) || output_broken_); }
  bool input_ended() const { return input_ended_; }
  bool output_broken() const { return output_broken_; }
  void MarkInputEnded() { input_ended_ = true; }
  void MarkOutputBroken();

  size_t Pending() const { return end_ - start_; }

 private:
  bool Flush();
  void ReleaseIfEmpty();

  bool attached_ = false;
  int in_ = -1;
  int out_ = -1;
  bool out_may_sigpipe_ = false;
  bool input_ended_ = false;
  bool output_broken_ = false;
  std::unique_ptr<char[]> buffer_;
  size_t start_ = 0;
  size_t end_ = 0;
};

// write(2) that reports EPIPE without raising SIGPIPE, whatever the process' disposition.
ssize_t WriteNoSigpipe(int fd, const void* data, size_t size);

}  // namespace airlock::io
