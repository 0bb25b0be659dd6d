// Helpers shared by the ttrpc and events tests: temp dirs, a reactor on its own thread, a served
// test registry and a raw socket peer that speaks frames by hand.
#pragma once

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "shim/base/reactor.h"
#include "shim/base/unique_fd.h"
#include "shim/rpc/registry.h"
#include "shim/ttrpc/frame.h"
#include "shim/ttrpc/server.h"
#include "shim/ttrpc/wire.h"
#include "ttrpc/ttrpc.pb.h"

namespace airlock::ttrpc::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/airlock-ttrpc-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A bound, listening unix socket at `path` ("\0..." for an abstract name), or an invalid fd.
inline UniqueFd Listen(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return UniqueFd();
  std::memcpy(addr.sun_path, path.data(), path.size());
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '\0' ? 0 : 1));
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) return UniqueFd();
  if (listen(fd.get(), 128) != 0) return UniqueFd();
  return fd;
}

// A blocking client socket; reads give up after 10 s so a broken test cannot hang.
inline UniqueFd Dial(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '\0' ? 0 : 1));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) return UniqueFd();
  timeval tv{10, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

inline bool SendAll(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

inline std::string RequestBody(const std::string& service, const std::string& method, const std::string& payload,
                               int64_t timeout_nano = 0) {
  ::ttrpc::Request request;
  request.set_service(service);
  request.set_method(method);
  request.set_payload(payload);
  request.set_timeout_nano(timeout_nano);
  return request.SerializeAsString();
}

inline std::string RequestFrame(uint32_t stream_id, const std::string& service, const std::string& method,
                                const std::string& payload) {
  std::string frame;
  AppendFrame(frame, stream_id, kTypeRequest, RequestBody(service, method, payload));
  return frame;
}

// Reads one frame; nullopt on EOF, error or timeout.
class FramePeer {
 public:
  explicit FramePeer(int fd) : fd_(fd) {}
  std::optional<Frame> Read() {
    for (;;) {
      absl::StatusOr<std::optional<Frame>> next = reader_.Next();
      if (!next.ok()) return std::nullopt;
      if (next->has_value()) return std::move(**next);
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      reader_.Feed(absl::string_view(buf, static_cast<size_t>(n)));
    }
  }

 private:
  int fd_;
  FrameReader reader_;
};

// The call result a Response body carries.
inline absl::StatusOr<std::string> DecodeResponse(const std::string& body) {
  ::ttrpc::Response response;
  if (!response.ParseFromString(body)) return absl::DataLossError("bad response");
  if (response.has_status() && response.status().code() != 0) return FromRpcStatus(response.status());
  return response.payload();
}

// True once the peer has closed `fd` (EOF or reset) within 10 s; data still queued is skipped.
inline bool WaitClosed(int fd) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  char buf[4096];
  while (absl::Now() < deadline) {
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return true;
  }
  return false;
}

// Polls `condition` for up to 10 s.
inline bool Eventually(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return condition();
}

// A Reactor running on its own thread.
class ReactorThread {
 public:
  ReactorThread() : reactor_(std::move(*Reactor::Create())) {}
  ~ReactorThread() { Stop(); }
  Reactor& reactor() { return *reactor_; }
  void Start() {
    thread_ = std::thread([this] { reactor_->Run(); });
  }
  void Stop() {
    if (!thread_.joinable()) return;
    reactor_->Stop();
    thread_.join();
  }
  bool running() const { return thread_.joinable(); }
  // Runs `fn` on the reactor thread (inline if not running) and waits for it.
  void Sync(const std::function<void()>& fn) {
    if (!running()) {
      fn();
      return;
    }
    std::promise<void> done;
    reactor_->Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  std::unique_ptr<Reactor> reactor_;
  std::thread thread_;
};

// A ttrpc Server on a reactor thread, listening at dir/name.
class ServedRegistry {
 public:
  ServedRegistry(const rpc::Registry& registry, std::string path, ServerOptions limits = {})
      : path_(std::move(path)), server_(std::make_unique<Server>(reactor_.reactor(), registry, limits)) {}
  ~ServedRegistry() {
    reactor_.Stop();
    server_.reset();
  }
  // Starts serving; configure the server (e.g. SetForeignProtocol) before.
  bool Start() {
    UniqueFd listener = Listen(path_);
    if (!listener) return false;
    if (!server_->Serve(std::move(listener)).ok()) return false;
    reactor_.Start();
    return true;
  }
  // Stops accepting, drops all connections and removes the socket file.
  void Shutdown() {
    reactor_.Sync([this] { server_->Shutdown(); });
    if (!path_.empty() && path_[0] != '\0') unlink(path_.c_str());
  }
  Server& server() { return *server_; }
  ReactorThread& reactor() { return reactor_; }
  const std::string& path() const { return path_; }

 private:
  ReactorThread reactor_;
  std::string path_;
  std::unique_ptr<Server> server_;
};

}  // namespace airlock::ttrpc::testing
