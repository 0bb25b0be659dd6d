// Moves bytes from one non-blocking fd to another, driven by readiness events from the Reactor.
// Two ways of moving:
// - splice: `in` and `out` are both pipes (the process' pipe -> containerd's fifo): splice(2) moves
//   the pages from one pipe to the other; nothing passes through the shim's memory.
// - copy: one buffer of at most kChunk bytes, allocated only while data is in flight.
// Either way nothing more is taken from `in` while `out` cannot take what was taken, so a slow
// reader stops the writer (backpressure) instead of growing memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"

namespace airlock::io {

class Relay {
 public:
  static constexpr size_t kChunk = 32 * 1024;

  struct Options {
    // `out` is a pipe whose reader may vanish: EPIPE instead of SIGPIPE.
    bool out_may_sigpipe = false;
    // Both fds are pipes or fifos: move with splice(2). Falls back to copying if the kernel refuses.
    bool splice = false;
  };

  // `out` = -1 discards what is read.
  void Attach(int in, int out, Options options);
  // Forgets both fds and anything buffered; the relay wants nothing any more.
  void Detach();
  bool attached() const { return attached_; }
  int in() const { return in_; }
  int out() const { return out_; }
  bool splicing() const { return splice_; }

  // Regular files and devices without poll (epoll refuses them with EPERM) never block: the Pump
  // drives such a side itself instead of waiting for the Reactor.
  void SetInAlwaysReady() { in_always_ready_ = true; }
  void SetOutAlwaysReady() { out_always_ready_ = true; }
  bool in_always_ready() const { return in_always_ready_; }
  bool out_always_ready() const { return out_always_ready_; }

  bool WantsRead() const { return attached_ && !input_ended_ && !output_broken_ && Pending() == 0 && !out_full_; }
  bool WantsWrite() const { return attached_ && out_ >= 0 && !output_broken_ && (Pending() > 0 || out_full_); }

  // Each returns whether anything happened (bytes moved, or the input ended / output broke).
  bool OnReadable();
  bool OnWritable();

  // Nothing more will move: the input ended and everything read was written, or the output broke.
  bool Finished() const { return attached_ && ((input_ended_ && Pending() == 0) || output_broken_); }
  bool input_ended() const { return input_ended_; }
  bool output_broken() const { return output_broken_; }
  void MarkInputEnded() { input_ended_ = true; }
  void MarkOutputBroken();

  // Bytes read but not yet written (copy mode only; splice keeps them in the input pipe).
  size_t Pending() const { return end_ - start_; }
  // Bytes written to `out` (or discarded) since Attach.
  uint64_t delivered() const { return delivered_; }

 private:
  bool Flush();
  bool CopySome();
  bool SpliceSome();
  void ReleaseIfEmpty();

  bool attached_ = false;
  int in_ = -1;
  int out_ = -1;
  bool out_may_sigpipe_ = false;
  bool splice_ = false;
  bool in_always_ready_ = false;
  bool out_always_ready_ = false;
  bool input_ended_ = false;
  bool output_broken_ = false;
  // Splice: the last attempt found data in `in` but no room in `out`; wait for `out`.
  bool out_full_ = false;
  uint64_t delivered_ = 0;
  std::unique_ptr<char[]> buffer_;
  size_t start_ = 0;
  size_t end_ = 0;
};

// write(2) that reports EPIPE without raising SIGPIPE, whatever the process' disposition.
ssize_t WriteNoSigpipe(int fd, const void* data, size_t size);

// Bytes waiting in a pipe (FIONREAD); 0 if it cannot be asked.
size_t QueuedInPipe(int fd);

}  // namespace airlock::io
