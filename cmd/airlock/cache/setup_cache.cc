#include "cmd/airlock/cache/setup_cache.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cmd/airlock/cache/workspace_capture.h"
#include "cmd/airlock/run/leftovers.h"
#include "policy/duration_size.h"
#include "shim/base/terminal_text.h"
#include "shim/base/unique_fd.h"

namespace airlock::cache {
namespace {

std::string Age(absl::Duration d) { return absl::FormatDuration(absl::Trunc(d, absl::Seconds(1))); }

absl::StatusOr<UniqueFd> OpenDirectory(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return absl::InternalError(absl::StrCat("open ", path, ": ", strerror(errno)));
  return fd;
}

// The host directory holding what the sandbox wrote to its rootfs: the overlay's upper layer (or,
// for a snapshotter of plain directories, the whole root).
absl::StatusOr<std::string> RootfsChangesDir(const containerd::Mounts& rootfs) {
  if (rootfs.size() == 1 && rootfs[0].type() == "overlay") {
    for (const std::string& option : rootfs[0].options()) {
      if (absl::StartsWith(option, "upperdir=")) return option.substr(9);
    }
  }
  if (rootfs.size() == 1 && rootfs[0].type() == "bind" && !rootfs[0].source().empty()) return rootfs[0].source();
  return absl::FailedPreconditionError("the sandbox's rootfs is neither an overlay with an upper layer nor a directory");
}

// Secrets as findings -> one line that names each (never a value).
std::string FindingsText(const std::vector<SecretFinding>& findings) {
  std::vector<std::string> words;
  for (const SecretFinding& f : findings) words.push_back(absl::StrCat("secret ", f.secret, " in ", f.where));
  return absl::StrJoin(words, "; ");
}

}  // namespace

const char* ToString(Verdict v) {
  switch (v) {
    case Verdict::kHit: return "hit";
    case Verdict::kStale: return "stale";
    case Verdict::kMiss: break;
  }
  return "miss";
}

absl::StatusOr<std::unique_ptr<SetupCache>> SetupCache::Consult(containerd::Connection& c, const std::string& snapshotter,
                                                                const std::string& run_id, KeyInputs inputs,
                                                                absl::Duration ttl, uint64_t max_bytes) {
  std::unique_ptr<SetupCache> cache(new SetupCache(c, snapshotter));
  cache->run_id_ = run_id;
  cache->inputs_ = std::move(inputs);
  cache->key_ = CacheKey(cache->inputs_);
  cache->ttl_ = ttl;
  cache->max_bytes_ = max_bytes;
  absl::StatusOr<std::optional<Entry>> found = cache->store_.Find(cache->key_);
  if (!found.ok()) return absl::Status(found.status().code(), absl::StrCat("setup cache: ", found.status().message()));
  const absl::Time now = absl::Now();
  if (!*found) {
    cache->why_ = "no entry for this key yet";
    cache->may_write_ = true;
    return cache;
  }
  const Entry& e = **found;
  if (!e.complete) {
    if (now - e.lease_created < kAbandonedAfter) {
      cache->why_ = absl::StrCat("another run is writing this entry (for ", Age(now - e.lease_created),
                                 "): this run neither uses nor writes it");
      return cache;
    }
    if (absl::Status s = cache->store_.Remove(cache->key_); !s.ok()) return s;
    cache->why_ = absl::StrCat("a write abandoned ", Age(now - e.lease_created), " ago was removed");
    cache->may_write_ = true;
    return cache;
  }
  if (now >= e.expires) {
    if (absl::Status s = cache->store_.Remove(cache->key_); !s.ok()) return s;
    cache->verdict_ = Verdict::kStale;
    cache->why_ = absl::StrCat("made ", Age(now - e.created), " ago, past its ttl of ", Age(e.expires - e.created),
                               ": removed");
    cache->may_write_ = true;
    return cache;
  }
  // The key holds the repository's identity; its label must say the same (never another's).
  if (e.Label("root-commit") != cache->inputs_.repository.root_commit) {
    cache->why_ = "the entry was made for another repository: not used";
    return cache;
  }
  cache->verdict_ = Verdict::kHit;
  cache->entry_ = e;
  cache->why_ = absl::StrCat("made ", Age(now - e.created), " ago by ", e.Label("made-by"), ", used ", e.hits,
                             " time(s) since; expires in ", Age(e.expires - now));
  return cache;
}

SetupCache::~SetupCache() = default;

std::string SetupCache::rootfs_parent() const { return NamesOf(key_).rootfs; }

void SetupCache::DemoteToMiss(const std::string& why) {
  verdict_ = Verdict::kMiss;
  why_ = why;
  may_write_ = false;  // the entry exists: it is not replaced by this run
}

absl::Status SetupCache::NoteHit() { return entry_ ? store_.NoteHit(*entry_) : absl::OkStatus(); }

absl::StatusOr<std::unique_ptr<CachedWorkspace>> SetupCache::LayWorkspace(const std::string& user, const std::string& dir,
                                                                          const std::string& layer_dir, uint64_t size,
                                                                          const run::Owner& owner, const run::BaseTree& tree) {
  auto laid = std::make_unique<CachedWorkspace>(store_.connection(), store_.snapshotter());
  absl::Status s = Lay(*laid, user, dir, layer_dir, size, owner, tree);
  if (s.ok()) return laid;
  std::vector<std::string> problems = laid->Release();
  if (problems.empty()) return s;
  return absl::InternalError(absl::StrCat(s.message(), "; and undoing it: ", absl::StrJoin(problems, "; ")));
}

absl::Status SetupCache::Lay(CachedWorkspace& w, const std::string& user, const std::string& dir,
                             const std::string& layer_dir, uint64_t size, const run::Owner& owner,
                             const run::BaseTree& tree) {
  containerd::Connection& c = store_.connection();
  w.view_lease_ = absl::StrCat("airlock-run-", user, "-cache");
  std::string expire = absl::FormatTime(absl::RFC3339_sec, absl::Now() + absl::Hours(24), absl::UTCTimeZone());
  if (absl::Status s = containerd::CreateLease(c, w.view_lease_, {{"airlock.dev/run", run_id_}, {"containerd.io/gc.expire", expire}});
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("the cache view's lease: ", s.message()));
  }
  w.view_lease_made_ = true;
  w.view_key_ = absl::StrCat("airlock-run-", user, "/cache-workspace");
  absl::StatusOr<std::string> lower = store_.ViewWorkspace(key_, w.view_key_, w.view_lease_);
  if (!lower.ok()) return absl::Status(lower.status().code(), absl::StrCat("the cache's workspace layer: ", lower.status().message()));
  w.view_made_ = true;
  if (lower->find_first_of(",:\\\n") != std::string::npos) {
    return absl::FailedPreconditionError(absl::StrCat("the cache's workspace layer ", EscapeForTerminal(*lower, false),
                                                      " cannot be an overlay lower directory (',' ':' or '\\\\' in it)"));
  }
  absl::StatusOr<UniqueFd> lower_fd = OpenDirectory(*lower);
  if (!lower_fd.ok()) return lower_fd.status();
  if (absl::Status s = CheckLowerAgainstTree(lower_fd->get(), tree); !s.ok()) return s;

  std::string options = absl::StrCat("size=", size, ",mode=0755");
  if (mount(run::kWorkspaceTmpfsSource, layer_dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("the workspace's tmpfs at ", layer_dir, ": ", strerror(errno)));
  }
  w.layer_dir_ = layer_dir;
  w.layer_mounted_ = true;
  const std::string upper = layer_dir + "/upper", work = layer_dir + "/work";
  if (mkdir(upper.c_str(), 0755) != 0 || mkdir(work.c_str(), 0700) != 0 || chown(upper.c_str(), owner.uid, owner.gid) != 0) {
    return absl::InternalError(absl::StrCat("the workspace's layers in ", layer_dir, ": ", strerror(errno)));
  }
  std::string overlay = absl::StrCat("lowerdir=", *lower, ",upperdir=", upper, ",workdir=", work);
  if (mount(run::kWorkspaceOverlaySource, dir.c_str(), "overlay", MS_NOSUID | MS_NODEV, overlay.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("the workspace's overlay at ", dir, ": ", strerror(errno)));
  }
  w.overlay_dir_ = dir;
  w.overlay_mounted_ = true;
  return absl::OkStatus();
}

std::vector<std::string> CachedWorkspace::Release() {
  std::vector<std::string> problems;
  auto unmount = [&](const std::string& path, bool& mounted) {
    if (!mounted) return;
    if (umount2(path.c_str(), 0) != 0) {
      int err = errno;
      if (umount2(path.c_str(), MNT_DETACH) != 0) {
        problems.push_back(absl::StrCat("unmount ", path, ": ", strerror(errno)));
        return;
      }
      problems.push_back(absl::StrCat(path, " was still busy (", strerror(err), "): detached"));
    }
    mounted = false;
  };
  unmount(overlay_dir_, overlay_mounted_);
  unmount(layer_dir_, layer_mounted_);
  containerd::CallOptions cleanup{.timeout = absl::Seconds(30), .uncancellable = true};
  cleanup.lease = "";
  if (view_made_) {
    absl::Status s = containerd::RemoveSnapshot(c_, snapshotter_, view_key_, cleanup);
    if (!s.ok() && !absl::IsNotFound(s)) problems.push_back(absl::StrCat("remove the cache view: ", s.message()));
    view_made_ = false;
  }
  if (view_lease_made_) {
    absl::Status s = containerd::DeleteLease(c_, view_lease_, cleanup);
    if (!s.ok() && !absl::IsNotFound(s)) problems.push_back(absl::StrCat("delete lease ", view_lease_, ": ", s.message()));
    view_lease_made_ = false;
  }
  return problems;
}

std::vector<std::string> CachedWorkspace::mount_points() const {
  std::vector<std::string> points;
  if (overlay_mounted_) points.push_back(overlay_dir_);
  if (layer_mounted_) points.push_back(layer_dir_);
  return points;
}

absl::StatusOr<CaptureResult> SetupCache::Capture(const std::string& workspace, const run::BaseTree& base,
                                                  const std::string& active_key, const containerd::Mounts& rootfs,
                                                  const std::vector<Secret>& secrets, const run::Owner& owner,
                                                  const std::string& description) {
  if (!may_write_) return absl::FailedPreconditionError(why_);
  may_write_ = false;  // one try
  absl::StatusOr<std::unique_ptr<CacheStore::Writer>> writer = store_.BeginWrite(key_, ttl_, run_id_);
  if (absl::IsAlreadyExists(writer.status())) {
    return absl::FailedPreconditionError("another run wrote or is writing this entry meanwhile");
  }
  if (!writer.ok()) return writer.status();
  const absl::Time started = absl::Now();

  // The workspace: what setup added that git does not track.
  absl::StatusOr<UniqueFd> from = OpenDirectory(workspace);
  if (!from.ok()) return from.status();
  absl::StatusOr<UniqueFd> to = OpenDirectory((*writer)->workspace_dir());
  if (!to.ok()) return to.status();
  SecretScanner scanner(secrets);
  CaptureLimits limits;
  limits.max_bytes = std::min<uint64_t>(limits.max_bytes, max_bytes_);
  absl::StatusOr<CaptureStats> stats = CaptureUntracked(from->get(), base, to->get(), owner, limits, scanner);
  if (!stats.ok()) {
    if (absl::IsResourceExhausted(stats.status())) return absl::FailedPreconditionError(stats.status().message());
    return stats.status();
  }
  if (!scanner.findings().empty()) {
    return absl::FailedPreconditionError(absl::StrCat("a secret's value is in what setup left in the workspace (",
                                                      FindingsText(scanner.findings()), ")"));
  }
  if (absl::Status s = (*writer)->CommitWorkspace(); !s.ok()) return s;

  // The rootfs: read-only since the seal; searched again here, whatever the seal's sweep did.
  absl::StatusOr<std::string> changes = RootfsChangesDir(rootfs);
  if (!changes.ok()) return changes.status();
  absl::StatusOr<UniqueFd> changes_fd = OpenDirectory(*changes);
  if (!changes_fd.ok()) return changes_fd.status();
  SecretScanner rootfs_scanner(secrets);
  ScanLimits scan_limits;
  absl::StatusOr<uint64_t> scanned = ScanTreeForSecrets(changes_fd->get(), rootfs_scanner, scan_limits);
  if (!scanned.ok()) {
    if (absl::IsResourceExhausted(scanned.status())) return absl::FailedPreconditionError(scanned.status().message());
    return scanned.status();
  }
  if (!rootfs_scanner.findings().empty()) {
    return absl::FailedPreconditionError(absl::StrCat("a secret's value is in what setup changed in the rootfs (",
                                                      FindingsText(rootfs_scanner.findings()), ")"));
  }

  std::vector<std::string> key_files;
  for (const KeyFile& f : inputs_.key_files) key_files.push_back(absl::StrCat(f.path, " ", f.content));
  std::map<std::string, std::string> labels = {
      {absl::StrCat(kLabelPrefix, "made-by"), run_id_},
      {absl::StrCat(kLabelPrefix, "image"), LabelText(absl::StrCat(inputs_.image_name, "@", inputs_.image_digest))},
      {absl::StrCat(kLabelPrefix, "policy"), inputs_.policy_digest},
      {absl::StrCat(kLabelPrefix, "setup"), LabelText(inputs_.setup_command)},
      {absl::StrCat(kLabelPrefix, "root-commit"), inputs_.repository.root_commit},
      {absl::StrCat(kLabelPrefix, "remote"), LabelText(inputs_.repository.remote)},
      {absl::StrCat(kLabelPrefix, "key-files"), LabelText(absl::StrJoin(key_files, "; "), 2048)},
      {absl::StrCat(kLabelPrefix, "description"), LabelText(description)},
      {absl::StrCat(kLabelPrefix, "workspace-files"), std::to_string(stats->files)},
      {absl::StrCat(kLabelPrefix, "workspace-bytes"), std::to_string(stats->bytes)},
  };
  if (absl::Status s = (*writer)->Finish(active_key, labels); !s.ok()) return s;
  written_ = true;

  CaptureResult result;
  result.summary = absl::StrCat("written: key ", key_, ", ", stats->files, " file(s) / ", policy::HumanByteSize(stats->bytes),
                                " of untracked workspace files and the rootfs' changes (", policy::HumanByteSize(*scanned),
                                " searched) in ", absl::FormatDuration(absl::Trunc(absl::Now() - started, absl::Milliseconds(1))),
                                "; expires in ", Age(ttl_));
  if (!stats->skipped.empty()) absl::StrAppend(&result.summary, "; not kept: ", stats->skipped.size(), " fifo/socket/device(s)");
  absl::StatusOr<std::vector<CacheStore::Removal>> evicted = store_.Prune(max_bytes_, key_);
  if (evicted.ok()) {
    for (const CacheStore::Removal& r : *evicted) {
      result.evicted.push_back(absl::StrCat(r.key, " (", r.why, ", ", policy::HumanByteSize(static_cast<uint64_t>(r.bytes)), ")"));
    }
  } else {
    result.evicted.push_back(absl::StrCat("pruning failed: ", evicted.status().message()));
  }
  return result;
}

}  // namespace airlock::cache
