#include "policy/seccomp/execution_filter.h"

#include <linux/sched.h>
#include <sched.h>

#include <cerrno>
#include <cstdint>

#include "policy/seccomp/filter_builder.h"
#include "policy/seccomp/shared_rules.h"

namespace airlock::policy {
namespace {

// After the seal not even a network namespace of its own: the sealed one is the only one.
constexpr uint64_t kDeniedNamespaces[] = {CLONE_NEWNET, CLONE_NEWUSER};

// Denied unless the policy allows debuggers: ptrace and its memory-poking siblings.
constexpr const char* kDebuggerSyscalls[] = {"ptrace", "process_vm_readv", "process_vm_writev"};

absl::Status AddRules(FilterBuilder& b, const SeccompOptions& options) {
  // Sockets of the sealed netns only (vsock, for one, is bound to no netns and reaches the host).
  if (absl::Status s = AddSocketRules(b); !s.ok()) return s;
  if (absl::Status s = AddNewNamespaceRules(b, kDeniedNamespaces); !s.ok()) return s;
  if (absl::Status s = AddKernelFacilityRules(b); !s.ok()) return s;
  // The read-only rootfs and the sealed view must stay as they are.
  if (absl::Status s = AddMountRules(b); !s.ok()) return s;
  if (!options.allow_debuggers) return b.AddAll(SCMP_ACT_ERRNO(EPERM), kDebuggerSyscalls);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Build(const SeccompOptions& options, FilterFormat format) {
  return BuildFilter(format, [&](FilterBuilder& b) { return AddRules(b, options); });
}

}  // namespace

absl::StatusOr<std::string> BuildExecutionFilterBpf(const SeccompOptions& options) {
  return Build(options, FilterFormat::kBpf);
}

absl::StatusOr<std::string> BuildExecutionFilterPfc(const SeccompOptions& options) {
  return Build(options, FilterFormat::kPfc);
}

}  // namespace airlock::policy
