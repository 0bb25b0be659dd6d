#include "cmd/airlock/containerd/connection.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/sync_stream.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace airlock::containerd {
namespace {

constexpr int kMaxMessageBytes = 16 << 20;  // containerd's own limit

std::chrono::system_clock::time_point Deadline(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

absl::Status FromGrpc(const grpc::Status& status, absl::string_view method) {
  if (status.ok()) return absl::OkStatus();
  auto code = static_cast<absl::StatusCode>(status.error_code());
  std::string message = status.error_message();
  if (message.empty()) message = absl::StrCat(method, " failed");
  return absl::Status(code, message);
}

// Holds a context registered with the canceller for the duration of one call.
class Registration {
 public:
  Registration(Canceller& canceller, grpc::ClientContext* context, bool enabled)
      : canceller_(canceller), context_(context), enabled_(enabled) {}
  bool Start() { return !enabled_ || (registered_ = canceller_.Register(context_)); }
  ~Registration() {
    if (registered_) canceller_.Unregister(context_);
  }

 private:
  Canceller& canceller_;
  grpc::ClientContext* context_;
  bool enabled_;
  bool registered_ = false;
};

}  // namespace

std::string DefaultAddress() {
  const char* env = std::getenv("CONTAINERD_ADDRESS");
  return env != nullptr && env[0] != '\0' ? env : kDefaultAddress;
}

std::string DefaultNamespace() {
  const char* env = std::getenv("CONTAINERD_NAMESPACE");
  return env != nullptr && env[0] != '\0' ? env : "default";
}

void Canceller::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  for (grpc::ClientContext* context : active_) context->TryCancel();
}

bool Canceller::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

bool Canceller::Register(grpc::ClientContext* context) {
  std::lock_guard lock(mu_);
  if (cancelled_) return false;
  active_.insert(context);
  return true;
}

void Canceller::Unregister(grpc::ClientContext* context) {
  std::lock_guard lock(mu_);
  active_.erase(context);
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& address, const std::string& name_space,
                                                             absl::Duration connect_timeout) {
  std::string path = address;
  if (absl::StartsWith(path, "unix://")) path = path.substr(7);
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("containerd address \"", address, "\": want an absolute socket path"));
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat("containerd is not running at ", path, " (no such socket; start containerd or pass --address)"));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::UnavailableError(absl::StrCat("containerd address ", path, " is not a socket"));
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  auto channel = grpc::CreateCustomChannel("unix://" + path, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(Deadline(connect_timeout))) {
    return absl::UnavailableError(absl::StrCat("containerd is not running at ", path, " (nobody answers on the socket within ",
                                               absl::FormatDuration(connect_timeout), ")"));
  }
  return std::unique_ptr<Connection>(new Connection(path, name_space, std::move(channel)));
}

Connection::Connection(std::string address, std::string name_space, std::shared_ptr<grpc::Channel> channel)
    : address_(std::move(address)), namespace_(std::move(name_space)), channel_(std::move(channel)) {}

Connection::~Connection() = default;

void Connection::SetLease(const std::string& lease_id) {
  std::lock_guard lock(mu_);
  lease_ = lease_id;
}

void Connection::Prepare(grpc::ClientContext& context, const CallOptions& options) const {
  if (options.timeout != absl::InfiniteDuration()) context.set_deadline(Deadline(options.timeout));
  context.AddMetadata("containerd-namespace", namespace_);
  if (options.lease) {
    if (!options.lease->empty()) context.AddMetadata("containerd-lease", *options.lease);
    return;
  }
  std::lock_guard lock(mu_);
  if (!lease_.empty()) context.AddMetadata("containerd-lease", lease_);
}

absl::Status Connection::Call(const char* method, const google::protobuf::MessageLite& request,
                              google::protobuf::MessageLite* response, const CallOptions& options) {
  grpc::ClientContext context;
  Prepare(context, options);
  Registration registration(canceller_, &context, !options.uncancellable);
  if (!registration.Start()) return absl::CancelledError(absl::StrCat(method, ": interrupted"));
  grpc::internal::RpcMethod rpc(method, grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::Status status =
      grpc::internal::BlockingUnaryCall<google::protobuf::MessageLite, google::protobuf::MessageLite>(
          channel_.get(), rpc, &context, request, response);
  return FromGrpc(status, method);
}

absl::Status Connection::ReadStream(const char* method, const google::protobuf::MessageLite& request,
                                    const std::function<absl::Status(const std::string& bytes)>& on_message,
                                    const CallOptions& options) {
  grpc::ClientContext context;
  Prepare(context, options);
  Registration registration(canceller_, &context, !options.uncancellable);
  if (!registration.Start()) return absl::CancelledError(absl::StrCat(method, ": interrupted"));
  grpc::internal::RpcMethod rpc(method, grpc::internal::RpcMethod::SERVER_STREAMING);
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(channel_.get(), rpc, &context, request));
  grpc::ByteBuffer buffer;
  absl::Status handler_status;
  while (reader->Read(&buffer)) {
    std::string bytes;
    std::vector<grpc::Slice> slices;
    if (!buffer.Dump(&slices).ok()) {
      handler_status = absl::DataLossError(absl::StrCat(method, ": unreadable message"));
      break;
    }
    for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    handler_status = on_message(bytes);
    if (!handler_status.ok()) break;
  }
  if (!handler_status.ok()) {
    context.TryCancel();
    (void)reader->Finish();
    return handler_status;
  }
  return FromGrpc(reader->Finish(), method);
}

}  // namespace airlock::containerd
