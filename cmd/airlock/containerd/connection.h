// A gRPC connection to containerd's API socket for the `airlock` CLI: unary and server-streaming
// calls with our lite protobuf messages, the namespace (metadata "containerd-namespace") and the
// run's lease (metadata "containerd-lease") on every call, and cancellation of calls in flight
// (Ctrl-C must not wait for a Wait that never ends).
//
// grpc++ stays behind this file: callers see absl::Status and lite messages only.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace airlock::containerd {

// containerd's default socket, and the one `ctr` uses without --address.
inline constexpr char kDefaultAddress[] = "/run/containerd/containerd.sock";

// $CONTAINERD_ADDRESS, else kDefaultAddress.
std::string DefaultAddress();
// $CONTAINERD_NAMESPACE, else "default".
std::string DefaultNamespace();

// Calls in flight that Cancel() aborts (with CANCELLED). Cancel is sticky: a call started after it
// fails at once, so a flow interrupted between two calls stops at the next one.
class Canceller {
 public:
  void Cancel();
  bool cancelled() const;
  // false when already cancelled (the call must not start).
  bool Register(grpc::ClientContext* context);
  void Unregister(grpc::ClientContext* context);

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::set<grpc::ClientContext*> active_;
};

struct CallOptions {
  // absl::InfiniteDuration(): no deadline (Wait).
  absl::Duration timeout = absl::Seconds(30);
  // Calls with this set ignore the canceller: the cleanup after Ctrl-C must still run.
  bool uncancellable = false;
  // Set: this call carries this lease instead of the connection's ("" = none). The setup cache's
  // snapshots belong to the cache's own lease, not to the run's.
  std::optional<std::string> lease;
};

class Connection {
 public:
  // Connects (bounded by `connect_timeout`). A missing socket or nobody answering on it is
  // Unavailable: "containerd is not running at ADDRESS (...)".
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& address, const std::string& name_space,
                                                          absl::Duration connect_timeout = absl::Seconds(5));
  ~Connection();

  // Every later call carries this lease ("" = none).
  void SetLease(const std::string& lease_id);
  const std::string& name_space() const { return namespace_; }
  const std::string& address() const { return address_; }
  Canceller& canceller() { return canceller_; }

  // `method` is the full path, e.g. "/containerd.services.tasks.v1.Tasks/Create". gRPC status
  // codes map to absl codes one to one; the message is containerd's.
  absl::Status Call(const char* method, const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response, const CallOptions& options = {});

  // A server-streaming call: `on_message` gets each message's bytes; an error from it ends the
  // call with that error.
  absl::Status ReadStream(const char* method, const google::protobuf::MessageLite& request,
                          const std::function<absl::Status(const std::string& bytes)>& on_message,
                          const CallOptions& options = {});

 private:
  Connection(std::string address, std::string name_space, std::shared_ptr<grpc::Channel> channel);
  void Prepare(grpc::ClientContext& context, const CallOptions& options) const;

  std::string address_;
  std::string namespace_;
  std::shared_ptr<grpc::Channel> channel_;
  mutable std::mutex mu_;
  std::string lease_;
  Canceller canceller_;
};

}  // namespace airlock::containerd
