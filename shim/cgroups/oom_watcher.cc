#include "shim/cgroups/oom_watcher.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"
#include "shim/base/log.h"
#include "shim/cgroups/cgroup_files.h"

namespace airlock::cgroups {
namespace {

// oom_kill of memory.events, nullopt when the file is gone.
absl::StatusOr<std::optional<uint64_t>> ReadOomKills(const std::string& dir) {
  absl::StatusOr<std::string> text = ReadSmallFile(dir + "/memory.events");
  if (absl::IsNotFound(text.status())) return std::optional<uint64_t>();
  if (!text.ok()) return text.status();
  absl::StatusOr<std::map<std::string, uint64_t>> events = ParseKeyValues(*text, dir + "/memory.events");
  if (!events.ok()) return events.status();
  return std::optional<uint64_t>(Get(*events, "oom_kill"));
}

}  // namespace

OomWatcher::OomWatcher(Reactor& reactor, UniqueFd fd, std::string dir, bool unified, uint64_t oom_kills,
                       Callback on_oom)
    : reactor_(reactor),
      fd_(std::move(fd)),
      dir_(std::move(dir)),
      unified_(unified),
      oom_kills_(oom_kills),
      on_oom_(std::move(on_oom)) {}

OomWatcher::~OomWatcher() { Stop(); }

absl::StatusOr<std::unique_ptr<OomWatcher>> OomWatcher::Create(Reactor& reactor, const CgroupLocation& location,
                                                               Callback on_oom) {
  if (location.unified) return WatchV2(reactor, location.unified_dir, std::move(on_oom));
  std::string memory = location.V1Dir("memory");
  if (memory.empty()) return absl::NotFoundError("container has no memory cgroup");
  return WatchV1(reactor, memory, std::move(on_oom));
}

absl::StatusOr<std::unique_ptr<OomWatcher>> OomWatcher::WatchV1(Reactor& reactor, const std::string& memory_dir,
                                                                Callback on_oom) {
  UniqueFd event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!event) return ErrnoStatus("eventfd");
  std::string oom_control_path = memory_dir + "/memory.oom_control";
  UniqueFd oom_control(::open(oom_control_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!oom_control) return ErrnoStatus(absl::StrCat("open ", oom_control_path));
  // "<event_fd> <oom_control_fd>": the kernel keeps its own references, ours may close after.
  std::string control_path = memory_dir + "/cgroup.event_control";
  UniqueFd control(::open(control_path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!control) return ErrnoStatus(absl::StrCat("open ", control_path));
  std::string request = absl::StrCat(event.get(), " ", oom_control.get());
  ssize_t written;
  do {
    written = ::write(control.get(), request.data(), request.size());
  } while (written < 0 && errno == EINTR);
  if (written < 0) return ErrnoStatus(absl::StrCat("write ", control_path));

  std::unique_ptr<OomWatcher> watcher(
      new OomWatcher(reactor, std::move(event), memory_dir, /*unified=*/false, 0, std::move(on_oom)));
  if (absl::Status status = watcher->Register(); !status.ok()) return status;
  return watcher;
}

absl::StatusOr<std::unique_ptr<OomWatcher>> OomWatcher::WatchV2(Reactor& reactor, const std::string& cgroup_dir,
                                                                Callback on_oom) {
  UniqueFd inotify(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify) return ErrnoStatus("inotify_init1");
  std::string events_path = cgroup_dir + "/memory.events";
  if (::inotify_add_watch(inotify.get(), events_path.c_str(), IN_MODIFY) < 0) {
    return ErrnoStatus(absl::StrCat("inotify_add_watch ", events_path));
  }
  // Kills before the watch started are not ours to report.
  absl::StatusOr<std::optional<uint64_t>> kills = ReadOomKills(cgroup_dir);
  if (!kills.ok()) return kills.status();
  if (!kills->has_value()) return absl::NotFoundError(absl::StrCat(events_path, " vanished"));

  std::unique_ptr<OomWatcher> watcher(
      new OomWatcher(reactor, std::move(inotify), cgroup_dir, /*unified=*/true, **kills, std::move(on_oom)));
  if (absl::Status status = watcher->Register(); !status.ok()) return status;
  return watcher;
}

absl::Status OomWatcher::Register() {
  return reactor_.Add(fd_.get(), EPOLLIN, [this](uint32_t) { Poll(); });
}

void OomWatcher::Stop() {
  if (!fd_) return;
  reactor_.Remove(fd_.get());
  fd_.reset();
}

void OomWatcher::Poll() {
  if (!fd_) return;
  if (unified_) {
    OnReadableV2();
  } else {
    OnReadableV1();
  }
}

void OomWatcher::Fire() {
  Callback callback = on_oom_;  // the callback may destroy this watcher
  callback();
}

void OomWatcher::OnReadableV1() {
  uint64_t count = 0;
  if (::read(fd_.get(), &count, sizeof count) != static_cast<ssize_t>(sizeof count)) {
    if (errno == EAGAIN || errno == EINTR) return;
    log::Warn("oom watcher: read eventfd for ", dir_, ": ", strerror(errno));
    Stop();
    return;
  }
  // The kernel also signals once when the cgroup is removed. Gone with a count above one means
  // an OOM came first (typical: the OOM-killed init exited and runc deleted the cgroup).
  bool gone = ::access((dir_ + "/memory.oom_control").c_str(), F_OK) != 0;
  if (gone) {
    Stop();
    if (count > 1) Fire();
    return;
  }
  Fire();
}

void OomWatcher::OnReadableV2() {
  alignas(struct inotify_event) char buffer[4096];
  bool removed = false;
  for (int rounds = 0; rounds < 64; ++rounds) {  // drain; a handful of events at most
    ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    for (ssize_t offset = 0; offset < n;) {
      const auto* event = reinterpret_cast<const struct inotify_event*>(buffer + offset);
      if (event->mask & (IN_IGNORED | IN_DELETE_SELF)) removed = true;
      offset += static_cast<ssize_t>(sizeof(struct inotify_event) + event->len);
    }
  }
  absl::StatusOr<std::optional<uint64_t>> kills = ReadOomKills(dir_);
  if (!kills.ok()) {
    log::Warn("oom watcher: ", kills.status().ToString());
    return;
  }
  if (!kills->has_value() || removed) Stop();
  if (kills->has_value() && **kills > oom_kills_) {
    oom_kills_ = **kills;
    Fire();
  }
}

}  // namespace airlock::cgroups
