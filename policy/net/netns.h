// Persistent network namespaces, made the way `ip netns add` makes them: a new netns is created by
// a short-lived thread (unshare(CLONE_NEWNET) moves only that thread) and bind-mounted on a file
// under a run directory that is a shared mount point, so that the bind mount propagates into (and
// its removal out of) mount namespaces created later.
#pragma once

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "shim/base/unique_fd.h"

namespace airlock::net {

inline constexpr absl::string_view kDefaultNetnsDir = "/run/airlock/netns";

// A network namespace held open by fd. An owning handle (from Create) deletes its bind mount when
// destroyed unless released; a handle from Open only closes its fd.
class Netns {
 public:
  // Creates `dir`/`name` (AlreadyExists when the file is there: a live sandbox or a crash leftover
  // that Remove must clear first).
  static absl::StatusOr<Netns> Create(absl::string_view name, absl::string_view dir = kDefaultNetnsDir);
  // A new netns held only by its fd: nothing on the filesystem, nothing to clean up after a crash
  // (it dies with its last process). path() is "/proc/<pid>/fd/<fd>", which runc can join while
  // this handle lives.
  static absl::StatusOr<Netns> CreateAnonymous();
  // Opens an existing netns by path (a bind mount, /proc/PID/ns/net, ...). Not owning.
  static absl::StatusOr<Netns> Open(absl::string_view path);
  // Unmounts and unlinks `dir`/`name`; success when it does not exist. For cleanup after crashes.
  static absl::Status Remove(absl::string_view name, absl::string_view dir = kDefaultNetnsDir);

  Netns() = default;
  Netns(Netns&& other) noexcept
      : fd_(std::move(other.fd_)), path_(std::move(other.path_)), owned_(std::exchange(other.owned_, false)) {}
  Netns& operator=(Netns&& other) noexcept;
  ~Netns();

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  bool owned() const { return owned_; }

  // Deletes the bind mount (owning handles) and closes the fd. Idempotent.
  absl::Status Delete();
  // Keeps the bind mount alive past this handle (it becomes non-owning).
  void Release() { owned_ = false; }

 private:
  Netns(UniqueFd fd, std::string path, bool owned) : fd_(std::move(fd)), path_(std::move(path)), owned_(owned) {}

  UniqueFd fd_;
  std::string path_;
  bool owned_ = false;
};

}  // namespace airlock::net
