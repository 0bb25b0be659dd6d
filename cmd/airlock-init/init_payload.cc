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

// The sealed payload's bytes, its header checked; `config_size` from the header.
bool ReadSealed(int fd, std::string* bytes, size_t* config_size, std::string* error) {
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
  *config_size = init_payload::GetU32(header + 8);
  size_t filter = init_payload::GetU32(header + 12);
  if (init_payload::kHeaderSize + *config_size + filter != size) {
    *error = name + ": payload lengths do not add up";
    return false;
  }
  return true;
}

}  // namespace

bool ReadInitPayload(int fd, Airlock* out, std::string* error) {
  std::string bytes;
  size_t config_size = 0;
  bool ok = ReadSealed(fd, &bytes, &config_size, error);
  close(fd);
  if (!ok) return false;
  std::string_view config(bytes.data() + init_payload::kHeaderSize, config_size);
  if (!ParseInitConfig(config, &out->config, error)) {
    *error = "config: " + *error;
    return false;
  }
  std::string filter = bytes.substr(init_payload::kHeaderSize + config_size);
  if (!FilterFromBytes(filter, &out->filter, error)) {
    *error = "execution filter: " + *error;
    return false;
  }
  return true;
}

}  // namespace airlock::init
