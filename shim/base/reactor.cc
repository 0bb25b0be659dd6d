#include "shim/base/reactor.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "shim/base/errno_status.h"
#include "shim/base/log.h"

namespace airlock {
namespace {
constexpr uint64_t kWakeToken = ~uint64_t{0};

uint64_t Token(uint32_t generation, int fd) {
  return (static_cast<uint64_t>(generation) << 32) | static_cast<uint32_t>(fd);
}
}  // namespace

absl::StatusOr<std::unique_ptr<Reactor>> Reactor::Create() {
  UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  if (!ep) return ErrnoStatus("epoll_create1");
  UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return ErrnoStatus("eventfd");
  struct epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeToken;
  if (epoll_ctl(ep.get(), EPOLL_CTL_ADD, wake.get(), &ev) != 0) return ErrnoStatus("epoll_ctl wake");
  return std::unique_ptr<Reactor>(new Reactor(std::move(ep), std::move(wake)));
}

Reactor::Reactor(UniqueFd epoll_fd, UniqueFd wake_fd)
    : epoll_fd_(std::move(epoll_fd)), wake_fd_(std::move(wake_fd)), thread_id_(std::this_thread::get_id()) {}

Reactor::~Reactor() = default;

absl::Status Reactor::Add(int fd, uint32_t events, FdCallback callback) {
  auto watch = std::make_shared<Watch>(Watch{next_generation_++, std::move(callback)});
  struct epoll_event ev{};
  ev.events = events;
  ev.data.u64 = Token(watch->generation, fd);
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return ErrnoStatus("epoll_ctl add");
  watches_[fd] = std::move(watch);
  return absl::OkStatus();
}

absl::Status Reactor::Modify(int fd, uint32_t events) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return absl::NotFoundError("fd not watched");
  struct epoll_event ev{};
  ev.events = events;
  ev.data.u64 = Token(it->second->generation, fd);
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) return ErrnoStatus("epoll_ctl mod");
  return absl::OkStatus();
}

void Reactor::Remove(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  watches_.erase(it);
}

void Reactor::Post(Task task) {
  {
    std::lock_guard lock(posted_mu_);
    if (stopped_) return;
    posted_.push_back(std::move(task));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

Reactor::TimerId Reactor::RunAfter(absl::Duration delay, Task task) {
  TimerId id = next_timer_++;
  timers_.emplace(absl::Now() + delay, std::make_pair(id, std::move(task)));
  return id;
}

void Reactor::CancelTimer(TimerId id) {
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      return;
    }
  }
}

void Reactor::Stop() {
  {
    std::lock_guard lock(posted_mu_);
    stopped_ = true;
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

void Reactor::DrainPosted() {
  uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(wake_fd_.get(), &count, sizeof count);
  std::vector<Task> tasks;
  {
    std::lock_guard lock(posted_mu_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
}

int Reactor::NextTimeoutMs() {
  if (timers_.empty()) return -1;
  absl::Duration left = timers_.begin()->first - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
}

void Reactor::RunDueTimers() {
  absl::Time now = absl::Now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    Task task = std::move(timers_.begin()->second.second);
    timers_.erase(timers_.begin());
    task();
  }
}

void Reactor::Run() {
  thread_id_ = std::this_thread::get_id();
  struct epoll_event events[64];
  for (;;) {
    {
      std::lock_guard lock(posted_mu_);
      if (stopped_) return;
    }
    int n = epoll_wait(epoll_fd_.get(), events, 64, NextTimeoutMs());
    if (n < 0) {
      if (errno == EINTR) continue;
      log::Error("epoll_wait: ", strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t token = events[i].data.u64;
      if (token == kWakeToken) {
        DrainPosted();
        continue;
      }
      int fd = static_cast<int>(token & 0xffffffffu);
      auto it = watches_.find(fd);
      // A watch removed (or replaced) earlier in this batch must not fire.
      if (it == watches_.end() || it->second->generation != static_cast<uint32_t>(token >> 32)) continue;
      std::shared_ptr<Watch> watch = it->second;  // keeps the callback alive if it removes itself
      watch->callback(events[i].events);
    }
    RunDueTimers();
  }
}

}  // namespace airlock
