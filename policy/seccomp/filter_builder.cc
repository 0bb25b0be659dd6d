#include "policy/seccomp/filter_builder.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "shim/base/errno_status.h"
#include "shim/base/unique_fd.h"

namespace airlock::policy {
namespace {

absl::Status LibseccompStatus(int rc, absl::string_view what) {
  // libseccomp returns -errno.
  return ErrnoStatus(-rc, absl::StrCat("libseccomp: ", what));
}

}  // namespace

absl::Status FilterBuilder::Init() {
  ctx_.reset(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx_) return absl::InternalError("libseccomp: seccomp_init failed");
  // The filter holds the native arch only (x86_64 here); an i386 (int 0x80) or x32 syscall
  // would otherwise go unchecked, so any other ABI kills the process. libseccomp's x86_64
  // filter also treats syscall numbers with the x32 bit as a bad arch.
  int rc = seccomp_attr_set(ctx_.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc < 0) return LibseccompStatus(rc, "set bad-arch action");
  // Every allowed syscall walks the filter: a binary search over syscall numbers beats a list.
  rc = seccomp_attr_set(ctx_.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (rc < 0) return LibseccompStatus(rc, "set optimize level");
  return absl::OkStatus();
}

absl::Status FilterBuilder::Add(uint32_t action, const char* name, std::vector<scmp_arg_cmp> args) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return absl::InternalError(absl::StrCat("libseccomp: unknown syscall ", name));
  int rc = seccomp_rule_add_array(ctx_.get(), action, nr, static_cast<unsigned>(args.size()),
                                  args.empty() ? nullptr : args.data());
  if (rc < 0) return LibseccompStatus(rc, absl::StrCat("add rule for ", name));
  return absl::OkStatus();
}

absl::Status FilterBuilder::AddAll(uint32_t action, absl::Span<const char* const> names) {
  for (const char* name : names) {
    if (absl::Status s = Add(action, name); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Runs one of libseccomp's exporters into a memfd and returns what it wrote.
absl::StatusOr<std::string> FilterBuilder::Export(FilterFormat format) {
  UniqueFd fd(memfd_create("airlock-seccomp", MFD_CLOEXEC));
  if (!fd) return ErrnoStatus("memfd_create");
  int rc = format == FilterFormat::kBpf ? seccomp_export_bpf(ctx_.get(), fd.get())
                                        : seccomp_export_pfc(ctx_.get(), fd.get());
  if (rc < 0) return LibseccompStatus(rc, "export");
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus("fstat memfd");
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = pread(fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read memfd");
    if (n == 0) return absl::InternalError("memfd shorter than its size");
    done += static_cast<size_t>(n);
  }
  return out;
}

absl::StatusOr<std::string> BuildFilter(FilterFormat format, absl::FunctionRef<absl::Status(FilterBuilder&)> rules) {
  FilterBuilder builder;
  if (absl::Status s = builder.Init(); !s.ok()) return s;
  if (absl::Status s = rules(builder); !s.ok()) return s;
  return builder.Export(format);
}

}  // namespace airlock::policy
