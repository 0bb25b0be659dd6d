// The Reactor side of one process' stdio: the stdin relay (stdin fifo -> the container's stdin pipe,
// or -> the pty master) and, with a terminal, the output relay (pty master -> stdout).
//
// Lives in a shared_ptr: the Reactor's watches hold it, so it outlives its own callbacks even when
// the owning ProcessIo is destroyed inside one of them. Teardown (reactor thread) unregisters
// everything, which breaks that cycle; the fds close with the last reference.
#pragma once

#include <sys/ioctl.h>

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
  // The stdin fifo's read end, the shim's own write end of it (no EOF until CloseStdin), and for a
  // non-terminal process the write end of the container's stdin pipe.
  void SetStdin(UniqueFd fifo, UniqueFd keepalive, UniqueFd pipe_write);
  // Terminal: where the console output goes (-1 discards it) and a reader of that fifo the shim
  // holds so the container never gets EPIPE while containerd is away.
  void SetOutput(UniqueFd sink, UniqueFd sink_reader, bool sink_may_sigpipe);

  // --- Any thread.
  // Terminal: keeps the pty master (applies a size asked for earlier). Then post AttachConsole.
  void SetMaster(UniqueFd master);
  absl::Status Resize(uint32_t width, uint32_t height);

  // --- Reactor thread.
  void Start();          // starts the non-terminal stdin relay
  void AttachConsole();  // starts copying through the pty master given to SetMaster
  void CloseStdin();
  void Drain(absl::Duration timeout, std::function<void()> done);
  void Teardown();

 private:
  void OnEvent(int fd, uint32_t events);
  // After anything changed: stdin and drain bookkeeping, then the epoll interest. Bounded passes.
  void Settle();
  void SettleStdin();
  bool OutputDone() const;
  // Brings the Reactor's watches in line with what the relays want; false if one could not be
  // registered (the relays using it are then marked finished and another pass is needed).
  bool Rearm();
  void StopStdin();
  void HangUp();
  void FinishDrain(bool timed_out);

  Reactor& reactor_;
  const bool terminal_;

  UniqueFd stdin_fifo_;
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
  std::vector<std::pair<int, uint32_t>> registered_;  // fd -> epoll events

  bool draining_ = false;
  bool drained_ = false;
  bool torn_down_ = false;
  std::optional<Reactor::TimerId> drain_timer_;
  std::vector<std::function<void()>> dones_;
};

}  // namespace airlock::io
