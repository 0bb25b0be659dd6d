#include "cmd/airlock-init/shim_channel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace airlock::init {

bool ShimChannel::Prepare(std::string* error) {
  struct stat st;
  if (fstat(fd_, &st) != 0) {
    *error = "fd " + std::to_string(fd_) + " (the shim's socket) is not open: " + strerror(errno);
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    *error = "fd " + std::to_string(fd_) + " is not the shim's socket";
    return false;
  }
  if (fcntl(fd_, F_SETFD, FD_CLOEXEC) != 0) {
    *error = std::string("fcntl(FD_CLOEXEC) on the shim's socket: ") + strerror(errno);
    return false;
  }
  return true;
}

bool ShimChannel::Send(const std::string& message, std::string* error) {
  while (true) {
    ssize_t n = send(fd_, message.data(), message.size(), MSG_NOSIGNAL);
    if (n >= 0) return true;
    if (errno == EINTR) continue;
    *error = "send \"" + message + "\" to the shim: " + strerror(errno);
    return false;
  }
}

ShimChannel::Message ShimChannel::Receive() {
  char buf[4096];
  ssize_t n;
  do {
    n = recv(fd_, buf, sizeof buf, MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return {Kind::kClosed, std::string("read from the shim: ") + strerror(errno)};
  if (n == 0) return {Kind::kClosed, "the shim closed the connection"};
  if (static_cast<size_t>(n) > sizeof buf) return {Kind::kInvalid, "oversized message from the shim"};
  std::string text(buf, static_cast<size_t>(n));
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (text == "SEALED") return {Kind::kSealed, ""};
  if (text == "ABORT") return {Kind::kAbort, "no reason given"};
  if (text.compare(0, 6, "ABORT ") == 0) return {Kind::kAbort, text.substr(6)};
  if (text.compare(0, 5, "EXIT ") == 0) {
    int code = 0;
    size_t i = 5;
    for (; i < text.size() && i < 9 && text[i] >= '0' && text[i] <= '9'; ++i) code = code * 10 + (text[i] - '0');
    if (i == 5 || i != text.size() || code > 255) return {Kind::kInvalid, "malformed EXIT from the shim"};
    return {Kind::kExit, "", code};
  }
  return {Kind::kInvalid, "unexpected message from the shim: \"" + text.substr(0, 80) + "\""};
}

void ShimChannel::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

}  // namespace airlock::init
