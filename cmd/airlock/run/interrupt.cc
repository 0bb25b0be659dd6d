#include "cmd/airlock/run/interrupt.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shim/base/errno_status.h"

namespace airlock::run {

absl::StatusOr<std::unique_ptr<InterruptWatcher>> InterruptWatcher::Start(std::function<void(int)> on_first) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  if (int err = pthread_sigmask(SIG_BLOCK, &set, nullptr); err != 0) return ErrnoStatus(err, "pthread_sigmask");
  ::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<InterruptWatcher> w(new InterruptWatcher());
  w->signal_fd_.reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!w->signal_fd_.valid()) return ErrnoStatus("signalfd");
  w->stop_fd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!w->stop_fd_.valid()) return ErrnoStatus("eventfd");
  w->on_first_ = std::move(on_first);
  w->thread_ = std::thread([raw = w.get()] { raw->Loop(); });
  return w;
}

InterruptWatcher::~InterruptWatcher() {
  uint64_t one = 1;
  ssize_t ignored = write(stop_fd_.get(), &one, sizeof one);
  (void)ignored;
  if (thread_.joinable()) thread_.join();
}

void InterruptWatcher::Loop() {
  for (;;) {
    pollfd fds[2] = {{signal_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    int n = poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN)) return;
    signalfd_siginfo info {};
    while (read(signal_fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      int expected = 0;
      if (signal_.compare_exchange_strong(expected, static_cast<int>(info.ssi_signo)) && on_first_) {
        on_first_(static_cast<int>(info.ssi_signo));
      }
    }
  }
}

}  // namespace airlock::run
