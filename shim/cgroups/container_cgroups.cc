#include "shim/cgroups/container_cgroups.h"

#include "absl/strings/str_cat.h"
#include "shim/base/log.h"
#include "shim/cgroups/stats.h"

namespace airlock::cgroups {

ContainerCgroups::ContainerCgroups(Reactor& reactor, std::function<void(const std::string&)> on_oom)
    : reactor_(reactor), on_oom_(std::move(on_oom)) {}

ContainerCgroups::~ContainerCgroups() = default;

void ContainerCgroups::Add(const std::string& id, pid_t pid) {
  absl::StatusOr<CgroupLocation> location = ResolveCgroups(pid);
  if (!location.ok()) {
    log::Warn("cgroups of ", id, ": ", location.status().message());
    return;
  }
  {
    std::lock_guard lock(mu_);
    locations_[id] = *location;
  }
  reactor_.Post([this, id, location = *location] {
    absl::StatusOr<std::unique_ptr<OomWatcher>> watcher =
        OomWatcher::Create(reactor_, location, [this, id] { on_oom_(id); });
    if (!watcher.ok()) {
      log::Warn("OOM watch of ", id, ": ", watcher.status().message());
      return;
    }
    watchers_[id] = std::move(*watcher);
  });
}

void ContainerCgroups::Remove(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    locations_.erase(id);
  }
  reactor_.Post([this, id] { watchers_.erase(id); });
}

absl::StatusOr<CgroupLocation> ContainerCgroups::Location(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = locations_.find(id);
  if (it == locations_.end()) return absl::NotFoundError(absl::StrCat("cgroup of ", id, " does not exist"));
  return it->second;
}

absl::StatusOr<google::protobuf::Any> ContainerCgroups::Stats(const std::string& id) const {
  absl::StatusOr<CgroupLocation> location = Location(id);
  if (!location.ok()) return location.status();
  return CollectStats(*location);
}

void ContainerCgroups::PollOom(const std::string& id) {
  auto it = watchers_.find(id);
  if (it != watchers_.end() && it->second->active()) it->second->Poll();
}

}  // namespace airlock::cgroups
