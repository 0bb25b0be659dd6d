// The shim's side of init_payload_format.h: builds the sealed memfd.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "shim/base/unique_fd.h"

namespace airlock::sandbox {

// The payload's bytes (exposed for tests). `setup_filter_bpf` is empty when there is no setup
// command (airlock-init refuses to run one without its filter).
std::string EncodeInitPayload(absl::string_view config_json, absl::string_view filter_bpf,
                              absl::string_view setup_filter_bpf = {});

// A memfd holding EncodeInitPayload(...), sealed against writes, growth and shrinking, and
// close-on-exec (runc --preserve-fds hands it on).
absl::StatusOr<UniqueFd> CreateInitPayload(absl::string_view config_json, absl::string_view filter_bpf,
                                           absl::string_view setup_filter_bpf = {});

}  // namespace airlock::sandbox
