#include "shim/ttrpc/client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <system_error>

#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "shim/base/log.h"
#include "shim/ttrpc/frame.h"
#include "shim/ttrpc/wire.h"
#include "ttrpc/ttrpc.pb.h"

namespace airlock::ttrpc {
namespace {

constexpr absl::Duration kDialRetry = absl::Milliseconds(10);

struct UnixAddress {
  sockaddr_un addr{};
  socklen_t len = 0;
};

absl::StatusOr<UnixAddress> ParseAddress(absl::string_view address) {
  absl::ConsumePrefix(&address, "unix://");
  if (address.empty()) return absl::InvalidArgumentError("empty socket address");
  UnixAddress out;
  out.addr.sun_family = AF_UNIX;
  const bool abstract = address[0] == '\0' || address[0] == '@';
  // A path needs its terminating NUL; an abstract name is counted exactly.
  if (address.size() + (abstract ? 0 : 1) > sizeof out.addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("socket address too long (", address.size(), " bytes)"));
  }
  std::memcpy(out.addr.sun_path, address.data(), address.size());
  if (abstract) out.addr.sun_path[0] = '\0';
  out.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + (abstract ? 0 : 1));
  return out;
}

int PollMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 1 << 30));
}

absl::Status Unavailable(absl::string_view what, int err) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(err)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(absl::string_view address, absl::Duration timeout) {
  absl::StatusOr<UnixAddress> addr = ParseAddress(address);
  if (!addr.ok()) return addr.status();
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    // Non-blocking for the connect only: a blocking one waits without limit on a full backlog.
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return Unavailable("socket", errno);
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr->addr), addr->len) == 0) {
      // The reader thread blocks in recv; writes pass MSG_DONTWAIT.
      int flags = fcntl(fd.get(), F_GETFL);
      if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) return Unavailable("fcntl", errno);
      try {
        return std::unique_ptr<Client>(new Client(std::move(fd)));
      } catch (const std::system_error& e) {
        return absl::ResourceExhaustedError(absl::StrCat("ttrpc client thread: ", e.what()));
      }
    }
    int err = errno;
    if (err == EINTR) continue;
    // Not there yet (containerd starting) or its backlog is full: retry, as containerd's dialer.
    if ((err == ENOENT || err == EAGAIN) && absl::Now() + kDialRetry < deadline) {
      absl::SleepFor(kDialRetry);
      continue;
    }
    std::string shown(address);
    if (!shown.empty() && shown[0] == '\0') shown[0] = '@';
    return Unavailable(absl::StrCat("connect ", shown), err);
  }
}

Client::Client(UniqueFd fd) : fd_(std::move(fd)) { reader_ = std::thread(&Client::ReadLoop, this); }

Client::~Client() {
  Close();
  if (reader_.joinable()) reader_.join();
}

void Client::Close() {
  Fail(absl::UnavailableError("ttrpc: client closed"));
  // Wakes the reader thread; the fd itself stays open until the destructor.
  shutdown(fd_.get(), SHUT_RDWR);
}

bool Client::broken() const {
  std::lock_guard lock(mu_);
  return !broken_.ok();
}

void Client::Fail(const absl::Status& status) {
  std::lock_guard lock(mu_);
  if (broken_.ok()) broken_ = status;
  for (auto& [id, pending] : pending_) {
    pending->result = broken_;
    pending->done = true;
    pending->done_cv.notify_one();
  }
  pending_.clear();
}

void Client::Deliver(uint32_t stream_id, absl::StatusOr<std::string> result) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(stream_id);
  if (it == pending_.end()) return;  // its caller gave up (timeout)
  it->second->result = std::move(result);
  it->second->done = true;
  it->second->done_cv.notify_one();
  pending_.erase(it);
}

absl::StatusOr<std::string> Client::Call(absl::string_view service, absl::string_view method,
                                         absl::string_view payload, absl::Duration timeout,
                                         const Metadata& metadata) {
  const absl::Time deadline = absl::Now() + timeout;
  ::ttrpc::Request request;
  request.set_service(std::string(service));
  request.set_method(std::string(method));
  request.set_payload(std::string(payload));
  if (timeout != absl::InfiniteDuration()) request.set_timeout_nano(absl::ToInt64Nanoseconds(timeout));
  for (const auto& [key, value] : metadata) {
    ::ttrpc::KeyValue* kv = request.add_metadata();
    kv->set_key(key);
    kv->set_value(value);
  }
  std::string body = request.SerializeAsString();
  if (body.size() > kMaxMessageSize) return OversizedError(static_cast<uint32_t>(body.size()));

  Pending pending;
  uint32_t stream_id;
  {
    std::lock_guard lock(mu_);
    if (!broken_.ok()) return broken_;
    stream_id = next_stream_id_;
    next_stream_id_ += 2;  // stays odd, wraps to 1
    pending_[stream_id] = &pending;
  }
  std::string frame;
  AppendFrame(frame, stream_id, kTypeRequest, body);
  absl::Status written;
  {
    std::lock_guard lock(write_mu_);
    written = WriteAll(frame, deadline);
  }
  if (!written.ok()) {
    // A frame cut short corrupts the stream for every call on it.
    Fail(absl::UnavailableError(absl::StrCat("ttrpc: write failed: ", written.message())));
    std::lock_guard lock(mu_);
    pending_.erase(stream_id);
    return written;
  }

  std::unique_lock lock(mu_);
  while (!pending.done) {
    if (deadline == absl::InfiniteFuture()) {
      pending.done_cv.wait(lock);
      continue;
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      pending_.erase(stream_id);
      return absl::DeadlineExceededError(absl::StrCat("ttrpc: ", service, "/", method, ": deadline exceeded"));
    }
    pending.done_cv.wait_for(lock, absl::ToChronoNanoseconds(left));
  }
  return std::move(pending.result);
}

absl::Status Client::WriteAll(absl::string_view bytes, absl::Time deadline) {
  size_t offset = 0;
  while (offset < bytes.size()) {
    ssize_t n = send(fd_.get(), bytes.data() + offset, bytes.size() - offset, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      offset += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int ms = PollMs(deadline);
      if (ms == 0) return absl::DeadlineExceededError("ttrpc: write timed out");
      struct pollfd pfd{fd_.get(), POLLOUT, 0};
      if (poll(&pfd, 1, ms) < 0 && errno != EINTR) return Unavailable("poll", errno);
      continue;
    }
    return Unavailable("send", n < 0 ? errno : EPIPE);
  }
  return absl::OkStatus();
}

void Client::ReadLoop() {
  FrameReader reader;
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Fail(n == 0 ? absl::UnavailableError("ttrpc: connection closed") : Unavailable("ttrpc: recv", errno));
      return;
    }
    reader.Feed(absl::string_view(buf, static_cast<size_t>(n)));
    for (;;) {
      absl::StatusOr<std::optional<Frame>> next = reader.Next();
      if (!next.ok()) {
        // Resynchronising would mean reading the whole oversized body; give the connection up.
        Fail(absl::UnavailableError(absl::StrCat("ttrpc: ", next.status().message())));
        shutdown(fd_.get(), SHUT_RDWR);
        return;
      }
      if (!next->has_value()) break;
      Frame& frame = **next;
      if (frame.header.type != kTypeResponse) {
        log::Warn("ttrpc: ignoring frame of type ", frame.header.type, " on stream ", frame.header.stream_id);
        continue;
      }
      ::ttrpc::Response response;
      if (!response.ParseFromString(frame.body)) {
        Deliver(frame.header.stream_id, absl::InternalError("ttrpc: malformed response"));
        continue;
      }
      if (response.has_status() && response.status().code() != 0) {
        Deliver(frame.header.stream_id, FromRpcStatus(response.status()));
      } else {
        Deliver(frame.header.stream_id, std::move(*response.mutable_payload()));
      }
    }
  }
}

}  // namespace airlock::ttrpc
