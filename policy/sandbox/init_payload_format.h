// What the shim hands airlock-init besides its channel: one sealed memfd (no file in the bundle,
// nothing in the container's filesystem) with the helper's config (JSON) and the execution seccomp
// program (raw BPF). Header-only and dependency-free: the static airlock-init includes it too.
//
//   bytes 0..7    "ALPAYLD1"
//   bytes 8..11   config length, little-endian
//   bytes 12..15  filter length, little-endian
//   then the config, then the filter; nothing after.
//
// The init gets it as fd 4 (fd 3 is the channel), `airlock-init exec` as fd 3 (runc
// --preserve-fds). Sealed against writes, growth and shrinking before it leaves the shim: what
// airlock-init reads is what the shim built.
#pragma once

#include <cstddef>
#include <cstdint>

namespace airlock::init_payload {

inline constexpr char kMagic[8] = {'A', 'L', 'P', 'A', 'Y', 'L', 'D', '1'};
inline constexpr size_t kHeaderSize = 16;
inline constexpr size_t kMaxBytes = size_t{16} << 20;
inline constexpr int kInitFd = 4;
inline constexpr int kExecFd = 3;

inline void PutU32(uint32_t value, unsigned char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<unsigned char>(value >> (8 * i));
}

inline uint32_t GetU32(const unsigned char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(in[i]) << (8 * i);
  return value;
}

}  // namespace airlock::init_payload
