#include "cmd/airlock-init/init_payload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cmd/airlock-init/filter_install.h"
#include "policy/sandbox/init_payload_format.h"

namespace airlock::init {
namespace {

struct Sizes {
  size_t config = 0;
  size_t filter = 0;
  size_t setup_filter = 0;
};

// The sealed payload's bytes, its header checked; the section sizes from the header.
bool ReadSealed(int fd, std::string* bytes, Sizes* sizes, std::string* error) {
  const std::string name = "fd " + std::to_string(fd);
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    *error = name + " is not the shim's payload (" + strerror(errno) + ")";
    return false;
  }
  constexpr int kNeeded = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;
  if ((seals & kNeeded) != kNeeded) {
    *error = name + " is not the shim's payload (not sealed)";
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *error = name + ": " + strerror(errno);
    return false;
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size < init_payload::kHeaderSize || size > init_payload::kMaxBytes) {
    *error = name + ": payload of " + std::to_string(size) + " bytes";
    return false;
  }
  bytes->resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, bytes->data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = name + ": " + (n < 0 ? strerror(errno) : "short read");
      return false;
    }
    done += static_cast<size_t>(n);
  }
  auto* header = reinterpret_cast<const unsigned char*>(bytes->data());
  if (memcmp(header, init_payload::kMagic, sizeof init_payload::kMagic) != 0) {
    *error = name + ": not an airlock payload";
    return false;
  }
  sizes->config = init_payload::GetU32(header + 8);
  sizes->filter = init_payload::GetU32(header + 12);
  sizes->setup_filter = init_payload::GetU32(header + 16);
  if (init_payload::kHeaderSize + sizes->config + sizes->filter + sizes->setup_filter != size) {
    *error = name + ": payload lengths do not add up";
    return false;
  }
  return true;
}

}  // namespace

bool ReadInitPayload(int fd, Airlock* out, std::string* error) {
  std::string bytes;
  Sizes sizes;
  bool ok = ReadSealed(fd, &bytes, &sizes, error);
  close(fd);
  if (!ok) return false;
  size_t at = init_payload::kHeaderSize;
  std::string_view config(bytes.data() + at, sizes.config);
  if (!ParseInitConfig(config, &out->config, error)) {
    *error = "config: " + *error;
    return false;
  }
  at += sizes.config;
  if (!FilterFromBytes(bytes.substr(at, sizes.filter), &out->filter, error)) {
    *error = "execution filter: " + *error;
    return false;
  }
  at += sizes.filter;
  out->setup_filter.clear();
  if (sizes.setup_filter == 0) {
    // The setup command never runs unfiltered: no filter, no setup.
    if (out->config.has_setup) {
      *error = "setup filter: missing, and the config has a setup command";
      return false;
    }
    return true;
  }
  if (!FilterFromBytes(bytes.substr(at, sizes.setup_filter), &out->setup_filter, error)) {
    *error = "setup filter: " + *error;
    return false;
  }
  return true;
}

}  // namespace airlock::init
