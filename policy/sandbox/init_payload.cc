#include "policy/sandbox/init_payload.h"

#include <fcntl.h>
#include <sys/mman.h>

#include "absl/strings/str_cat.h"
#include "policy/sandbox/init_payload_format.h"
#include "shim/base/errno_status.h"
#include "shim/base/files.h"

namespace airlock::sandbox {

std::string EncodeInitPayload(absl::string_view config_json, absl::string_view filter_bpf,
                              absl::string_view setup_filter_bpf) {
  std::string out(init_payload::kHeaderSize, '\0');
  auto* header = reinterpret_cast<unsigned char*>(out.data());
  std::copy(std::begin(init_payload::kMagic), std::end(init_payload::kMagic), header);
  init_payload::PutU32(static_cast<uint32_t>(config_json.size()), header + 8);
  init_payload::PutU32(static_cast<uint32_t>(filter_bpf.size()), header + 12);
  init_payload::PutU32(static_cast<uint32_t>(setup_filter_bpf.size()), header + 16);
  absl::StrAppend(&out, config_json, filter_bpf, setup_filter_bpf);
  return out;
}

absl::StatusOr<UniqueFd> CreateInitPayload(absl::string_view config_json, absl::string_view filter_bpf,
                                           absl::string_view setup_filter_bpf) {
  if (init_payload::kHeaderSize + config_json.size() + filter_bpf.size() + setup_filter_bpf.size() >
      init_payload::kMaxBytes) {
    return absl::InvalidArgumentError(absl::StrCat("airlock-init's config is too large (",
                                                   config_json.size(), " bytes; the entrypoint's environment?)"));
  }
  UniqueFd fd(memfd_create("airlock-init-payload", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return ErrnoStatus("memfd_create for airlock-init's payload");
  if (absl::Status written =
          WriteAll(fd.get(), EncodeInitPayload(config_json, filter_bpf, setup_filter_bpf), "airlock-init's payload");
      !written.ok()) {
    return written;
  }
  if (fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    return ErrnoStatus("seal airlock-init's payload");
  }
  return fd;
}

}  // namespace airlock::sandbox
