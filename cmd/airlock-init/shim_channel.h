// The helper's end of the SOCK_SEQPACKET socket to the shim (fd 3): one text message per packet.
//   helper -> shim: "SETUP_START <pid>", "SETUP_EXIT <code>"
//   shim -> helper: "SEALED", "ABORT <reason>"
#pragma once

#include <string>

namespace airlock::init {

class ShimChannel {
 public:
  enum class Kind { kSealed, kAbort, kClosed, kInvalid };
  struct Message {
    Kind kind;
    std::string detail;  // ABORT's reason, the error for kClosed/kInvalid
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
