// The setup cache as one `airlock run` uses it (cache_store.h holds the entries):
//   Consult  the key from the run's inputs; hit, miss or stale, and why (the first progress line)
//   hit      the sandbox's rootfs snapshot is prepared on the entry's rootfs layer, and its
//            workspace is an overlay: the entry's workspace layer (read-only, laid without
//            copying) below, the new HEAD's files and everything the sandbox writes in a tmpfs
//            above; setup is skipped, the maintenance command (if any) runs in its place
//   miss     after the seal was verified (setup done, rootfs read-only, secrets swept, the agent
//            not started yet), Capture writes the entry: the untracked files setup added to the
//            workspace, copied into a layer of their own, and the rootfs' changes, the run's
//            own snapshot committed. Both are searched for the secrets' values first: a value
//            anywhere and nothing is written.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cmd/airlock/cache/cache_key.h"
#include "cmd/airlock/cache/cache_store.h"
#include "cmd/airlock/run/tree_checkout.h"
#include "policy/sandbox/secret_scan.h"

namespace airlock::cache {

enum class Verdict { kHit, kMiss, kStale };
const char* ToString(Verdict v);

// A workspace laid over an entry (SetupCache::LayWorkspace): the view of the entry's workspace
// layer (and its lease), the tmpfs with the upper layer, the overlay. Released (unmounted, view and
// lease removed) by Release() or, silently, by the destructor.
class CachedWorkspace {
 public:
  CachedWorkspace(containerd::Connection& c, std::string snapshotter) : c_(c), snapshotter_(std::move(snapshotter)) {}
  ~CachedWorkspace() { Release(); }
  CachedWorkspace(const CachedWorkspace&) = delete;
  CachedWorkspace& operator=(const CachedWorkspace&) = delete;

  // Problems as lines (bounded, never throws); safe to call twice.
  std::vector<std::string> Release();
  // The host mounts it holds (for the leftover check's "ours, not the sandbox's").
  std::vector<std::string> mount_points() const;

 private:
  friend class SetupCache;
  containerd::Connection& c_;
  std::string snapshotter_;
  std::string view_lease_, view_key_, overlay_dir_, layer_dir_;
  bool view_lease_made_ = false, view_made_ = false, overlay_mounted_ = false, layer_mounted_ = false;
};

struct CaptureResult {
  std::string summary;   // for the progress line
  std::vector<std::string> evicted;  // "<key> (<why>)"
};

class SetupCache {
 public:
  // Looks the key up. Errors are containerd's (the run then fails: a cache that cannot be
  // consulted is not silently skipped).
  static absl::StatusOr<std::unique_ptr<SetupCache>> Consult(containerd::Connection& c, const std::string& snapshotter,
                                                             const std::string& run_id, KeyInputs inputs,
                                                             absl::Duration ttl, uint64_t max_bytes);
  ~SetupCache();

  Verdict verdict() const { return verdict_; }
  const std::string& why() const { return why_; }
  const std::string& key() const { return key_; }
  const KeyInputs& inputs() const { return inputs_; }
  const std::optional<Entry>& entry() const { return entry_; }
  // A miss that may write the entry (nobody else is writing it).
  bool may_write() const { return may_write_; }
  // The entry exists and may be used: a hit, or a miss whose Capture wrote it.
  bool usable() const { return verdict_ == Verdict::kHit || written_; }
  // The parent of a sandbox's rootfs snapshot that starts from the entry.
  std::string rootfs_parent() const;

  // The entry's workspace layer under an overlay at `dir` (an empty directory), its upper layer in
  // a tmpfs of `size` at `layer_dir` (an empty directory); `user` names the view (a sandbox id).
  // Refused (FailedPrecondition) when the layer holds something at a path `tree` tracks: the run
  // then goes on as a miss (DemoteToMiss) and writes nothing. On an error nothing is left.
  absl::StatusOr<std::unique_ptr<CachedWorkspace>> LayWorkspace(const std::string& user, const std::string& dir,
                                                                const std::string& layer_dir, uint64_t size,
                                                                const run::Owner& owner, const run::BaseTree& tree);
  void DemoteToMiss(const std::string& why);
  absl::Status NoteHit();

  // Miss: writes the entry (see the header comment). `workspace` is the sandbox's workspace on the
  // host, `active_key` its rootfs snapshot and `rootfs` that snapshot's mounts (the overlay's
  // upperdir is searched). FailedPrecondition carries why nothing was written (a secret found,
  // another writer); other errors are failures of the write itself; either way nothing is left.
  absl::StatusOr<CaptureResult> Capture(const std::string& workspace, const run::BaseTree& base,
                                        const std::string& active_key, const containerd::Mounts& rootfs,
                                        const std::vector<Secret>& secrets, const run::Owner& owner,
                                        const std::string& description);


 private:
  SetupCache(containerd::Connection& c, std::string snapshotter) : store_(c, std::move(snapshotter)) {}
  absl::Status Lay(CachedWorkspace& w, const std::string& user, const std::string& dir, const std::string& layer_dir,
                   uint64_t size, const run::Owner& owner, const run::BaseTree& tree);

  CacheStore store_;
  std::string run_id_;
  KeyInputs inputs_;
  std::string key_;
  absl::Duration ttl_;
  uint64_t max_bytes_ = 0;
  Verdict verdict_ = Verdict::kMiss;
  std::string why_;
  std::optional<Entry> entry_;
  bool may_write_ = false;
  bool written_ = false;
};

}  // namespace airlock::cache
