// Tells the shim when the kernel's OOM killer struck inside a container's memory cgroup, so it
// can publish TaskOOM (containerd's pkg/oom: v1 epoller and v2 watcher).
//
//   v1: an eventfd registered through cgroup.event_control for memory.oom_control; the kernel
//       signals it per OOM situation (and once more when the cgroup is removed).
//   v2: inotify on memory.events; fires when its oom_kill counter has grown.
//
// When to register: after `runc create` returned (the cgroup exists, the container's init waits
// in it) and before `runc start`, so no OOM of the user's process can go unseen. Destroy the
// watcher when the container is deleted; it also stops by itself (active() turns false) once it
// sees the cgroup removed. (v1, best effort as in containerd: an OOM whose notification is
// still unread when the cgroup is removed is reported only if the removal's own signal has
// already arrived too; the shim deletes the cgroup after the exit anyway, see Poll().)
//
// Threading: Create, the callback and the destructor run on the reactor thread (Create may also
// run before Reactor::Run). The callback may destroy the watcher.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "shim/base/reactor.h"
#include "shim/base/unique_fd.h"
#include "shim/cgroups/cgroup_location.h"

namespace airlock::cgroups {

class OomWatcher {
 public:
  using Callback = std::function<void()>;

  // By `location.unified`: the v1 memory controller's directory or the cgroup2 directory.
  static absl::StatusOr<std::unique_ptr<OomWatcher>> Create(Reactor& reactor, const CgroupLocation& location,
                                                            Callback on_oom);
  static absl::StatusOr<std::unique_ptr<OomWatcher>> WatchV1(Reactor& reactor, const std::string& memory_dir,
                                                             Callback on_oom);
  // Works on any directory holding a memory.events file (tests use plain files).
  static absl::StatusOr<std::unique_ptr<OomWatcher>> WatchV2(Reactor& reactor, const std::string& cgroup_dir,
                                                             Callback on_oom);

  OomWatcher(const OomWatcher&) = delete;
  OomWatcher& operator=(const OomWatcher&) = delete;
  ~OomWatcher();

  // Handles a notification that is already pending, now, without waiting for the reactor's turn.
  // Call it when the container's init has been reaped and before TaskExit is published, so that
  // TaskOOM reaches containerd first (CRI reports "OOMKilled" only when it sees TaskOOM before
  // the exit). Reactor thread only. Does nothing when nothing is pending.
  void Poll();

  // False once the cgroup is gone (or reading it failed for good); no more callbacks then.
  bool active() const { return fd_.valid(); }

 private:
  OomWatcher(Reactor& reactor, UniqueFd fd, std::string dir, bool unified, uint64_t oom_kills, Callback on_oom);
  absl::Status Register();
  void OnReadableV1();
  void OnReadableV2();
  void Stop();
  void Fire();

  Reactor& reactor_;
  UniqueFd fd_;      // v1: eventfd; v2: inotify
  std::string dir_;  // memory controller / cgroup2 directory
  bool unified_;
  uint64_t oom_kills_;  // v2: last oom_kill seen in memory.events
  Callback on_oom_;
};

}  // namespace airlock::cgroups
