#include "policy/sandbox/spec_mounts.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/path_rules.h"
#include "policy/sandbox/spec_rewrite.h"

namespace airlock::policy {
namespace {

using nlohmann::json;

const char* const kDevShm = "/dev/shm";

// Filesystems the kernel makes up on the spot: they expose no host storage.
constexpr absl::string_view kPseudoFilesystems[] = {"proc", "sysfs", "devpts", "mqueue", "tmpfs", "cgroup", "cgroup2"};

constexpr absl::string_view kPropagationOptions[] = {"shared",  "rshared",  "slave",      "rslave",
                                                     "private", "rprivate", "unbindable", "runbindable"};

bool Contains(const std::vector<std::string>& list, absl::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool IsPropagation(absl::string_view option) {
  return std::find(std::begin(kPropagationOptions), std::end(kPropagationOptions), option) !=
         std::end(kPropagationOptions);
}

// A spec mount, checked and with its destination cleaned.
struct SpecMount {
  json object;
  std::string destination;  // clean absolute
  std::string type;
  std::string source;
  std::vector<std::string> options;
  bool bind = false;

  // "bind mount /srv -> /data", "tmpfs mount at /tmp": how messages name it.
  std::string Describe() const {
    if (bind) return absl::StrCat("bind mount ", source, " -> ", destination);
    return absl::StrCat(type.empty() ? "untyped" : type, " mount at ", destination);
  }
};

absl::StatusOr<std::string> OptionalString(const json& object, const char* key, absl::string_view where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return absl::InvalidArgumentError(absl::StrCat(where, ": \"", key, "\" must be a string"));
  return it->get<std::string>();
}

absl::StatusOr<SpecMount> ReadSpecMount(const json& object, size_t index) {
  std::string where = absl::StrCat("mounts[", index, "]");
  if (!object.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, " is not an object"));
  SpecMount m;
  m.object = object;
  auto dest = object.find("destination");
  if (dest == object.end() || !dest->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, " has no \"destination\" string"));
  }
  absl::StatusOr<std::string> clean = CleanAbsolutePath(dest->get<std::string>());
  if (!clean.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": mount destination: ", clean.status().message()));
  }
  m.destination = *clean;
  where = absl::StrCat(where, " (", m.destination, ")");
  absl::StatusOr<std::string> type = OptionalString(object, "type", where);
  if (!type.ok()) return type.status();
  m.type = *type;
  absl::StatusOr<std::string> source = OptionalString(object, "source", where);
  if (!source.ok()) return source.status();
  m.source = *source;
  if (auto options = object.find("options"); options != object.end() && !options->is_null()) {
    if (!options->is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": \"options\" must be an array of strings"));
    }
    for (const json& option : *options) {
      if (!option.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": \"options\" must be an array of strings"));
      }
      m.options.push_back(option.get<std::string>());
    }
  }
  m.bind = m.type == "bind" || Contains(m.options, "bind") || Contains(m.options, "rbind");
  if (m.destination == "/") {
    return absl::FailedPreconditionError(
        absl::StrCat(m.Describe(), ": a mount onto \"/\" would replace the container's root filesystem"));
  }
  return m;
}

// Which mount of ours `destination` would hit; "" for none.
std::string OwnedBy(absl::string_view destination, const SandboxMounts& ours) {
  if (!ours.workspace_source.empty() && destination == ours.workspace_target) {
    return absl::StrCat("the workspace (the repository the airlock mounts at ", ours.workspace_target, ")");
  }
  for (const TmpfsMount& tmpfs : ours.tmpfs) {
    if (destination == tmpfs.path) return absl::StrCat("the policy's tmpfs at ", tmpfs.path);
  }
  if (IsSameOrUnder(destination, kInitPath)) {
    return absl::StrCat(kInitPath, ", reserved for the airlock helper");
  }
  return "";
}

// Rewrites a spec bind to read-only, nosuid, nodev, non-recursive, private; returns what changed.
std::vector<std::string> MakeReadonlyBind(SpecMount& m) {
  std::vector<std::string> changes;
  if (!Contains(m.options, "ro") || Contains(m.options, "rw") || Contains(m.options, "rrw"))
    changes.push_back("read-only");
  if (!Contains(m.options, "nosuid") || Contains(m.options, "suid")) changes.push_back("nosuid");
  if (!Contains(m.options, "nodev") || Contains(m.options, "dev")) changes.push_back("nodev");
  if (Contains(m.options, "rbind")) changes.push_back("non-recursive");
  for (const std::string& option : m.options) {
    if (IsPropagation(option) && option != "private" && option != "rprivate") {
      changes.push_back(absl::StrCat("private (was ", option, ")"));
      break;
    }
  }
  static constexpr absl::string_view kReplaced[] = {"bind", "rbind",  "rw",  "rrw",  "ro",
                                                    "suid", "nosuid", "dev", "nodev"};
  std::vector<std::string> options = {"bind"};
  for (const std::string& option : m.options) {
    bool replaced = std::find(std::begin(kReplaced), std::end(kReplaced), option) != std::end(kReplaced);
    if (!replaced && !IsPropagation(option)) options.push_back(option);
  }
  for (const char* option : {"ro", "nosuid", "nodev", "rprivate"}) options.push_back(option);
  m.options = std::move(options);
  m.object["options"] = m.options;
  return changes;
}

json BindMount(const std::string& source, const std::string& destination, bool writable) {
  return json{{"destination", destination},
              {"type", "bind"},
              {"source", source},
              {"options", {"bind", writable ? "rw" : "ro", "nosuid", "nodev", "rprivate"}}};
}

json TmpfsMountObject(const std::string& destination, std::vector<std::string> options) {
  return json{{"destination", destination}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", std::move(options)}};
}

}  // namespace

bool IsBindMount(const json& mount) {
  if (!mount.is_object()) return false;
  if (auto type = mount.find("type"); type != mount.end() && type->is_string() && *type == "bind") return true;
  auto options = mount.find("options");
  if (options == mount.end() || !options->is_array()) return false;
  for (const json& option : *options) {
    if (option.is_string() && (option == "bind" || option == "rbind")) return true;
  }
  return false;
}

std::vector<size_t> ParentsFirstOrder(const std::vector<std::string>& destinations) {
  const size_t n = destinations.size();
  // blockers[i]: how many unplaced mounts lie on a parent directory of mount i.
  std::vector<size_t> blockers(n, 0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      if (IsStrictlyUnder(destinations[i], destinations[j])) ++blockers[i];
    }
  }
  std::vector<size_t> order;
  std::vector<bool> placed(n, false);
  // Strict ancestry is acyclic, so each pass places one mount: at most n passes.
  while (order.size() < n) {
    size_t next = n;
    for (size_t i = 0; i < n && next == n; ++i) {
      if (!placed[i] && blockers[i] == 0) next = i;
    }
    if (next == n) break;  // unreachable
    placed[next] = true;
    order.push_back(next);
    for (size_t i = 0; i < n; ++i) {
      if (!placed[i] && IsStrictlyUnder(destinations[i], destinations[next])) --blockers[i];
    }
  }
  return order;
}

absl::StatusOr<json> RewriteMounts(const json& spec_mounts, const SandboxMounts& ours,
                                   std::vector<std::string>* notes) {
  if (!spec_mounts.is_null() && !spec_mounts.is_array()) {
    return absl::InvalidArgumentError("\"mounts\" must be an array");
  }
  std::vector<json> kept;
  std::vector<std::string> destinations;
  auto keep = [&](json object, std::string destination) {
    if (object["destination"] != destination) object["destination"] = destination;
    kept.push_back(std::move(object));
    destinations.push_back(std::move(destination));
  };

  size_t index = 0;
  for (const json& object : spec_mounts.is_array() ? spec_mounts : json::array()) {
    absl::StatusOr<SpecMount> read = ReadSpecMount(object, index++);
    if (!read.ok()) return read.status();
    SpecMount& m = *read;

    if (std::string owner = OwnedBy(m.destination, ours); !owner.empty()) {
      if (m.bind) {
        return absl::FailedPreconditionError(
            absl::StrCat(m.Describe(), " would shadow ", owner, "; remove that mount from the container"));
      }
      notes->push_back(absl::StrCat(m.Describe(), " dropped: ", owner, " takes its place"));
      continue;
    }
    if (m.bind && m.destination == kDevShm) {
      notes->push_back(absl::StrCat(m.Describe(), " replaced by a private tmpfs (the IPC namespace is private)"));
      keep(json{{"destination", kDevShm},
                {"type", "tmpfs"},
                {"source", "shm"},
                {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
           m.destination);
      continue;
    }
    if (m.bind) {
      if (ours.other_binds == OtherBinds::kReject) {
        return absl::FailedPreconditionError(
            absl::StrCat(m.Describe(),
                         ": the policy rejects bind mounts other than the workspace (filesystem.other_binds: reject); ",
                         "remove the mount, or use a policy with other_binds: readonly"));
      }
      std::vector<std::string> changes = MakeReadonlyBind(m);
      if (!changes.empty()) notes->push_back(absl::StrCat(m.Describe(), " made ", absl::StrJoin(changes, ", ")));
      keep(std::move(m.object), m.destination);
      continue;
    }
    bool pseudo =
        std::find(std::begin(kPseudoFilesystems), std::end(kPseudoFilesystems), m.type) != std::end(kPseudoFilesystems);
    if (!pseudo) {
      return absl::FailedPreconditionError(absl::StrCat(
          m.Describe(), (m.source.empty() ? "" : absl::StrCat(" (source ", m.source, ")")),
          ": only bind mounts and the kernel's pseudo filesystems (proc, sysfs, devpts, mqueue, tmpfs, cgroup, "
          "cgroup2) may reach a sandbox"));
    }
    keep(std::move(m.object), m.destination);
  }

  if (!ours.workspace_source.empty()) {
    keep(BindMount(ours.workspace_source, ours.workspace_target, /*writable=*/true), ours.workspace_target);
  }
  for (const TmpfsMount& tmpfs : ours.tmpfs) {
    keep(TmpfsMountObject(tmpfs.path, {"nosuid", "nodev", "mode=1777", absl::StrCat("size=", tmpfs.size_bytes)}),
         tmpfs.path);
  }
  // The helper is a mount point of its own: read-only, and setup cannot rename or unlink it (EBUSY)
  // to slip another one in. Its config and filter come through an fd (init_payload_format.h).
  keep(BindMount(ours.init_binary, std::string(kInitPath), /*writable=*/false), std::string(kInitPath));

  json out = json::array();
  for (size_t i : ParentsFirstOrder(destinations)) out.push_back(std::move(kept[i]));
  return out;
}

}  // namespace airlock::policy
