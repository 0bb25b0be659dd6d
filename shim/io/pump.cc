#include "shim/io/pump.h"

#include <sys/epoll.h>

#include <cerrno>
#include <cstring>

#include "shim/base/errno_status.h"
#include "shim/base/log.h"

namespace airlock::io {

void Pump::SetStdin(UniqueFd source, UniqueFd keepalive, UniqueFd pipe_write) {
  stdin_source_ = std::move(source);
  stdin_keepalive_ = std::move(keepalive);
  stdin_pipe_ = std::move(pipe_write);
}

void Pump::SetOutput(UniqueFd sink, UniqueFd sink_reader, bool sink_may_sigpipe) {
  sink_ = std::move(sink);
  sink_reader_ = std::move(sink_reader);
  sink_may_sigpipe_ = sink_may_sigpipe;
}

void Pump::AddOutput(UniqueFd pipe, UniqueFd dest, UniqueFd dest_reader, bool splice) {
  if (output_count_ >= outputs_.size()) return;
  Output& output = outputs_[output_count_++];
  output.pipe = std::move(pipe);
  output.dest = std::move(dest);
  output.dest_reader = std::move(dest_reader);
  output.splice = splice;
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

template <typename F>
void Pump::ForEachRelay(F&& f) {
  f(stdin_relay_);
  f(output_relay_);
  for (size_t i = 0; i < output_count_; ++i) f(outputs_[i].relay);
}

void Pump::Start() {
  if (torn_down_ || started_) return;
  started_ = true;
  if (!terminal_ && stdin_source_ && stdin_pipe_ && !stdin_done_) {
    stdin_relay_.Attach(stdin_source_.get(), stdin_pipe_.get(), {.out_may_sigpipe = true});
  }
  for (size_t i = 0; i < output_count_; ++i) {
    Output& output = outputs_[i];
    output.relay.Attach(output.pipe.get(), output.dest.get(), {.splice = output.splice});
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
  output_relay_.Attach(master, sink_.get(), {.out_may_sigpipe = sink_may_sigpipe_});
  if (stdin_source_ && !stdin_done_) stdin_relay_.Attach(stdin_source_.get(), master, {});
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
  ForEachRelay([&](Relay& relay) {
    if (relay.WantsRead() && relay.in() == fd && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
      // A hangup with nothing to read must end the input, or level-triggered epoll would spin
      // (unless the relay now waits for its output: the input may still hold data).
      if (!relay.OnReadable() && hangup && relay.WantsRead()) relay.MarkInputEnded();
    }
    if (relay.WantsWrite() && relay.out() == fd && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
      if (!relay.OnWritable() && hangup) relay.MarkOutputBroken();
    }
  });
  Settle();
}

void Pump::Settle() {
  std::shared_ptr<Pump> keep = shared_from_this();  // a `done` below may drop the owner's reference
  for (int pass = 0; pass < 4 && !torn_down_; ++pass) {
    if (DriveAlwaysReady() && !continue_posted_) {
      // A file as stdin: more to read, but let the Reactor serve the others first.
      continue_posted_ = true;
      reactor_.Post([weak = weak_from_this()] {
        if (std::shared_ptr<Pump> self = weak.lock()) {
          self->continue_posted_ = false;
          if (!self->torn_down_) self->Settle();
        }
      });
    }
    SettleStdin();
    SettleOutputs();
    if (draining_ && !drained_ && OutputDone()) {
      FinishDrain(/*timed_out=*/false);
      return;
    }
    if (Rearm()) return;
  }
}

bool Pump::DriveAlwaysReady() {
  bool more = false;
  ForEachRelay([&](Relay& relay) {
    if (relay.in_always_ready() && relay.WantsRead()) relay.OnReadable();
    if (relay.out_always_ready() && relay.WantsWrite()) relay.OnWritable();
    if (relay.in_always_ready() && relay.WantsRead()) more = true;
  });
  return more;
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

void Pump::SettleOutputs() {
  for (size_t i = 0; i < output_count_; ++i) {
    Output& output = outputs_[i];
    if (output.closed || !output.relay.attached()) continue;
    if (output.relay.output_broken() && !output.discarding) {
      // Cannot happen while the shim holds the fifo's reader; if it does, the process must not
      // block on a full pipe for it: the rest is read and dropped.
      log::Warn("stdio: an output's destination broke; dropping what the process still writes there");
      output.discarding = true;
      output.relay.Attach(output.pipe.get(), -1, {});
    }
    if (!output.relay.input_ended() || output.relay.Pending() > 0) continue;
    // EOF: nobody holds the pipe any more and all of it is delivered. Closing the shim's writer
    // gives containerd's reader its EOF (the held reader stays: the fifo keeps unread data).
    output.relay.Detach();
    Rearm();  // unregister before closing, so the Reactor never holds a closed fd
    output.pipe.reset();
    output.dest.reset();
    output.closed = true;
  }
}

bool Pump::OutputDone() const {
  if (terminal_) return console_closed_ || !output_relay_.attached() || output_relay_.Finished();
  for (size_t i = 0; i < output_count_; ++i) {
    const Output& output = outputs_[i];
    if (output.closed || output.discarding) continue;
    if (!output.drain_target || output.relay.delivered() < *output.drain_target) return false;
  }
  return true;
}

bool Pump::Rearm() {
  if (torn_down_) return true;
  std::pair<int, uint32_t> wants[8];
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
  ForEachRelay([&](Relay& relay) {
    if (relay.WantsRead() && !relay.in_always_ready()) want(relay.in(), EPOLLIN);
    if (relay.WantsWrite() && !relay.out_always_ready()) want(relay.out(), EPOLLOUT);
  });
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
    if (status.ok()) continue;
    all_ok = false;
    // EPERM: a regular file or a device without poll. It never blocks: drive it without waiting.
    const bool always_ready = absl::IsPermissionDenied(status);
    if (!always_ready) log::Warn("stdio: cannot watch fd ", fd, ": ", status.message());
    ForEachRelay([&](Relay& relay) {
      if (relay.in() == fd) {
        if (always_ready) {
          relay.SetInAlwaysReady();
        } else {
          relay.MarkInputEnded();
        }
      }
      if (relay.out() == fd) {
        if (always_ready) {
          relay.SetOutAlwaysReady();
        } else {
          relay.MarkOutputBroken();
        }
      }
    });
  }
  return all_ok;
}

void Pump::StopStdin() {
  if (stdin_done_) return;
  stdin_done_ = true;
  stdin_relay_.Detach();
  Rearm();  // unregister before closing, so the Reactor never holds a closed fd
  stdin_source_.reset();
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
  for (size_t i = 0; i < output_count_; ++i) {
    Output& output = outputs_[i];
    if (output.closed) continue;
    // The process has exited, so all it wrote is in the pipe now: that much reaches containerd
    // before its exit does. A child that inherited the pipe may add more; that is not waited for.
    output.drain_target = output.relay.delivered() + output.relay.Pending() + QueuedInPipe(output.pipe.get());
    // Usually everything, EOF included, moves right here.
    if (output.relay.WantsRead()) {
      output.relay.OnReadable();
    } else if (output.relay.WantsWrite()) {
      output.relay.OnWritable();
    }
  }
  Settle();  // finishes the drain when nothing is left
  if (drained_ || torn_down_) return;
  drain_timer_ = reactor_.RunAfter(timeout, [weak = weak_from_this()] {
    if (std::shared_ptr<Pump> self = weak.lock()) {
      self->drain_timer_.reset();
      self->FinishDrain(/*timed_out=*/true);
    }
  });
}

void Pump::FinishDrain(bool timed_out) {
  if (!drained_) {
    drained_ = true;
    if (timed_out && terminal_) log::Warn("stdio: console output not finished within the drain timeout; closing it");
    if (timed_out && !terminal_) {
      log::Warn("stdio: output not all delivered within the drain timeout (is containerd reading?); "
                "the exit is reported, delivery goes on");
    }
    if (drain_timer_) {
      reactor_.CancelTimer(*drain_timer_);
      drain_timer_.reset();
    }
    StopStdin();
    output_relay_.Detach();
    Rearm();
    // Terminal: containerd's readers see EOF now. The master stays open until the ProcessIo goes,
    // so a process that still holds the slave gets no SIGHUP from us. (Non-terminal outputs close
    // at their pipe's EOF, see SettleOutputs.)
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
