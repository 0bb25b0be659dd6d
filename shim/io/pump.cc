#include "shim/io/pump.h"

#include <sys/epoll.h>

#include <cerrno>
#include <cstring>

#include "shim/base/errno_status.h"
#include "shim/base/log.h"

namespace airlock::io {

void Pump::SetStdin(UniqueFd fifo, UniqueFd keepalive, UniqueFd pipe_write) {
  stdin_fifo_ = std::move(fifo);
  stdin_keepalive_ = std::move(keepalive);
  stdin_pipe_ = std::move(pipe_write);
}

void Pump::SetOutput(UniqueFd sink, UniqueFd sink_reader, bool sink_may_sigpipe) {
  sink_ = std::move(sink);
  sink_reader_ = std::move(sink_reader);
  sink_may_sigpipe_ = sink_may_sigpipe;
}

void Pump::SetMaster(UniqueFd master) {
  std::lock_guard lock(master_mu_);
  master_ = std::move(master);
  if (pending_size_ && ioctl(master_.get(), TIOCSWINSZ, &*pending_size_) != 0) {
    log::Warn("stdio: resize pty: ", std::strerror(errno));
  }
  pending_size_.reset();
}

absl::Status Pump::Resize(uint32_t width, uint32_t height) {
  struct winsize size{};
  size.ws_col = static_cast<unsigned short>(width);
  size.ws_row = static_cast<unsigned short>(height);
  std::lock_guard lock(master_mu_);
  if (!master_) {
    if (!console_closed_) pending_size_ = size;  // applied when the master arrives
    return absl::OkStatus();
  }
  if (ioctl(master_.get(), TIOCSWINSZ, &size) != 0) return ErrnoStatus("resize pty");
  return absl::OkStatus();
}

void Pump::Start() {
  if (torn_down_ || drained_) return;
  if (!terminal_ && stdin_fifo_ && stdin_pipe_ && !stdin_done_) {
    stdin_relay_.Attach(stdin_fifo_.get(), stdin_pipe_.get(), /*out_may_sigpipe=*/true);
  }
  Settle();
}

void Pump::AttachConsole() {
  if (torn_down_ || drained_ || output_relay_.attached()) return;
  int master;
  {
    std::lock_guard lock(master_mu_);
    master = master_.get();
  }
  if (master < 0) return;
  output_relay_.Attach(master, sink_.get(), sink_may_sigpipe_);
  if (stdin_fifo_ && !stdin_done_) stdin_relay_.Attach(stdin_fifo_.get(), master, /*out_may_sigpipe=*/false);
  Settle();
}

void Pump::CloseStdin() {
  // Without the shim's own writer the fifo reads EOF once containerd's writer is gone too; the
  // relay then finishes delivering what it holds and closes the process' stdin.
  stdin_keepalive_.reset();
  if (!torn_down_) Settle();
}

void Pump::OnEvent(int fd, uint32_t events) {
  if (torn_down_) return;
  const bool hangup = events & (EPOLLHUP | EPOLLERR);
  for (Relay* relay : {&stdin_relay_, &output_relay_}) {
    if (relay->WantsRead() && relay->in() == fd && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
      // A hangup with nothing to read must end the input, or level-triggered epoll would spin.
      if (!relay->OnReadable() && hangup) relay->MarkInputEnded();
    }
    if (relay->WantsWrite() && relay->out() == fd && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
      if (!relay->OnWritable() && hangup) relay->MarkOutputBroken();
    }
  }
  Settle();
}

void Pump::Settle() {
  std::shared_ptr<Pump> keep = shared_from_this();  // a `done` below may drop the owner's reference
  for (int pass = 0; pass < 4 && !torn_down_; ++pass) {
    SettleStdin();
    if (draining_ && !drained_ && OutputDone()) {
      FinishDrain(/*timed_out=*/false);
      return;
    }
    if (Rearm()) return;
  }
}

void Pump::SettleStdin() {
  if (stdin_done_ || !stdin_relay_.attached()) return;
  if (stdin_relay_.output_broken()) {
    StopStdin();  // the process closed its stdin or is gone
    return;
  }
  if (!stdin_relay_.input_ended() || stdin_relay_.Pending() > 0) return;
  // Everything written before CloseIO is delivered.
  StopStdin();
  // A terminal has no EOF of its own: like containerd's runc shim, losing stdin hangs the console
  // up (the session gets SIGHUP), as a closed ssh connection does.
  if (terminal_) HangUp();
}

bool Pump::OutputDone() const {
  return !terminal_ || console_closed_ || !output_relay_.attached() || output_relay_.Finished();
}

bool Pump::Rearm() {
  if (torn_down_) return true;
  std::pair<int, uint32_t> wants[4];
  int count = 0;
  auto want = [&](int fd, uint32_t events) {
    if (fd < 0) return;
    for (int i = 0; i < count; ++i) {
      if (wants[i].first == fd) {
        wants[i].second |= events;
        return;
      }
    }
    wants[count++] = {fd, events};
  };
  for (const Relay* relay : {&stdin_relay_, &output_relay_}) {
    if (relay->WantsRead()) want(relay->in(), EPOLLIN);
    if (relay->WantsWrite()) want(relay->out(), EPOLLOUT);
  }
  for (auto it = registered_.begin(); it != registered_.end();) {
    bool wanted = false;
    for (int i = 0; i < count; ++i) wanted |= wants[i].first == it->first;
    if (wanted) {
      ++it;
    } else {
      reactor_.Remove(it->first);
      it = registered_.erase(it);
    }
  }
  bool all_ok = true;
  for (int i = 0; i < count; ++i) {
    auto [fd, events] = wants[i];
    auto it = registered_.begin();
    while (it != registered_.end() && it->first != fd) ++it;
    absl::Status status;
    if (it == registered_.end()) {
      status = reactor_.Add(fd, events, [self = shared_from_this(), fd](uint32_t ready) { self->OnEvent(fd, ready); });
      if (status.ok()) registered_.emplace_back(fd, events);
    } else if (it->second != events) {
      status = reactor_.Modify(fd, events);
      if (status.ok()) it->second = events;
    }
    if (!status.ok()) {
      // E.g. a regular file (epoll refuses those): that stream cannot be waited for; give it up.
      log::Warn("stdio: cannot watch fd ", fd, ": ", status.message());
      for (Relay* relay : {&stdin_relay_, &output_relay_}) {
        if (relay->in() == fd) relay->MarkInputEnded();
        if (relay->out() == fd) relay->MarkOutputBroken();
      }
      all_ok = false;
    }
  }
  return all_ok;
}

void Pump::StopStdin() {
  if (stdin_done_) return;
  stdin_done_ = true;
  stdin_relay_.Detach();
  Rearm();  // unregister before closing, so the Reactor never holds a closed fd
  stdin_fifo_.reset();
  stdin_keepalive_.reset();
  stdin_pipe_.reset();  // non-terminal: the process reads EOF
}

void Pump::HangUp() {
  output_relay_.Detach();
  Rearm();
  std::lock_guard lock(master_mu_);
  master_.reset();
  console_closed_ = true;
}

void Pump::Drain(absl::Duration timeout, std::function<void()> done) {
  std::shared_ptr<Pump> keep = shared_from_this();
  if (done) dones_.push_back(std::move(done));
  if (drained_) {
    FinishDrain(false);  // runs the new `done`
    return;
  }
  if (torn_down_ || draining_) return;
  draining_ = true;
  StopStdin();  // nobody reads the stdin of an exited process
  if (OutputDone()) {
    FinishDrain(/*timed_out=*/false);
    return;
  }
  drain_timer_ = reactor_.RunAfter(timeout, [weak = weak_from_this()] {
    if (std::shared_ptr<Pump> self = weak.lock()) {
      self->drain_timer_.reset();
      self->FinishDrain(/*timed_out=*/true);
    }
  });
  Settle();
}

void Pump::FinishDrain(bool timed_out) {
  if (!drained_) {
    drained_ = true;
    if (timed_out) log::Warn("stdio: console output not finished within the drain timeout; closing it");
    if (drain_timer_) {
      reactor_.CancelTimer(*drain_timer_);
      drain_timer_.reset();
    }
    StopStdin();
    output_relay_.Detach();
    Rearm();
    // containerd's readers see EOF now. The master stays open until the ProcessIo goes, so a
    // process that still holds the slave gets no SIGHUP from us.
    sink_.reset();
    sink_reader_.reset();
  }
  std::vector<std::function<void()>> dones;
  dones.swap(dones_);
  for (auto& done : dones) done();
}

void Pump::Teardown() {
  torn_down_ = true;
  if (drain_timer_) {
    reactor_.CancelTimer(*drain_timer_);
    drain_timer_.reset();
  }
  for (auto& [fd, events] : registered_) reactor_.Remove(fd);
  registered_.clear();
  dones_.clear();  // the owner is gone: a pending Drain is cancelled
}

}  // namespace airlock::io
