#include "policy/seccomp/setup_filter.h"

#include <linux/sched.h>
#include <sched.h>

#include <cstdint>

#include "policy/seccomp/filter_builder.h"
#include "policy/seccomp/shared_rules.h"

namespace airlock::policy {
namespace {

// A user namespace hands its creator every capability inside it: the doorway to the netns, mount
// and module code a container otherwise cannot reach. A network namespace of its own only narrows
// setup's reach (and needs CAP_SYS_ADMIN, which the default capabilities lack): left alone.
constexpr uint64_t kDeniedNamespaces[] = {CLONE_NEWUSER};

absl::Status AddRules(FilterBuilder& b, const SetupFilterOptions& options) {
  if (absl::Status s = AddSocketRules(b); !s.ok()) return s;
  if (absl::Status s = AddNewNamespaceRules(b, kDeniedNamespaces); !s.ok()) return s;
  if (absl::Status s = AddKernelFacilityRules(b); !s.ok()) return s;
  if (!options.allow_mount) return AddMountRules(b);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Build(const SetupFilterOptions& options, FilterFormat format) {
  return BuildFilter(format, [&](FilterBuilder& b) { return AddRules(b, options); });
}

}  // namespace

absl::StatusOr<std::string> BuildSetupFilterBpf(const SetupFilterOptions& options) {
  return Build(options, FilterFormat::kBpf);
}

absl::StatusOr<std::string> BuildSetupFilterPfc(const SetupFilterOptions& options) {
  return Build(options, FilterFormat::kPfc);
}

}  // namespace airlock::policy
