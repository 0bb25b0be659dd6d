#include "cmd/airlock/run/oci_spec.h"

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace airlock::run {
namespace {

using json = nlohmann::json;

// containerd's defaultUnixCaps().
const std::vector<std::string>& DefaultCaps() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",  "CAP_FOWNER",           "CAP_MKNOD",
      "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",  "CAP_SETFCAP",          "CAP_SETPCAP",
      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};
  return caps;
}

json Mount(const char* destination, const char* type, const char* source, std::vector<std::string> options) {
  return {{"destination", destination}, {"type", type}, {"source", source}, {"options", options}};
}

json AllowCharDevice(int major, int minor) {
  json rule = {{"allow", true}, {"type", "c"}, {"major", major}, {"access", "rwm"}};
  if (minor >= 0) rule["minor"] = minor;
  return rule;
}

std::string NameOf(const std::string& entry) { return entry.substr(0, entry.find('=')); }

json ProcessJson(const ProcessSpec& p) {
  json caps = DefaultCaps();
  return {
      {"user", {{"uid", p.uid}, {"gid", p.gid}}},
      {"args", p.args},
      {"env", p.env},
      {"cwd", p.cwd},
      {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
      {"noNewPrivileges", true},
  };
}

}  // namespace

std::string BuildSpecJson(const ContainerSpec& spec) {
  json mounts = json::array({
      Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      Mount("/dev/pts", "devpts", "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      Mount("/run", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
  });
  // /dev/null, zero, full, random, urandom, tty, console, pts/*, ptmx: containerd's default device rules.
  json devices = json::array({{{"allow", false}, {"access", "rwm"}}, AllowCharDevice(1, 3), AllowCharDevice(1, 8),
                              AllowCharDevice(1, 7), AllowCharDevice(5, 0), AllowCharDevice(1, 5), AllowCharDevice(1, 9),
                              AllowCharDevice(5, 1), AllowCharDevice(136, -1), AllowCharDevice(5, 2)});
  json namespaces = json::array();
  for (const char* type : {"pid", "ipc", "uts", "mount", "network"}) namespaces.push_back({{"type", type}});
  json doc = {
      {"ociVersion", "1.0.2-dev"},
      {"process", ProcessJson(spec.process)},
      {"root", {{"path", "rootfs"}}},
      {"hostname", spec.id.substr(0, 63)},
      {"mounts", mounts},
      {"linux",
       {{"resources", {{"devices", devices}}},
        {"cgroupsPath", absl::StrCat("/", spec.name_space, "/", spec.id)},
        {"namespaces", namespaces},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
        {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
  };
  if (!spec.annotations.empty()) doc["annotations"] = spec.annotations;
  return doc.dump();
}

std::string BuildProcessJson(const ProcessSpec& process) { return ProcessJson(process).dump(); }

absl::StatusOr<std::pair<uint32_t, uint32_t>> ParseImageUser(const std::string& user) {
  if (user.empty() || user == "root" || user == "root:root") return std::pair<uint32_t, uint32_t>{0, 0};
  std::string uid_text = user.substr(0, user.find(':'));
  std::string gid_text = user.find(':') == std::string::npos ? "" : user.substr(user.find(':') + 1);
  uint32_t uid = 0, gid = 0;
  if (!absl::SimpleAtoi(uid_text, &uid) || (!gid_text.empty() && !absl::SimpleAtoi(gid_text, &gid))) {
    return absl::InvalidArgumentError(absl::StrCat("the image's user \"", user,
                                                   "\" is a name: airlock run takes numeric users only (uid[:gid])"));
  }
  if (gid_text.empty()) gid = uid == 0 ? 0 : uid;
  return std::pair<uint32_t, uint32_t>{uid, gid};
}

std::vector<std::string> MergeEnv(const std::vector<std::string>& base, const std::vector<std::string>& overrides) {
  std::vector<std::string> out = base;
  for (const std::string& entry : overrides) {
    bool replaced = false;
    for (std::string& existing : out) {
      if (NameOf(existing) == NameOf(entry)) {
        existing = entry;
        replaced = true;
        break;
      }
    }
    if (!replaced) out.push_back(entry);
  }
  return out;
}

std::vector<std::string> EnvWithout(const std::vector<std::string>& env, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const std::string& entry : env) {
    bool drop = false;
    for (const std::string& name : names) drop = drop || NameOf(entry) == name;
    if (!drop) out.push_back(entry);
  }
  return out;
}

}  // namespace airlock::run
