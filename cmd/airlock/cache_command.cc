// airlock cache ls | show KEY | rm KEY | prune: the setup cache's entries in containerd
// (cmd/airlock/cache/cache_store.h).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cmd/airlock/cache/cache_store.h"
#include "cmd/airlock/command.h"
#include "cmd/airlock/containerd/connection.h"
#include "cmd/airlock/run/run_policy.h"
#include "policy/duration_size.h"
#include "policy/load.h"
#include "shim/base/terminal_text.h"

namespace airlock::cli {
namespace {

constexpr char kUsage[] =
    "usage: airlock cache ls [--json]\n"
    "       airlock cache show KEY [--json]\n"
    "       airlock cache rm KEY\n"
    "       airlock cache prune [--max-bytes SIZE]\n"
    "  options of all: [--address SOCK] [--namespace NS] [--snapshotter NAME]\n"
    "\n"
    "  The setup cache of `airlock run` (a policy's cache: section): each entry is two committed\n"
    "  snapshots (airlock-cache/KEY/rootfs and /workspace) held by lease airlock-cache-KEY.\n"
    "  ls     every entry: size, age, hits, expiry, who made it\n"
    "  show   one entry's provenance: image, policy, setup command, repository, key files\n"
    "  rm     removes an entry (a sandbox running on it keeps its layer until it ends)\n"
    "  prune  removes expired entries and abandoned writes, then the least recently used until all\n"
    "         together hold at most --max-bytes (default: the host config's cache.max_bytes)\n";

struct Args {
  std::string verb, key, address, name_space, snapshotter;
  std::optional<uint64_t> max_bytes;
  bool json = false;
};

int Usage(const std::string& problem) {
  std::fprintf(stderr, "airlock cache: %s\n\n%s", EscapeForTerminal(problem, false).c_str(), kUsage);
  return kExitUsage;
}

int Failure(const std::string& what) {
  std::fprintf(stderr, "airlock cache: %s\n", EscapeForTerminal(what, false).c_str());
  return kExitFailure;
}

std::string Ago(absl::Time t, absl::Time now) {
  if (t == absl::InfinitePast()) return "-";
  return absl::FormatDuration(absl::Trunc(now - t, absl::Seconds(1)));
}

nlohmann::json EntryJson(const cache::Entry& e, std::optional<int64_t> bytes) {
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [k, v] : e.labels) SetJsonText(labels, k.substr(std::string(cache::kLabelPrefix).size()), v);
  auto time = [](absl::Time t) {
    return t == absl::InfinitePast() ? nlohmann::json(nullptr)
                                     : nlohmann::json(absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone()));
  };
  return {{"key", e.key},          {"complete", e.complete},       {"created", time(e.complete ? e.created : e.lease_created)},
          {"expires", time(e.expires)}, {"last_used", time(e.last_used)}, {"hits", e.hits},
          {"bytes", bytes ? nlohmann::json(*bytes) : nlohmann::json(nullptr)}, {"provenance", labels}};
}

}  // namespace

int RunCache(const std::vector<std::string>& argv) {
  Args a;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& word = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argv.size() || argv[i + 1].empty()) return false;
      *out = argv[++i];
      return true;
    };
    if (word == "-h" || word == "--help") return std::fputs(kUsage, stdout), kExitOk;
    if (word == "--json") {
      a.json = true;
    } else if (word == "--address") {
      if (!value(&a.address)) return Usage("--address needs a value");
    } else if (word == "--namespace" || word == "-n") {
      if (!value(&a.name_space)) return Usage("--namespace needs a value");
    } else if (word == "--snapshotter") {
      if (!value(&a.snapshotter)) return Usage("--snapshotter needs a value");
    } else if (word == "--max-bytes") {
      std::string text;
      if (!value(&text)) return Usage("--max-bytes needs a value");
      absl::StatusOr<uint64_t> size = policy::ParseByteSize(text);
      if (!size.ok()) return Usage(absl::StrCat("--max-bytes: ", size.status().message()));
      a.max_bytes = *size;
    } else if (!word.empty() && word[0] == '-') {
      return Usage("unknown flag " + word);
    } else if (a.verb.empty()) {
      a.verb = word;
    } else if (a.key.empty()) {
      a.key = word;
    } else {
      return Usage("unexpected argument " + word);
    }
  }
  if (a.verb.empty()) return Usage("which? ls, show, rm or prune");
  if (a.verb != "ls" && a.verb != "show" && a.verb != "rm" && a.verb != "prune") return Usage("unknown command " + a.verb);
  const bool wants_key = a.verb == "show" || a.verb == "rm";
  if (wants_key && !cache::IsCacheKey(a.key)) {
    return Usage(a.key.empty() ? a.verb + " needs a KEY" : "KEY " + a.key + ": want the 32 hex characters `airlock cache ls` shows");
  }
  if (!wants_key && !a.key.empty()) return Usage("unexpected argument " + a.key);
  if (a.max_bytes && a.verb != "prune") return Usage("--max-bytes is for prune");

  std::string address = a.address.empty() ? containerd::DefaultAddress() : a.address;
  std::string name_space = a.name_space.empty() ? containerd::DefaultNamespace() : a.name_space;
  const char* env_snapshotter = std::getenv("CONTAINERD_SNAPSHOTTER");
  std::string snapshotter = !a.snapshotter.empty() ? a.snapshotter
                            : (env_snapshotter != nullptr && env_snapshotter[0] != '\0') ? env_snapshotter : "overlayfs";
  absl::StatusOr<std::unique_ptr<containerd::Connection>> c = containerd::Connection::Open(address, name_space);
  if (!c.ok()) return Failure(std::string(c.status().message()));
  cache::CacheStore store(**c, snapshotter);
  const absl::Time now = absl::Now();

  if (a.verb == "ls") {
    absl::StatusOr<std::vector<cache::Entry>> entries = store.List();
    if (!entries.ok()) return Failure(std::string(entries.status().message()));
    nlohmann::json out = nlohmann::json::array();
    if (!a.json) std::printf("%-32s  %-8s  %10s  %-10s  %-10s  %5s  %-10s  %s\n", "KEY", "STATE", "SIZE", "AGE", "EXPIRES IN", "HITS", "LAST USED", "MADE BY");
    for (const cache::Entry& e : *entries) {
      absl::StatusOr<int64_t> bytes = store.SizeOf(e.key);
      if (a.json) {
        out.push_back(EntryJson(e, bytes.ok() ? std::optional<int64_t>(*bytes) : std::nullopt));
        continue;
      }
      std::string expires = !e.complete ? "-" : e.expires <= now ? "expired" : absl::FormatDuration(absl::Trunc(e.expires - now, absl::Seconds(1)));
      std::printf("%-32s  %-8s  %10s  %-10s  %-10s  %5lld  %-10s  %s\n", e.key.c_str(), e.complete ? "ready" : "writing",
                  bytes.ok() ? policy::HumanByteSize(static_cast<uint64_t>(*bytes)).c_str() : "?",
                  Ago(e.complete ? e.created : e.lease_created, now).c_str(), expires.c_str(), static_cast<long long>(e.hits),
                  Ago(e.last_used, now).c_str(), EscapeForTerminal(e.Label("made-by"), false).c_str());
    }
    if (a.json) std::printf("%s\n", out.dump().c_str());
    return kExitOk;
  }
  if (a.verb == "show") {
    absl::StatusOr<std::optional<cache::Entry>> e = store.Find(a.key);
    if (!e.ok()) return Failure(std::string(e.status().message()));
    if (!*e) return Failure("no entry " + a.key);
    absl::StatusOr<int64_t> bytes = store.SizeOf(a.key);
    nlohmann::json j = EntryJson(**e, bytes.ok() ? std::optional<int64_t>(*bytes) : std::nullopt);
    if (a.json) return std::printf("%s\n", j.dump(2).c_str()), kExitOk;
    cache::EntryNames names = cache::NamesOf(a.key);
    std::printf("entry      %s (%s)\n", a.key.c_str(), (*e)->complete ? "ready" : "being written");
    std::printf("layers     %s, %s (snapshotter %s), lease %s\n", names.rootfs.c_str(), names.workspace.c_str(),
                snapshotter.c_str(), names.lease.c_str());
    std::printf("size       %s\n", bytes.ok() ? policy::HumanByteSize(static_cast<uint64_t>(*bytes)).c_str() : "?");
    std::printf("age        %s, %lld hit(s), last used %s ago\n", Ago((*e)->created, now).c_str(),
                static_cast<long long>((*e)->hits), Ago((*e)->last_used, now).c_str());
    for (const auto& [k, v] : (*e)->labels) {
      std::string name = k.substr(std::string(cache::kLabelPrefix).size());
      std::printf("%-10s %s\n", EscapeForTerminal(name, false).c_str(), EscapeForTerminal(v, false).c_str());
    }
    return kExitOk;
  }
  if (a.verb == "rm") {
    absl::StatusOr<std::optional<cache::Entry>> e = store.Find(a.key);
    if (!e.ok()) return Failure(std::string(e.status().message()));
    if (!*e) return Failure("no entry " + a.key);
    if (absl::Status s = store.Remove(a.key); !s.ok()) return Failure(std::string(s.message()));
    std::printf("removed %s\n", a.key.c_str());
    return kExitOk;
  }
  uint64_t max_bytes = 0;
  if (a.max_bytes) {
    max_bytes = *a.max_bytes;
  } else {
    absl::StatusOr<policy::HostConfig> host = policy::LoadHostConfig(run::HostConfigPath());
    if (!host.ok()) return Failure(absl::StrCat("host config: ", host.status().message()));
    max_bytes = host->cache.max_bytes;
  }
  absl::StatusOr<std::vector<cache::CacheStore::Removal>> removed = store.Prune(max_bytes);
  if (!removed.ok()) return Failure(std::string(removed.status().message()));
  for (const cache::CacheStore::Removal& r : *removed) {
    std::printf("removed %s (%s, %s)\n", r.key.c_str(), r.why.c_str(), policy::HumanByteSize(static_cast<uint64_t>(r.bytes)).c_str());
  }
  std::printf("%zu entr%s removed; the cache holds at most %s\n", removed->size(), removed->size() == 1 ? "y" : "ies",
              policy::HumanByteSize(max_bytes).c_str());
  return kExitOk;
}

}  // namespace airlock::cli
