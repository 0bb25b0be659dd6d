#include "cmd/airlock-init/probe_tally.h"

#include <sys/socket.h>
#include <unistd.h>

#include "cmd/airlock-init/probe_util.h"

namespace airlock::init {

void Tally::Denied(const std::string& what, int err) { Add(held_, what + ": " + ErrnoName(err)); }

void Tally::Reached(const std::string& what, int err) {
  Add(broken_, what + " reached the kernel (" + ErrnoName(err) + "): no filter in front of it");
}

ProbeResult Tally::Result() const {
  if (!broken_.empty()) return {name_, Verdict::kBroken, broken_};
  if (!unknown_.empty()) return {name_, Verdict::kError, unknown_ + (held_.empty() ? "" : "; " + held_)};
  if (held_.empty()) return {name_, Verdict::kError, "nothing was tried"};
  return {name_, Verdict::kHeld, held_};
}

void TrySocket(Tally& tally, int family, int type, int protocol, const std::string& what) {
  int fd = socket(family, type | SOCK_CLOEXEC, protocol);
  if (fd >= 0) {
    close(fd);
    tally.Succeeded(what);
  } else if (errno == EPERM || errno == EACCES) {
    tally.Denied(what, errno);
  } else if (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT || errno == ESOCKTNOSUPPORT) {
    tally.Denied(what + " (unsupported by the kernel)", errno);
  } else {
    tally.Unknown(what + ": " + ErrnoName(errno));
  }
}

void ExpectFiltered(Tally& tally, const std::string& what, long rc, int err, int denial) {
  if (rc >= 0) {
    tally.Succeeded(what);
  } else if (err == denial) {
    tally.Denied(what, err);
  } else {
    tally.Reached(what, err);
  }
}

}  // namespace airlock::init
