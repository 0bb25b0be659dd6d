#include "policy/load.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "policy/host_config.h"
#include "policy/parse.h"
#include "shim/base/errno_status.h"
#include "shim/base/unique_fd.h"

namespace airlock::policy {

const absl::string_view kBuiltinPolicyYaml = R"(# airlock built-in policy: the strictest.
version: 1
workspace: {target: /workspace, required: true}
filesystem:
  rootfs: {setup: readonly, execution: readonly}
  tmpfs: {/tmp: 64Mi}
  other_binds: reject
network:
  setup: {uplink: none}
  execution: deny
setup: {timeout: 10m, keep_processes: false, leftover_secrets: fail}
secrets: []
seccomp: {execution: strict, setup: strict, allow_debuggers: false}
capabilities: [CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_SETGID, CAP_SETUID,
               CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_AUDIT_WRITE, CAP_MKNOD]
resources: {pids: 512, memory: 1Gi, memory_swap: 1Gi, cpus: 1, workspace: 1Gi}
execution: {timeout: 2h}
)";

absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) return ErrnoStatus(absl::StrCat("open ", path));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(absl::StrCat("stat ", path));
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": larger than ", kMaxConfigFileBytes, " bytes"));
  }
  std::string data;
  char buffer[16384];
  while (true) {
    ssize_t n = read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(absl::StrCat("read ", path));
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
    // The file may grow under us: the cap holds whatever fstat said.
    if (data.size() > kMaxConfigFileBytes) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": larger than ", kMaxConfigFileBytes, " bytes"));
    }
  }
  return data;
}

absl::StatusOr<LoadedPolicy> LoadPolicyFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<Policy> policy = ParsePolicy(*text, path);
  if (!policy.ok()) return policy.status();
  return LoadedPolicy{*std::move(policy), PolicyDigest(*text), path};
}

LoadedPolicy BuiltinPolicy() {
  return LoadedPolicy{StrictestDefaultPolicy(), PolicyDigest(kBuiltinPolicyYaml), "built-in"};
}

absl::StatusOr<HostConfig> LoadHostConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path);
  if (absl::IsNotFound(text.status())) return DefaultHostConfig();
  if (!text.ok()) return text.status();
  return ParseHostConfig(*text, path);
}

}  // namespace airlock::policy
