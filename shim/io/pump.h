// The Reactor side of one process' stdio: the stdin relay (stdin fifo -> the container's stdin pipe,
// or -> the pty master), the non-terminal output relays (the container's stdout/stderr pipes ->
// containerd's fifos or a log file) and, with a terminal, the console relay (pty master -> stdout).
//
// Lives in a shared_ptr: the Reactor's watches hold it, so it outlives its own callbacks even when
// the owning ProcessIo is destroyed inside one of them. Teardown (reactor thread) unregisters
// everything, which breaks that cycle; the fds close with the last reference.
#pragma once

#include <sys/ioctl.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "shim/base/reactor.h"
#include "shim/base/unique_fd.h"
#include "shim/io/relay.h"

namespace airlock::io {

class Pump : public std::enable_shared_from_this<Pump> {
 public:
  Pump(Reactor& reactor, bool terminal) : reactor_(reactor), terminal_(terminal) {}
  ~Pump() = default;
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

  // --- Set up before the Pump is shared with the Reactor (the creating thread).
  // The stdin source (a fifo's read end, or a regular file), the shim's own write end of the fifo
  // (no EOF until CloseStdin), and for a non-terminal process the write end of its stdin pipe.
  void SetStdin(UniqueFd source, UniqueFd keepalive, UniqueFd pipe_write);
  // Terminal: where the console output goes (-1 discards it) and a reader of that fifo the shim
  // holds so the container never gets EPIPE while containerd is away.
  void SetOutput(UniqueFd sink, UniqueFd sink_reader, bool sink_may_sigpipe);
  // Non-terminal: one output stream (at most two). `pipe` is the shim's read end of the pipe the
  // process writes; `dest` containerd's fifo (`splice`: both are pipes) or a file; `dest_reader`
  // a read end of that fifo the shim holds and never reads (no EPIPE while containerd is away, and
  // the fifo keeps its data), closed only with the Pump.
  void AddOutput(UniqueFd pipe, UniqueFd dest, UniqueFd dest_reader, bool splice);

  // --- Any thread.
  // Terminal: keeps the pty master (applies a size asked for earlier). Then post AttachConsole.
  void SetMaster(UniqueFd master);
  absl::Status Resize(uint32_t width, uint32_t height);

  // --- Reactor thread.
  void Start();          // starts the non-terminal relays
  void AttachConsole();  // starts copying through the pty master given to SetMaster
  void CloseStdin();
  // The process has exited. Terminal: the console output is copied until the slave is gone, then
  // the sinks close. Non-terminal: done once every byte that was in the output pipes at this call
  // (all the process wrote) is in containerd's fifo; the relays go on until their pipe's EOF (a
  // child may still hold it), then close their fifo so containerd's reader sees EOF.
  void Drain(absl::Duration timeout, std::function<void()> done);
  void Teardown();

 private:
  struct Output {
    UniqueFd pipe;
    UniqueFd dest;
    UniqueFd dest_reader;
    bool splice = false;
    Relay relay;
    bool discarding = false;  // `dest` broke: what comes is read and dropped, so no writer blocks
    bool closed = false;      // EOF reached and delivered: `pipe` and `dest` are closed
    std::optional<uint64_t> drain_target;  // delivered() to reach before the exit is reported
  };

  void OnEvent(int fd, uint32_t events);
  // After anything changed: stdin, outputs and drain bookkeeping, then the epoll interest. Bounded passes.
  void Settle();
  void SettleStdin();
  void SettleOutputs();
  // Moves what fds that need no waiting (regular files) allow; true if more is left to move.
  bool DriveAlwaysReady();
  bool OutputDone() const;
  // Brings the Reactor's watches in line with what the relays want; false if one could not be
  // registered (the relays using it are then marked finished or always ready; another pass is needed).
  bool Rearm();
  template <typename F>
  void ForEachRelay(F&& f);  // stdin, console, outputs
  void StopStdin();
  void HangUp();
  void FinishDrain(bool timed_out);

  Reactor& reactor_;
  const bool terminal_;

  UniqueFd stdin_source_;
  UniqueFd stdin_keepalive_;
  UniqueFd stdin_pipe_;
  bool stdin_done_ = false;

  UniqueFd sink_;
  UniqueFd sink_reader_;
  bool sink_may_sigpipe_ = false;

  std::mutex master_mu_;  // Resize runs on any thread
  UniqueFd master_;
  std::optional<struct winsize> pending_size_;
  bool console_closed_ = false;

  Relay stdin_relay_;
  Relay output_relay_;
  std::array<Output, 2> outputs_;
  size_t output_count_ = 0;
  std::vector<std::pair<int, uint32_t>> registered_;  // fd -> epoll events

  bool started_ = false;
  bool continue_posted_ = false;
  bool draining_ = false;
  bool drained_ = false;
  bool torn_down_ = false;
  std::optional<Reactor::TimerId> drain_timer_;
  std::vector<std::function<void()>> dones_;
};

}  // namespace airlock::io
