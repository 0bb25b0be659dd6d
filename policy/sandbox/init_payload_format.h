// What the shim hands airlock-init besides its channel: one sealed memfd (no file in the bundle,
// nothing in the container's filesystem) with the helper's config (JSON) and the two seccomp
// programs (raw BPF): the execution filter and the setup filter. Header-only and dependency-free:
// the static airlock-init includes it too.
//
//   bytes 0..7    "ALPAYLD2"
//   bytes 8..11   config length, little-endian
//   bytes 12..15  execution filter length, little-endian
//   bytes 16..19  setup filter length, little-endian (0: no setup command, no setup filter)
//   then the config, the execution filter, the setup filter; nothing after.
//
// The init gets it as fd 4 (fd 3 is the channel), `airlock-init exec` as fd 3 (runc
// --preserve-fds). Sealed against writes, growth and shrinking before it leaves the shim: what
// airlock-init reads is what the shim built.
#pragma once

#include <cstddef>
#include <cstdint>

namespace airlock::init_payload {

// The digit is the format's version: a helper of another format refuses the payload.
inline constexpr char kMagic[8] = {'A', 'L', 'P', 'A', 'Y', 'L', 'D', '2'};
inline constexpr size_t kHeaderSize = 20;
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
