// SHA-256 (FIPS 180-4) for naming sockets and digesting policies, without linking a crypto library
// into every shim.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace airlock {

class Sha256 {
 public:
  Sha256();
  void Update(absl::string_view data);
  std::array<uint8_t, 32> Finish();

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t length_ = 0;
};

std::string Sha256Hex(absl::string_view data);

}  // namespace airlock
