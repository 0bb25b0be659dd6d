// The cgroups of every container of one shim: located once when the container is created (its
// init sits in them), then used for Stats and watched for OOM kills until the container is deleted.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/any.pb.h"
#include "shim/base/reactor.h"
#include "shim/cgroups/cgroup_location.h"
#include "shim/cgroups/oom_watcher.h"

namespace airlock::cgroups {

class ContainerCgroups {
 public:
  // `on_oom(id)` runs on the reactor thread.
  ContainerCgroups(Reactor& reactor, std::function<void(const std::string& id)> on_oom);
  ~ContainerCgroups();

  // Any thread. Locates the cgroups of `pid` and starts OOM watching (on the reactor thread).
  void Add(const std::string& id, pid_t pid);
  // Any thread.
  void Remove(const std::string& id);
  // Any thread: where Add found the container's cgroups.
  absl::StatusOr<CgroupLocation> Location(const std::string& id) const;
  // Any thread: metrics as containerd's Stats returns them.
  absl::StatusOr<google::protobuf::Any> Stats(const std::string& id) const;
  // Reactor thread: delivers an OOM notification already pending, before the exit is reported.
  void PollOom(const std::string& id);

 private:
  Reactor& reactor_;
  std::function<void(const std::string&)> on_oom_;
  mutable std::mutex mu_;
  std::map<std::string, CgroupLocation> locations_;
  std::map<std::string, std::unique_ptr<OomWatcher>> watchers_;  // reactor thread only
};

}  // namespace airlock::cgroups
