#include "shim/ttrpc/server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"
#include "shim/base/log.h"
#include "shim/ttrpc/frame.h"
#include "shim/ttrpc/wire.h"
#include "ttrpc/ttrpc.pb.h"

namespace airlock::ttrpc {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Bytes read per wakeup, so one busy peer cannot starve the others.
constexpr size_t kReadBudget = 1u << 20;
constexpr int kAcceptBatch = 64;
constexpr int kMaxIov = 64;
constexpr absl::Duration kAcceptPause = absl::Milliseconds(100);

std::string ErrorFrame(uint32_t stream_id, const absl::Status& status) {
  std::string frame;
  AppendFrame(frame, stream_id, kTypeResponse, EncodeResponse(status));
  return frame;
}

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

// One accepted socket. Reactor-thread state is unguarded; what reply threads touch (the inbox of
// finished responses, the in-flight count, the closed flag) is behind mu_. Every entry point holds
// a shared_ptr to the connection, so closing it from inside its own callback is safe.
class Server::Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Mode { kSniffing, kTtrpc, kDraining, kClosed };

  Connection(Server* server, UniqueFd fd)
      : server_(server), reactor_(server->reactor_), fd_(std::move(fd)), key_(fd_.get()) {}

  absl::Status Start(bool sniff);
  // Any thread: a reply for `stream_id` is ready.
  void Complete(uint32_t stream_id, absl::StatusOr<std::string> result);
  // Reactor thread; idempotent. `abnormal` closes are the peer's fault and logged as warnings.
  void Close(absl::string_view why, bool abnormal = false);

 private:
  void OnEvents(uint32_t events);
  void Sniff(uint32_t events);
  void BecomeTtrpc();
  void HandOff();
  void ReadFrames();
  void ProcessFrames();
  void HandleFrame(Frame frame);
  void Drain(uint32_t stream_id, const absl::Status& status);
  void TakeInbox();
  void Queue(std::string frame);
  void Write();
  void UpdateInterest();
  void CancelTimer();

  Server* server_;
  Reactor& reactor_;
  UniqueFd fd_;
  const int key_;  // fd number, the key in Server::connections_

  // Reactor thread only.
  Mode mode_ = Mode::kTtrpc;
  FrameReader reader_;
  std::deque<std::string> out_;  // encoded frames; the first is sent from out_offset_
  size_t out_offset_ = 0;
  size_t out_bytes_ = 0;  // unsent bytes in out_
  uint32_t interest_ = 0;
  Reactor::TimerId timer_ = 0;  // sniff or drain deadline

  std::mutex mu_;
  bool closed_ = false;
  std::vector<std::string> inbox_;
  size_t in_flight_ = 0;
  bool flush_posted_ = false;
};

absl::Status Server::Connection::Start(bool sniff) {
  mode_ = sniff ? Mode::kSniffing : Mode::kTtrpc;
  // Sniffing peeks without consuming, so it must be edge-triggered or the same bytes would wake
  // the reactor forever.
  interest_ = sniff ? (EPOLLIN | EPOLLRDHUP | EPOLLET) : EPOLLIN;
  absl::Status status =
      reactor_.Add(fd_.get(), interest_, [self = shared_from_this()](uint32_t events) { self->OnEvents(events); });
  if (!status.ok()) return status;
  if (sniff) {
    timer_ = reactor_.RunAfter(server_->options_.sniff_timeout, [weak = weak_from_this()] {
      auto self = weak.lock();
      if (!self || self->mode_ != Mode::kSniffing) return;
      self->timer_ = 0;
      // A client that has said nothing yet may be an idle ttrpc client; one stuck halfway through
      // the foreign opening is neither.
      char byte;
      ssize_t n = recv(self->fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n > 0) {
        self->Close("stalled inside the foreign protocol's opening", true);
      } else {
        self->BecomeTtrpc();
      }
    });
  }
  return absl::OkStatus();
}

void Server::Connection::Complete(uint32_t stream_id, absl::StatusOr<std::string> result) {
  std::string frame;
  AppendFrame(frame, stream_id, kTypeResponse, EncodeResponse(std::move(result)));
  std::lock_guard lock(mu_);
  if (closed_) return;  // the peer is gone; nobody to tell
  if (in_flight_ > 0) --in_flight_;
  inbox_.push_back(std::move(frame));
  if (flush_posted_) return;
  flush_posted_ = true;
  // Posted under mu_: Close() sets closed_ under mu_ before the Server (and so the Reactor it
  // borrows) can go away, so no reply thread can reach a dead reactor.
  reactor_.Post([weak = weak_from_this()] {
    if (auto self = weak.lock()) self->TakeInbox();
  });
}

void Server::Connection::Close(absl::string_view why, bool abnormal) {
  if (mode_ == Mode::kClosed) return;
  if (abnormal) {
    log::Warn("ttrpc: closing connection: ", why);
  } else {
    log::Debug("ttrpc: closing connection: ", why);
  }
  mode_ = Mode::kClosed;
  CancelTimer();
  reactor_.Remove(fd_.get());
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    inbox_.clear();
  }
  fd_.reset();
  out_.clear();
  out_bytes_ = 0;
  server_->Forget(key_);
}

void Server::Connection::CancelTimer() {
  if (timer_ != 0) reactor_.CancelTimer(timer_);
  timer_ = 0;
}

void Server::Connection::OnEvents(uint32_t events) {
  switch (mode_) {
    case Mode::kClosed:
      return;
    case Mode::kSniffing:
      Sniff(events);
      return;
    case Mode::kTtrpc:
    case Mode::kDraining:
      break;
  }
  if (events & EPOLLOUT) {
    Write();
    if (mode_ == Mode::kClosed) return;
  }
  if (mode_ == Mode::kTtrpc && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
    ReadFrames();
  } else if (mode_ == Mode::kDraining && (events & (EPOLLHUP | EPOLLERR))) {
    Close("peer left before its final answer");
  }
}

void Server::Connection::Sniff(uint32_t events) {
  const size_t needed = server_->foreign_bytes_needed_;
  std::string peek(needed, '\0');
  ssize_t n;
  do {
    n = recv(fd_.get(), peek.data(), peek.size(), MSG_PEEK);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (!WouldBlock(errno)) {
      Close(absl::StrCat("recv: ", strerror(errno)));
    } else if (events & (EPOLLHUP | EPOLLERR)) {
      Close("peer left");
    }
    return;
  }
  if (n == 0) {
    Close("EOF before the first byte");
    return;
  }
  absl::string_view seen(peek.data(), static_cast<size_t>(n));
  if (!server_->foreign_matches_(seen)) {
    BecomeTtrpc();
  } else if (seen.size() >= needed) {
    HandOff();
  } else if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    Close("peer left inside the foreign protocol's opening", true);
  }
  // Otherwise a prefix so far: the next bytes bring another edge.
}

void Server::Connection::BecomeTtrpc() {
  CancelTimer();
  mode_ = Mode::kTtrpc;
  interest_ = EPOLLIN;
  if (absl::Status status = reactor_.Modify(fd_.get(), interest_); !status.ok()) {
    Close(status.message());
    return;
  }
  ReadFrames();
}

void Server::Connection::HandOff() {
  CancelTimer();
  mode_ = Mode::kClosed;
  reactor_.Remove(fd_.get());
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  UniqueFd fd = std::move(fd_);
  Server* server = server_;
  server->Forget(key_);
  server->foreign_handoff_(std::move(fd));
}

void Server::Connection::ReadFrames() {
  char buf[kReadChunk];
  size_t total = 0;
  while (mode_ == Mode::kTtrpc && total < kReadBudget) {
    ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
    if (n > 0) {
      total += static_cast<size_t>(n);
      reader_.Feed(absl::string_view(buf, static_cast<size_t>(n)));
      ProcessFrames();
      continue;
    }
    if (n == 0) {
      if (reader_.mid_frame()) {
        Close("EOF in the middle of a frame", true);
      } else {
        Close("EOF");
      }
      return;
    }
    if (errno == EINTR) continue;
    if (WouldBlock(errno)) break;
    Close(absl::StrCat("recv: ", strerror(errno)));
    return;
  }
  if (mode_ != Mode::kClosed) Write();
}

void Server::Connection::ProcessFrames() {
  while (mode_ == Mode::kTtrpc) {
    absl::StatusOr<std::optional<Frame>> next = reader_.Next();
    if (!next.ok()) {
      Drain(reader_.failed_header().stream_id, next.status());
      return;
    }
    if (!next->has_value()) return;
    HandleFrame(std::move(**next));
  }
}

void Server::Connection::HandleFrame(Frame frame) {
  const uint32_t stream_id = frame.header.stream_id;
  if (frame.header.type != kTypeRequest) {
    Close(absl::StrCat("unexpected frame type ", frame.header.type, " on stream ", stream_id), true);
    return;
  }
  ::ttrpc::Request request;
  if (!request.ParseFromString(frame.body)) {
    Queue(ErrorFrame(stream_id, absl::InvalidArgumentError("unmarshal request error: malformed ttrpc.Request")));
    return;
  }
  if (stream_id % 2 != 1) {
    Queue(ErrorFrame(stream_id, absl::InvalidArgumentError("StreamID must be odd for client initiated streams")));
    return;
  }
  bool over_limit = false;
  {
    std::lock_guard lock(mu_);
    over_limit = in_flight_ >= server_->options_.max_in_flight;
    if (!over_limit) ++in_flight_;
  }
  if (over_limit) {
    Close(absl::StrCat("more than ", server_->options_.max_in_flight, " requests in flight"), true);
    return;
  }
  rpc::CallContext context;
  context.service = std::move(*request.mutable_service());
  context.method = std::move(*request.mutable_method());
  context.metadata.reserve(static_cast<size_t>(request.metadata_size()));
  for (auto& kv : *request.mutable_metadata()) {
    context.metadata.emplace_back(std::move(*kv.mutable_key()), std::move(*kv.mutable_value()));
  }
  // As ttrpc-go: 0 means no deadline; a negative timeout is already expired.
  if (request.timeout_nano() != 0) context.deadline = absl::Now() + absl::Nanoseconds(request.timeout_nano());
  server_->registry_.Dispatch(std::move(context), std::move(*request.mutable_payload()),
                              [weak = weak_from_this(), stream_id](absl::StatusOr<std::string> result) {
                                if (auto self = weak.lock()) self->Complete(stream_id, std::move(result));
                              });
}

void Server::Connection::Drain(uint32_t stream_id, const absl::Status& status) {
  log::Warn("ttrpc: ", status.message(), "; closing connection");
  Queue(ErrorFrame(stream_id, status));
  if (mode_ == Mode::kClosed) return;
  mode_ = Mode::kDraining;
  CancelTimer();
  timer_ = reactor_.RunAfter(server_->options_.drain_timeout, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self || self->mode_ != Mode::kDraining) return;
    self->timer_ = 0;
    self->Close("peer did not read its final answer", true);
  });
}

void Server::Connection::TakeInbox() {
  std::vector<std::string> batch;
  {
    std::lock_guard lock(mu_);
    flush_posted_ = false;
    batch.swap(inbox_);
  }
  for (std::string& frame : batch) {
    if (mode_ == Mode::kClosed || mode_ == Mode::kSniffing) return;
    Queue(std::move(frame));
  }
  if (mode_ != Mode::kClosed) Write();
}

void Server::Connection::Queue(std::string frame) {
  if (mode_ == Mode::kClosed) return;
  out_bytes_ += frame.size();
  out_.push_back(std::move(frame));
  if (out_bytes_ > server_->options_.max_queued_output) {
    Close(absl::StrCat("peer does not read its answers (", out_bytes_, " bytes queued)"), true);
  }
}

void Server::Connection::Write() {
  while (!out_.empty()) {
    struct iovec iov[kMaxIov];
    int count = 0;
    for (auto it = out_.begin(); it != out_.end() && count < kMaxIov; ++it, ++count) {
      size_t skip = count == 0 ? out_offset_ : 0;
      iov[count].iov_base = it->data() + skip;
      iov[count].iov_len = it->size() - skip;
    }
    struct msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    ssize_t n = sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (WouldBlock(errno)) break;
      Close(absl::StrCat("send: ", strerror(errno)));
      return;
    }
    auto sent = static_cast<size_t>(n);
    out_bytes_ -= sent;
    while (sent > 0) {
      size_t left = out_.front().size() - out_offset_;
      if (sent < left) {
        out_offset_ += sent;
        break;
      }
      sent -= left;
      out_.pop_front();
      out_offset_ = 0;
    }
  }
  if (out_.empty() && mode_ == Mode::kDraining) {
    Close("final answer sent");
    return;
  }
  UpdateInterest();
}

void Server::Connection::UpdateInterest() {
  uint32_t wanted = (mode_ == Mode::kTtrpc ? EPOLLIN : 0u) | (out_.empty() ? 0u : EPOLLOUT);
  if (wanted == interest_) return;
  if (absl::Status status = reactor_.Modify(fd_.get(), wanted); !status.ok()) {
    Close(status.message());
    return;
  }
  interest_ = wanted;
}

Server::Server(Reactor& reactor, const rpc::Registry& registry, ServerOptions options)
    : reactor_(reactor), registry_(registry), options_(options), euid_(geteuid()), egid_(getegid()) {}

Server::~Server() { Shutdown(); }

absl::Status Server::Serve(UniqueFd listening_socket) {
  if (shut_down_) return absl::FailedPreconditionError("ttrpc server is shut down");
  const int fd = listening_socket.get();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return ErrnoStatus("fcntl O_NONBLOCK");
  int fd_flags = fcntl(fd, F_GETFD);
  if (fd_flags < 0 || fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC) != 0) return ErrnoStatus("fcntl FD_CLOEXEC");
  absl::Status status = reactor_.Add(fd, EPOLLIN, [this, fd](uint32_t) { OnAcceptable(fd); });
  if (!status.ok()) return status;
  listeners_[fd].fd = std::move(listening_socket);
  return absl::OkStatus();
}

void Server::SetForeignProtocol(std::function<bool(absl::string_view first_bytes)> matches, size_t bytes_needed,
                                std::function<void(UniqueFd)> handoff) {
  foreign_matches_ = std::move(matches);
  foreign_bytes_needed_ = std::max<size_t>(bytes_needed, 1);
  foreign_handoff_ = std::move(handoff);
}

void Server::OnAcceptable(int listen_fd) {
  const bool sniff = foreign_matches_ && foreign_handoff_;
  for (int i = 0; i < kAcceptBatch; ++i) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (WouldBlock(err)) return;
      log::Error("ttrpc: accept: ", strerror(err));
      // Out of fds or memory: level-triggered, the listener would spin. Try again shortly.
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) PauseListener(listen_fd);
      return;
    }
    UniqueFd accepted(fd);
    if (options_.require_same_user) {
      struct ucred peer{};
      socklen_t len = sizeof peer;
      if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
        log::Warn("ttrpc: cannot read peer credentials: ", strerror(errno));
        continue;
      }
      if (peer.uid != euid_ || peer.gid != egid_) {
        log::Warn("ttrpc: refusing connection from pid ", peer.pid, " uid ", peer.uid, " gid ", peer.gid);
        continue;
      }
    }
    auto connection = std::make_shared<Connection>(this, std::move(accepted));
    if (absl::Status status = connection->Start(sniff); !status.ok()) {
      log::Warn("ttrpc: cannot watch new connection: ", status.message());
      continue;
    }
    connections_[fd] = std::move(connection);
    ++connection_count_;
  }
}

void Server::PauseListener(int listen_fd) {
  auto it = listeners_.find(listen_fd);
  if (it == listeners_.end() || it->second.resume_timer != 0) return;
  if (!reactor_.Modify(listen_fd, 0).ok()) return;
  it->second.resume_timer = reactor_.RunAfter(kAcceptPause, [this, listen_fd] {
    auto it = listeners_.find(listen_fd);
    if (it == listeners_.end()) return;
    it->second.resume_timer = 0;
    if (!reactor_.Modify(listen_fd, EPOLLIN).ok()) log::Error("ttrpc: cannot resume listener");
  });
}

void Server::Forget(int fd) {
  if (connections_.erase(fd) > 0) --connection_count_;
}

void Server::Shutdown() {
  shut_down_ = true;
  for (auto& [fd, listener] : listeners_) {
    if (listener.resume_timer != 0) reactor_.CancelTimer(listener.resume_timer);
    reactor_.Remove(fd);
  }
  listeners_.clear();
  std::map<int, std::shared_ptr<Connection>> connections;
  connections.swap(connections_);
  for (auto& [fd, connection] : connections) connection->Close("server shutdown");
  connection_count_ = 0;
}

}  // namespace airlock::ttrpc
