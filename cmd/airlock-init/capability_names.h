// Linux capability names <-> bit numbers, without libcap (airlock-init stays dependency free).
#pragma once

#include <cstdint>
#include <string>

namespace airlock::init {

// The bit of "CAP_SYS_ADMIN" (also "SYS_ADMIN", any case), or -1 for an unknown name.
int CapabilityNumber(const std::string& name);

// "CAP_SYS_ADMIN" for 21; "CAP_42" for numbers this table does not know.
std::string CapabilityName(int number);

// "CAP_A, CAP_B" for the bits set in `mask`.
std::string CapabilityList(uint64_t mask);

}  // namespace airlock::init
