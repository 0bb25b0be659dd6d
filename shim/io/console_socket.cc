#include "shim/io/console_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"
#include "shim/base/log.h"

namespace airlock::io {
namespace {

constexpr size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;
// runc sends the pty's name; its RecvFd accepts up to 4096 bytes.
constexpr size_t kMaxNameLen = 4096;

std::string TempRoot() {
  for (const char* var : {"XDG_RUNTIME_DIR", "TMPDIR"}) {
    const char* value = getenv(var);
    if (value != nullptr && value[0] == '/' && strlen(value) < 64) return value;
  }
  return "/tmp";
}

int RemainingMs(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 1 << 30));
}

// Waits until `fd` is readable; false on timeout.
absl::StatusOr<bool> WaitReadable(int fd, absl::Time deadline) {
  for (;;) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = poll(&pfd, 1, RemainingMs(deadline));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return ErrnoStatus("poll console socket");
  }
}

}  // namespace

ConsoleSocket::ConsoleSocket(ConsoleSocket&& other) noexcept
    : listener_(std::move(other.listener_)),
      path_(std::exchange(other.path_, {})),
      temp_dir_(std::exchange(other.temp_dir_, {})) {}

ConsoleSocket& ConsoleSocket::operator=(ConsoleSocket&& other) noexcept {
  if (this != &other) {
    Close();
    listener_ = std::move(other.listener_);
    path_ = std::exchange(other.path_, {});
    temp_dir_ = std::exchange(other.temp_dir_, {});
  }
  return *this;
}

absl::StatusOr<ConsoleSocket> ConsoleSocket::Listen(const std::string& dir) {
  static std::atomic<uint64_t> counter{0};
  ConsoleSocket socket;
  std::string name = absl::StrCat("pty-", getpid(), "-", counter.fetch_add(1), ".sock");
  socket.path_ = absl::StrCat(dir, "/", name);
  if (dir.empty() || socket.path_.size() > kMaxSocketPath) {
    std::string pattern = absl::StrCat(TempRoot(), "/airlock-pty-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) return ErrnoStatus(absl::StrCat("mkdtemp ", pattern));
    socket.temp_dir_ = pattern;  // mode 0700
    socket.path_ = absl::StrCat(pattern, "/pty.sock");
    if (socket.path_.size() > kMaxSocketPath) return absl::InvalidArgumentError("console socket path too long");
  }

  socket.listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!socket.listener_) return ErrnoStatus("console socket");
  struct sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket.path_.c_str(), socket.path_.size() + 1);
  unlink(socket.path_.c_str());  // a leftover of an earlier shim
  if (bind(socket.listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    absl::Status status = ErrnoStatus(absl::StrCat("bind ", socket.path_));
    socket.path_.clear();  // nothing to unlink
    return status;
  }
  // Only the shim's user (runc runs as it) may connect; nobody connects before listen().
  if (chmod(socket.path_.c_str(), 0600) != 0) return ErrnoStatus(absl::StrCat("chmod ", socket.path_));
  if (listen(socket.listener_.get(), 1) != 0) return ErrnoStatus("listen on console socket");
  return socket;
}

absl::StatusOr<UniqueFd> ConsoleSocket::ReceiveMaster(absl::Duration timeout) {
  if (!listener_) return absl::FailedPreconditionError("console socket is closed");
  const absl::Time deadline = absl::Now() + timeout;
  for (int attempt = 0; attempt < 16; ++attempt) {
    absl::StatusOr<bool> ready = WaitReadable(listener_.get(), deadline);
    if (!ready.ok()) return ready.status();
    if (!*ready) return absl::DeadlineExceededError("runc did not send the console (pty master) in time");
    UniqueFd conn(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!conn) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
      return ErrnoStatus("accept on console socket");
    }
    struct ucred peer{};
    socklen_t peer_len = sizeof peer;
    if (getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) == 0 && peer.uid != geteuid() &&
        peer.uid != 0) {
      log::Warn("console socket: ignoring a connection from uid ", peer.uid);
      continue;
    }

    ready = WaitReadable(conn.get(), deadline);
    if (!ready.ok()) return ready.status();
    if (!*ready) return absl::DeadlineExceededError("runc connected to the console socket but sent nothing");
    std::string name(kMaxNameLen, '\0');
    struct iovec iov = {name.data(), name.size()};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    struct msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t got;
    do {
      got = recvmsg(conn.get(), &msg, MSG_CMSG_CLOEXEC);
    } while (got < 0 && errno == EINTR);
    if (got < 0) return ErrnoStatus("recvmsg on console socket");

    std::vector<UniqueFd> fds;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < n; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.emplace_back(fd);
      }
    }
    if (msg.msg_flags & MSG_CTRUNC) return absl::InternalError("console socket: ancillary data truncated");
    if (fds.size() != 1) {
      return absl::InternalError(absl::StrCat("console socket: expected one fd, got ", fds.size()));
    }
    if (!isatty(fds[0].get())) return absl::InternalError("console socket: the fd received is not a terminal");
    name.resize(static_cast<size_t>(got));
    log::Debug("console socket: received the master of ", name);
    return std::move(fds[0]);
  }
  return absl::DeadlineExceededError("console socket: no usable connection");
}

void ConsoleSocket::Close() {
  listener_.reset();
  if (!path_.empty()) unlink(path_.c_str());
  if (!temp_dir_.empty()) rmdir(temp_dir_.c_str());
  path_.clear();
  temp_dir_.clear();
}

}  // namespace airlock::io
