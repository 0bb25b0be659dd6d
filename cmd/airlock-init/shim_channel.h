// The helper's end of the SOCK_SEQPACKET socket to the shim (fd 3): one text message per packet.
//   helper -> shim: "SETUP_START <pid>", "SETUP_EXIT <code>",
//                   "SETUP_FILTER <JSON report>" (from the setup command's process, before its exec:
//                   the setup battery under the setup filter; it may arrive before SETUP_START)
//   shim -> helper: "SEALED", "ABORT <reason>", "EXIT <code>" (setup failed: end with that code)
// After setup ends the helper waits for the shim's word: a setup killed by the seal (non-zero) is
// followed by SEALED, a setup that failed on its own by EXIT.
#pragma once

#include <string>

namespace airlock::init {

class ShimChannel {
 public:
  enum class Kind { kSealed, kAbort, kExit, kClosed, kInvalid };
  struct Message {
    Kind kind;
    std::string detail;  // ABORT's reason, the error for kClosed/kInvalid
    int code = 0;        // EXIT's code
  };

  explicit ShimChannel(int fd) : fd_(fd) {}
  int fd() const { return fd_; }

  // Checks that the fd is a socket and keeps it out of the setup command (close-on-exec).
  bool Prepare(std::string* error);
  bool Send(const std::string& message, std::string* error);
  // Reads one packet, blocking. EOF and read errors are kClosed (the caller fails closed).
  Message Receive();
  void Close();

 private:
  int fd_;
};

}  // namespace airlock::init
