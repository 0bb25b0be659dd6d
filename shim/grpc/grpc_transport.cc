#include "shim/grpc/grpc_transport.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/server_posix.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace airlock::grpc_plugin {
namespace {

// How long Shutdown() lets calls that are still being read finish before it cancels them.
constexpr auto kShutdownGrace = std::chrono::seconds(1);

grpc::Status ToGrpcStatus(const absl::Status& status) {
  // absl::StatusCode and grpc::StatusCode share their numbering (both follow google.rpc.Code).
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

// A response message that takes over `bytes` without copying them.
grpc::ByteBuffer ToByteBuffer(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  grpc::Slice slice(
      owned->data(), owned->size(), [](void* p) { delete static_cast<std::string*>(p); }, owned);
  return grpc::ByteBuffer(&slice, 1);
}

// "/containerd.task.v3.Task/Create" -> {"containerd.task.v3.Task", "Create"}.
bool SplitMethod(const std::string& path, std::string* service, std::string* method) {
  if (path.size() < 4 || path[0] != '/') return false;
  size_t slash = path.find('/', 1);
  if (slash == std::string::npos || slash == 1 || slash + 1 == path.size()) return false;
  if (path.find('/', slash + 1) != std::string::npos) return false;
  *service = path.substr(1, slash - 1);
  *method = path.substr(slash + 1);
  return true;
}

absl::Time ToAbslDeadline(std::chrono::system_clock::time_point deadline) {
  // gRPC reports "no deadline" as time_point::max(), which absl cannot represent exactly.
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

}  // namespace

struct GrpcTransport::Call {
  enum class Step { kRequested, kRead, kFinished };
  struct Tag {
    Call* call;
    Step step;
  };

  grpc::GenericServerContext context;
  grpc::GenericServerAsyncReaderWriter stream{&context};
  grpc::ByteBuffer request;
  bool counted = false;  // included in active_calls_
  Tag requested{this, Step::kRequested};
  Tag read{this, Step::kRead};
  Tag finished{this, Step::kFinished};
};

GrpcTransport::GrpcTransport(const Options& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<GrpcTransport>> GrpcTransport::Create(const Options& options) {
  if (!options.dispatch) return absl::InvalidArgumentError("grpc transport: no dispatch function");
  std::unique_ptr<GrpcTransport> transport(new GrpcTransport(options));
  size_t max_bytes = options.max_message_bytes == 0 ? kDefaultMaxMessageBytes : options.max_message_bytes;
  int max_message = max_bytes > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(max_bytes);

  grpc::ServerBuilder builder;
  builder.RegisterAsyncGenericService(&transport->service_);
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  transport->cq_ = builder.AddCompletionQueue();
  transport->server_ = builder.BuildAndStart();
  if (transport->server_ == nullptr) return absl::InternalError("grpc transport: cannot start the gRPC server");

  {
    std::lock_guard<std::mutex> lock(transport->shared_->mu);
    transport->RequestNextCall();
  }
  transport->loop_ = std::thread([t = transport.get()] { t->Loop(); });
  return transport;
}

GrpcTransport::~GrpcTransport() {
  Shutdown();
  // The server goes before the completion queue it was built with.
  server_.reset();
  cq_.reset();
}

absl::Status GrpcTransport::Adopt(int connected_fd) {
  struct stat st;
  if (connected_fd < 0 || fstat(connected_fd, &st) != 0) {
    if (connected_fd >= 0) close(connected_fd);
    return absl::InvalidArgumentError(absl::StrCat("grpc transport: bad fd ", connected_fd));
  }
  if (!S_ISSOCK(st.st_mode)) {
    close(connected_fd);
    return absl::InvalidArgumentError(absl::StrCat("grpc transport: fd ", connected_fd, " is not a socket"));
  }
  // gRPC's poller needs a non-blocking socket; the shim must not leak it into children.
  int flags = fcntl(connected_fd, F_GETFL);
  if (flags < 0 || fcntl(connected_fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
      fcntl(connected_fd, F_SETFD, FD_CLOEXEC) != 0) {
    int err = errno;
    close(connected_fd);
    return absl::InternalError(absl::StrCat("grpc transport: fcntl: ", strerror(err)));
  }

  std::lock_guard<std::mutex> lock(shared_->mu);
  if (shared_->closing) {
    close(connected_fd);
    return absl::FailedPreconditionError("grpc transport: shut down");
  }
  // From here gRPC owns the fd and closes it when the connection ends.
  grpc::AddInsecureChannelFromFd(server_.get(), connected_fd);
  Log(LogLevel::kDebug, absl::StrCat("grpc: serving connection fd ", connected_fd));
  return absl::OkStatus();
}

void GrpcTransport::Shutdown() {
  if (std::this_thread::get_id() == loop_.get_id()) {
    // Joining ourselves would deadlock; the dispatch contract forbids this.
    Log(LogLevel::kError, "grpc transport: Shutdown() called from the dispatch thread; ignored");
    return;
  }
  std::call_once(shutdown_once_, [this] {
    if (server_ == nullptr) return;  // Create() failed half-way
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->closing = true;
      for (auto& [id, call] : shared_->awaiting_reply) {
        FinishLocked(call, absl::UnavailableError("shim is shutting down"));
      }
      shared_->awaiting_reply.clear();
    }
    // Sends GOAWAY, lets the finishing calls complete and cancels what is left after the grace.
    server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->cq_closed = true;
    }
    cq_->Shutdown();
    if (loop_.joinable()) {
      loop_.join();
    } else {
      Loop();  // Create() failed before the thread started: drain the queue here
    }
  });
}

void GrpcTransport::Loop() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) {
    auto* t = static_cast<Call::Tag*>(tag);
    switch (t->step) {
      case Call::Step::kRequested:
        OnRequested(t->call, ok);
        break;
      case Call::Step::kRead:
        OnRead(t->call, ok);
        break;
      case Call::Step::kFinished:
        OnFinished(t->call);
        break;
    }
  }
}

// Callers hold shared_->mu.
void GrpcTransport::RequestNextCall() {
  if (shared_->closing || shared_->cq_closed) return;
  auto* call = new Call;
  service_.RequestCall(&call->context, &call->stream, cq_.get(), cq_.get(), &call->requested);
}

void GrpcTransport::OnRequested(Call* call, bool ok) {
  if (!ok) {  // the server is shutting down
    Discard(call);
    return;
  }
  call->counted = true;
  active_calls_.fetch_add(1);
  std::lock_guard<std::mutex> lock(shared_->mu);
  RequestNextCall();
  if (shared_->cq_closed) {
    Discard(call);
    return;
  }
  // Unary: exactly one request message follows.
  call->stream.Read(&call->request, &call->read);
}

void GrpcTransport::OnRead(Call* call, bool ok) {
  std::unique_lock<std::mutex> lock(shared_->mu);
  if (shared_->cq_closed) {
    Discard(call);
    return;
  }
  if (!ok) {  // the client half-closed without a message, or went away
    FinishLocked(call, absl::InternalError("grpc: no request message"));
    return;
  }
  rpc::CallContext context;
  if (!SplitMethod(call->context.method(), &context.service, &context.method)) {
    FinishLocked(call, absl::UnimplementedError(absl::StrCat("malformed method name ", call->context.method())));
    return;
  }
  if (shared_->closing) {
    FinishLocked(call, absl::UnavailableError("shim is shutting down"));
    return;
  }
  for (const auto& [key, value] : call->context.client_metadata()) {
    context.metadata.emplace_back(std::string(key.data(), key.size()), std::string(value.data(), value.size()));
  }
  context.deadline = ToAbslDeadline(call->context.deadline());
  std::string payload = Flatten(call->request);
  call->request.Clear();

  uint64_t id = shared_->next_id++;
  shared_->awaiting_reply.emplace(id, call);
  rpc::Reply reply = [shared = shared_, id](absl::StatusOr<std::string> result) {
    std::lock_guard<std::mutex> lock(shared->mu);
    auto it = shared->awaiting_reply.find(id);
    if (it == shared->awaiting_reply.end()) return;  // already finished by Shutdown(), or a second reply
    Call* waiting = it->second;
    shared->awaiting_reply.erase(it);
    FinishLocked(waiting, std::move(result));
  };

  // The dispatch may reply inline, which takes the lock.
  lock.unlock();
  try {
    options_.dispatch(std::move(context), std::move(payload), reply);
  } catch (const std::exception& e) {
    // Nothing may escape into gRPC; the call still needs its one reply.
    reply(absl::InternalError(absl::StrCat("dispatch failed: ", e.what())));
  } catch (...) {
    reply(absl::InternalError("dispatch failed"));
  }
}

void GrpcTransport::OnFinished(Call* call) { Discard(call); }

void GrpcTransport::FinishLocked(Call* call, absl::StatusOr<std::string> result) {
  if (result.ok()) {
    // The size limit is enforced by gRPC (RESOURCE_EXHAUSTED), as for any other server.
    call->stream.WriteAndFinish(ToByteBuffer(std::move(*result)), grpc::WriteOptions(), grpc::Status::OK,
                                &call->finished);
  } else {
    call->stream.Finish(ToGrpcStatus(result.status()), &call->finished);
  }
}

void GrpcTransport::Discard(Call* call) {
  if (call->counted) active_calls_.fetch_sub(1);
  delete call;
}

void GrpcTransport::Log(LogLevel level, const std::string& message) const {
  if (options_.log) options_.log(level, message);
}

}  // namespace airlock::grpc_plugin
