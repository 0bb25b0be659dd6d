#include "cmd/airlock/cache/cache_store.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "shim/base/terminal_text.h"

namespace airlock::cache {
namespace {

constexpr char kRootfsSuffix[] = "/rootfs";
constexpr char kExpireLabel[] = "containerd.io/gc.expire";

std::string TimeText(absl::Time t) { return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone()); }

absl::Time ParseTime(const std::string& text) {
  absl::Time t;
  std::string error;
  if (text.empty() || !absl::ParseTime(absl::RFC3339_full, text, &t, &error)) return absl::InfinitePast();
  return t;
}

containerd::CallOptions WithLease(const std::string& lease) {
  containerd::CallOptions options;
  options.lease = lease;
  return options;
}

bool Gone(const absl::Status& s) { return s.ok() || absl::IsNotFound(s); }

}  // namespace

EntryNames NamesOf(const std::string& key) {
  std::string base = "airlock-cache/" + key;
  return {"airlock-cache-" + key, base + kRootfsSuffix, base + "/workspace", base + "/workspace-writing"};
}

bool IsCacheKey(const std::string& text) {
  return text.size() == 32 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string Entry::Label(const std::string& name) const {
  auto it = labels.find(kLabelPrefix + name);
  return it == labels.end() ? "" : it->second;
}

std::string LabelText(const std::string& bytes, size_t max) {
  std::string text = EscapeForTerminal(bytes, false);
  if (text.size() <= max) return text;
  // Cut on a character boundary (EscapeForTerminal's output is UTF-8).
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(text.substr(0, cut), "... (", bytes.size(), " bytes in all)");
}

absl::StatusOr<std::string> BindSource(const containerd::Mounts& mounts, const std::string& snapshotter) {
  if (mounts.size() != 1 || mounts[0].type() != "bind" || mounts[0].source().empty() || mounts[0].source()[0] != '/') {
    std::string what = mounts.empty() ? std::string("no mount") : absl::StrCat(mounts.size(), " mount(s) of type ", mounts[0].type());
    return absl::FailedPreconditionError(absl::StrCat("snapshotter ", snapshotter, " gives ", what,
                                                      " for a single layer: the setup cache needs overlayfs or native"));
  }
  return mounts[0].source();
}

absl::StatusOr<std::optional<Entry>> CacheStore::Find(const std::string& key) {
  EntryNames names = NamesOf(key);
  Entry entry;
  entry.key = key;
  absl::StatusOr<containerd::api::snapshots::Info> info = containerd::StatSnapshot(c_, snapshotter_, names.rootfs);
  if (info.ok()) {
    entry.complete = true;
    for (const auto& [k, v] : info->labels()) {
      if (absl::StartsWith(k, kLabelPrefix)) entry.labels[k] = v;
    }
    entry.created = ParseTime(entry.Label("created"));
    entry.expires = ParseTime(entry.Label("expires"));
    entry.last_used = ParseTime(entry.Label("last-used"));
    if (!absl::SimpleAtoi(entry.Label("hits"), &entry.hits)) entry.hits = 0;
  } else if (!absl::IsNotFound(info.status())) {
    return info.status();
  }
  absl::StatusOr<std::vector<containerd::LeaseInfo>> leases = containerd::ListLeases(c_, "id==" + names.lease);
  if (!leases.ok()) return leases.status();
  for (const containerd::LeaseInfo& lease : *leases) {
    if (lease.id == names.lease) entry.lease_created = lease.created;
  }
  if (!entry.complete && entry.lease_created == absl::InfinitePast()) return std::nullopt;
  return entry;
}

absl::StatusOr<std::vector<Entry>> CacheStore::List() {
  absl::StatusOr<std::vector<containerd::LeaseInfo>> leases =
      containerd::ListLeases(c_, absl::StrCat("labels.\"", kKeyLabel, "\""));
  if (!leases.ok()) return leases.status();
  std::vector<Entry> entries;
  for (const containerd::LeaseInfo& lease : *leases) {
    auto key = lease.labels.find(kKeyLabel);
    if (key == lease.labels.end() || !IsCacheKey(key->second) || lease.id != NamesOf(key->second).lease) continue;
    absl::StatusOr<std::optional<Entry>> entry = Find(key->second);
    if (!entry.ok()) return entry.status();
    if (*entry) entries.push_back(**entry);
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    absl::Time ta = a.complete ? a.created : a.lease_created, tb = b.complete ? b.created : b.lease_created;
    return ta != tb ? ta < tb : a.key < b.key;
  });
  return entries;
}

absl::StatusOr<int64_t> CacheStore::SizeOf(const std::string& key) {
  EntryNames names = NamesOf(key);
  int64_t total = 0;
  for (const std::string& name : {names.rootfs, names.workspace}) {
    absl::StatusOr<int64_t> used = containerd::SnapshotUsage(c_, snapshotter_, name);
    if (used.ok()) {
      total += *used;
    } else if (!absl::IsNotFound(used.status())) {
      return used.status();
    }
  }
  return total;
}

absl::Status CacheStore::Remove(const std::string& key) {
  EntryNames names = NamesOf(key);
  containerd::CallOptions cleanup{.timeout = absl::Seconds(60), .uncancellable = true};
  for (const std::string& name : {names.rootfs, names.workspace, names.workspace_writing}) {
    absl::Status s = containerd::RemoveSnapshot(c_, snapshotter_, name, cleanup);
    // A layer a sandbox still stands on stays until that sandbox is gone: the lease's removal
    // below then lets the collector take it.
    if (!Gone(s) && !absl::IsFailedPrecondition(s)) return s;
  }
  absl::Status s = containerd::DeleteLease(c_, names.lease, cleanup);
  return Gone(s) ? absl::OkStatus() : s;
}

absl::Status CacheStore::NoteHit(const Entry& entry) {
  return containerd::UpdateSnapshotLabels(c_, snapshotter_, NamesOf(entry.key).rootfs,
                                          {{absl::StrCat(kLabelPrefix, "hits"), std::to_string(entry.hits + 1)},
                                           {absl::StrCat(kLabelPrefix, "last-used"), TimeText(absl::Now())}});
}

absl::StatusOr<std::vector<CacheStore::Removal>> CacheStore::Prune(uint64_t max_bytes, const std::string& keep) {
  absl::StatusOr<std::vector<Entry>> entries = List();
  if (!entries.ok()) return entries.status();
  const absl::Time now = absl::Now();
  std::vector<Removal> removed;
  struct Sized {
    Entry entry;
    int64_t bytes;
  };
  std::vector<Sized> kept;
  uint64_t total = 0;
  for (const Entry& e : *entries) {
    std::string why;
    if (e.complete && now >= e.expires) why = absl::StrCat("expired ", absl::FormatDuration(absl::Trunc(now - e.expires, absl::Seconds(1))), " ago");
    if (!e.complete && now - e.lease_created >= kAbandonedAfter) why = "abandoned while being written";
    if (!e.complete && why.empty()) continue;  // a write in progress: not ours to judge
    absl::StatusOr<int64_t> bytes = SizeOf(e.key);
    if (!bytes.ok()) return bytes.status();
    if (!why.empty()) {
      if (absl::Status s = Remove(e.key); !s.ok()) return s;
      removed.push_back({e.key, why, *bytes});
      continue;
    }
    kept.push_back({e, *bytes});
    total += static_cast<uint64_t>(*bytes);
  }
  // Least recently used first; `keep` last of all.
  std::sort(kept.begin(), kept.end(), [&](const Sized& a, const Sized& b) {
    if ((a.entry.key == keep) != (b.entry.key == keep)) return b.entry.key == keep;
    return a.entry.last_used != b.entry.last_used ? a.entry.last_used < b.entry.last_used : a.entry.key < b.entry.key;
  });
  for (const Sized& s : kept) {
    if (total <= max_bytes) break;
    if (absl::Status r = Remove(s.entry.key); !r.ok()) return r;
    removed.push_back({s.entry.key, "least recently used, over the host's cache.max_bytes", s.bytes});
    total -= static_cast<uint64_t>(s.bytes);
  }
  return removed;
}

absl::StatusOr<std::unique_ptr<CacheStore::Writer>> CacheStore::BeginWrite(const std::string& key, absl::Duration ttl,
                                                                          const std::string& run_id) {
  std::unique_ptr<Writer> writer(new Writer(*this, key));
  writer->created_ = absl::Now();
  writer->expires_ = writer->created_ + ttl;
  absl::Status leased = containerd::CreateLease(c_, writer->names_.lease,
                                                {{kKeyLabel, key},
                                                 {absl::StrCat(kLabelPrefix, "made-by"), run_id},
                                                 {kExpireLabel, TimeText(writer->expires_)}});
  if (!leased.ok()) {
    writer->finished_ = true;  // not ours: nothing to remove
    return leased;
  }
  absl::StatusOr<containerd::Mounts> mounts =
      containerd::PrepareSnapshot(c_, snapshotter_, writer->names_.workspace_writing, "", writer->names_.lease);
  if (!mounts.ok()) return mounts.status();
  absl::StatusOr<std::string> dir = BindSource(*mounts, snapshotter_);
  if (!dir.ok()) return dir.status();
  writer->workspace_dir_ = *dir;
  return writer;
}

absl::StatusOr<std::string> CacheStore::ViewWorkspace(const std::string& key, const std::string& view_key,
                                                      const std::string& lease) {
  absl::StatusOr<containerd::Mounts> mounts =
      containerd::ViewSnapshot(c_, snapshotter_, view_key, NamesOf(key).workspace, WithLease(lease));
  if (!mounts.ok()) return mounts.status();
  return BindSource(*mounts, snapshotter_);
}

CacheStore::Writer::~Writer() {
  if (!finished_) store_.Remove(key_).IgnoreError();
}

absl::Status CacheStore::Writer::CommitWorkspace() {
  absl::Status s = containerd::CommitSnapshot(store_.c_, store_.snapshotter_, names_.workspace, names_.workspace_writing,
                                              {{kKeyLabel, key_}}, WithLease(names_.lease));
  if (s.ok()) workspace_committed_ = true;
  return s;
}

absl::Status CacheStore::Writer::Finish(const std::string& active_key, const std::map<std::string, std::string>& labels) {
  if (!workspace_committed_) return absl::FailedPreconditionError("the workspace layer is not committed yet");
  std::map<std::string, std::string> all = labels;
  all[kKeyLabel] = key_;
  all[absl::StrCat(kLabelPrefix, "created")] = TimeText(created_);
  all[absl::StrCat(kLabelPrefix, "expires")] = TimeText(expires_);
  all[absl::StrCat(kLabelPrefix, "hits")] = "0";
  all[absl::StrCat(kLabelPrefix, "last-used")] = TimeText(created_);
  absl::Status s = containerd::CommitSnapshot(store_.c_, store_.snapshotter_, names_.rootfs, active_key, all,
                                              WithLease(names_.lease));
  if (s.ok()) finished_ = true;
  return s;
}

}  // namespace airlock::cache
