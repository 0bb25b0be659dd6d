// The setup cache in containerd: each entry is two committed snapshots held by one lease, all
// labelled with the entry's key, so `ctr snapshots ls` and `ctr leases ls` show them and
// containerd's garbage collector removes them when the lease goes (at the latest when the lease's
// containerd.io/gc.expire passes: the entry's ttl).
//   airlock-cache/<key>/rootfs     what setup changed in the rootfs (the run's own active snapshot,
//                                  committed at the seal), on the image's chain; its labels carry
//                                  the provenance, and it is committed last: it existing means the
//                                  entry is complete
//   airlock-cache/<key>/workspace  the files setup added to the workspace that git does not track
//   lease airlock-cache-<key>      made first: a second writer of the same key is refused by
//                                  containerd (AlreadyExists), so nobody sees a half-written entry
// A sandbox only ever gets an entry as a read-only lower layer (the rootfs as the parent of its
// snapshot, the workspace as the lower layer of an overlay): no sandbox can change an entry.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cmd/airlock/containerd/connection.h"
#include "cmd/airlock/containerd/services.h"

namespace airlock::cache {

inline constexpr char kKeyLabel[] = "airlock.dev/cache";
inline constexpr char kLabelPrefix[] = "airlock.dev/cache.";
// An entry still being written after this long has lost its writer (killed): removed.
inline constexpr absl::Duration kAbandonedAfter = absl::Hours(1);

struct EntryNames {
  std::string lease;
  std::string rootfs;
  std::string workspace;
  std::string workspace_writing;  // the workspace layer's active snapshot while it is filled
};
EntryNames NamesOf(const std::string& key);
bool IsCacheKey(const std::string& text);

struct Entry {
  std::string key;
  bool complete = false;  // the rootfs snapshot is committed
  absl::Time lease_created = absl::InfinitePast();
  absl::Time created = absl::InfinitePast();
  absl::Time expires = absl::InfinitePast();
  absl::Time last_used = absl::InfinitePast();
  int64_t hits = 0;
  // The rootfs snapshot's labels of this entry (kLabelPrefix + name -> value), provenance included.
  std::map<std::string, std::string> labels;
  std::string Label(const std::string& name) const;
};

// A label's value from bytes of any kind: escaped (labels are UTF-8 text), and past `max` bytes cut
// with the cut said ("... (N bytes in all)"): a label never silently holds part of a value.
std::string LabelText(const std::string& bytes, size_t max = 1024);

class CacheStore {
 public:
  CacheStore(containerd::Connection& c, std::string snapshotter) : c_(c), snapshotter_(std::move(snapshotter)) {}

  // nullopt: no trace of the key (neither complete nor being written).
  absl::StatusOr<std::optional<Entry>> Find(const std::string& key);
  // Every entry (complete or not), oldest first.
  absl::StatusOr<std::vector<Entry>> List();
  // Bytes of both layers.
  absl::StatusOr<int64_t> SizeOf(const std::string& key);
  // Snapshots, then the lease (with a synchronous collection). A snapshot still used by a sandbox
  // (its parent) cannot go: the lease still goes, and containerd removes it once that sandbox is
  // gone. Absent parts are fine.
  absl::Status Remove(const std::string& key);
  // hits + 1, last used now.
  absl::Status NoteHit(const Entry& entry);

  struct Removal {
    std::string key;
    std::string why;  // "expired 2h ago", "abandoned while being written", "least recently used"
    int64_t bytes = 0;
  };
  // What `prune` does: entries past their ttl, writes abandoned for kAbandonedAfter, then the least
  // recently used complete entries until all together hold at most `max_bytes` (`keep`, if given,
  // goes last). Returns what was removed.
  absl::StatusOr<std::vector<Removal>> Prune(uint64_t max_bytes, const std::string& keep = "");

  class Writer;
  // AlreadyExists: another run writes (or has written) this key.
  absl::StatusOr<std::unique_ptr<Writer>> BeginWrite(const std::string& key, absl::Duration ttl, const std::string& run_id);

  // A read-only view of the entry's workspace layer under `view_key` (held by lease `lease`):
  // the layer's directory on the host.
  absl::StatusOr<std::string> ViewWorkspace(const std::string& key, const std::string& view_key, const std::string& lease);

  containerd::Connection& connection() { return c_; }
  const std::string& snapshotter() const { return snapshotter_; }

 private:
  containerd::Connection& c_;
  std::string snapshotter_;
};

// One entry being written. Unless Finish() succeeded, its destructor removes what was made.
class CacheStore::Writer {
 public:
  ~Writer();
  // The workspace layer's directory on the host (empty, to be filled).
  const std::string& workspace_dir() const { return workspace_dir_; }
  absl::Status CommitWorkspace();
  // Commits the run's active rootfs snapshot `active_key` as the entry's rootfs with `labels`
  // (kLabelPrefix names); the entry is complete.
  absl::Status Finish(const std::string& active_key, const std::map<std::string, std::string>& labels);
  absl::Time created() const { return created_; }
  absl::Time expires() const { return expires_; }

 private:
  friend class CacheStore;
  Writer(CacheStore& store, std::string key) : store_(store), key_(std::move(key)), names_(NamesOf(key_)) {}
  CacheStore& store_;
  std::string key_;
  EntryNames names_;
  std::string workspace_dir_;
  absl::Time created_, expires_;
  bool workspace_committed_ = false;
  bool finished_ = false;
};

// The host directory of a snapshot given as a single bind mount (what the overlayfs and native
// snapshotters give for a layer without parents, or a view of one committed layer).
absl::StatusOr<std::string> BindSource(const containerd::Mounts& mounts, const std::string& snapshotter);

}  // namespace airlock::cache
