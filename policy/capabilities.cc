#include "policy/capabilities.h"

#include <algorithm>
#include <utility>

namespace airlock::policy {

const std::vector<std::string>& KernelCapabilityNames() {
  static const std::vector<std::string>* const kNames = new std::vector<std::string>{
      "CAP_CHOWN",          "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",         "CAP_FSETID",
      "CAP_KILL",           "CAP_SETGID",       "CAP_SETUID",          "CAP_SETPCAP",        "CAP_LINUX_IMMUTABLE",
      "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",     "CAP_NET_RAW",        "CAP_IPC_LOCK",
      "CAP_IPC_OWNER",      "CAP_SYS_MODULE",   "CAP_SYS_RAWIO",       "CAP_SYS_CHROOT",     "CAP_SYS_PTRACE",
      "CAP_SYS_PACCT",      "CAP_SYS_ADMIN",    "CAP_SYS_BOOT",        "CAP_SYS_NICE",       "CAP_SYS_RESOURCE",
      "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",         "CAP_LEASE",          "CAP_AUDIT_WRITE",
      "CAP_AUDIT_CONTROL",  "CAP_SETFCAP",      "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",
      "CAP_WAKE_ALARM",     "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",     "CAP_PERFMON",        "CAP_BPF",
      "CAP_CHECKPOINT_RESTORE"};
  return *kNames;
}

bool IsKernelCapability(absl::string_view name) {
  const auto& names = KernelCapabilityNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

absl::string_view CapabilityRisk(absl::string_view name) {
  static constexpr std::pair<absl::string_view, absl::string_view> kRisks[] = {
      {"CAP_SYS_ADMIN", "near-root power over the host"},
      {"CAP_SYS_MODULE", "can load kernel modules"},
      {"CAP_SYS_RAWIO", "raw access to devices and I/O ports"},
      {"CAP_SYS_PTRACE", "can trace and steer other processes"},
      {"CAP_DAC_READ_SEARCH", "can open host files by handle (open_by_handle_at)"},
      {"CAP_NET_ADMIN", "can reconfigure the network namespace"},
      {"CAP_NET_RAW", "raw and packet sockets"},
      {"CAP_BPF", "can load BPF programs"},
      {"CAP_PERFMON", "performance monitoring of the host"},
      {"CAP_SYS_BOOT", "can reboot the host"},
      {"CAP_SYS_TIME", "can set the host clock"},
      {"CAP_MAC_ADMIN", "can change the LSM policy"},
      {"CAP_MAC_OVERRIDE", "can bypass the LSM policy"},
      {"CAP_LINUX_IMMUTABLE", "can change immutable files"},
      {"CAP_SYSLOG", "can read kernel logs and addresses"},
      {"CAP_AUDIT_CONTROL", "can change the audit rules"},
      {"CAP_CHECKPOINT_RESTORE", "checkpoint/restore of other processes"},
  };
  for (const auto& [cap, risk] : kRisks) {
    if (cap == name) return risk;
  }
  return "";
}

}  // namespace airlock::policy
