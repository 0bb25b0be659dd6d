// Collecting the outcomes of several attempts at one forbidden thing into one probe result, and the
// attempts the probes share.
#pragma once

#include <cerrno>
#include <string>
#include <utility>

#include "cmd/airlock-init/probe_result.h"

namespace airlock::init {

class Tally {
 public:
  explicit Tally(std::string name) : name_(std::move(name)) {}

  void Succeeded(const std::string& what) { Add(broken_, what + " succeeded"); }
  void Denied(const std::string& what, int err);
  // The kernel itself answered (an error no filter gives): nothing stood in front of it.
  void Reached(const std::string& what, int err);
  void Unknown(const std::string& what) { Add(unknown_, what); }

  ProbeResult Result() const;

 private:
  static void Add(std::string& bucket, const std::string& text) { bucket += (bucket.empty() ? "" : "; ") + text; }

  std::string name_;
  std::string held_, broken_, unknown_;
};

// socket(family, type | SOCK_CLOEXEC, protocol), closed at once if it opens. EPERM/EACCES is a
// denial, and so is a family or type the kernel lacks (the promise holds, said as such).
void TrySocket(Tally& tally, int family, int type, int protocol, const std::string& what);

// The outcome `rc`/`err` of a call made with arguments the kernel itself refuses with some other
// error (a null pointer, an unknown flag or type), so that `denial` can only come from a seccomp
// filter in front of it (or, for a few calls, from the kernel's own capability check first).
void ExpectFiltered(Tally& tally, const std::string& what, long rc, int err, int denial = EPERM);

}  // namespace airlock::init
