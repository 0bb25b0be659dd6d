// The libseccomp plumbing both airlock filters share (execution_filter.h, setup_filter.h): a
// default-allow context that kills any other ABI, rules added by syscall name, and the export to
// raw BPF (what airlock-init installs) or to libseccomp's readable pseudo filter code.
#pragma once

#include <seccomp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace airlock::policy {

enum class FilterFormat { kBpf, kPfc };

class FilterBuilder {
 public:
  // Default ALLOW; a syscall of any ABI but the native one (i386 int 0x80, x32) kills the process.
  absl::Status Init();
  absl::Status Add(uint32_t action, const char* name, std::vector<scmp_arg_cmp> args = {});
  // The same action for each named syscall, without argument conditions.
  absl::Status AddAll(uint32_t action, absl::Span<const char* const> names);
  absl::StatusOr<std::string> Export(FilterFormat format);

 private:
  struct ContextDeleter {
    void operator()(void* ctx) const { seccomp_release(ctx); }
  };
  std::unique_ptr<void, ContextDeleter> ctx_;
};

// Init, then `rules`, then Export: one filter's whole build.
absl::StatusOr<std::string> BuildFilter(FilterFormat format, absl::FunctionRef<absl::Status(FilterBuilder&)> rules);

}  // namespace airlock::policy
