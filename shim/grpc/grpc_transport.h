// The gRPC transport inside airlock-grpc.so: a grpc++ server without listening ports that serves
// adopted, already connected sockets through one AsyncGenericService and one completion-queue
// thread. Every call is treated as unary and handed, as bytes, to Options::dispatch.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "shim/grpc/plugin_api.h"

namespace airlock::grpc_plugin {

class GrpcTransport final : public Transport {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcTransport>> Create(const Options& options);
  ~GrpcTransport() override;

  absl::Status Adopt(int connected_fd) override;
  void Shutdown() override;
  size_t ActiveCalls() const override { return active_calls_.load(); }

 private:
  struct Call;
  // State the reply callbacks share: they may outlive the transport, so they hold this, never
  // the transport, and find their call by id (never by pointer, which may be reused).
  struct Shared {
    std::mutex mu;
    bool closing = false;    // Shutdown() began: replies are dropped, Adopt() fails
    bool cq_closed = false;  // the completion queue is shutting down: no new operations
    uint64_t next_id = 1;
    std::unordered_map<uint64_t, Call*> awaiting_reply;
  };

  explicit GrpcTransport(const Options& options);

  void Loop();
  void RequestNextCall();
  void OnRequested(Call* call, bool ok);
  void OnRead(Call* call, bool ok);
  void OnFinished(Call* call);
  void Log(LogLevel level, const std::string& message) const;

  // Starts the final operation of `call` (reply or error). Callers hold shared_->mu and have
  // checked that the queue is open. Static: reply callbacks run it without the transport.
  static void FinishLocked(Call* call, absl::StatusOr<std::string> result);
  // Frees a call that has no operation in flight.
  void Discard(Call* call);

  const Options options_;
  const std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  grpc::AsyncGenericService service_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<grpc::Server> server_;
  std::thread loop_;
  std::once_flag shutdown_once_;
  std::atomic<size_t> active_calls_{0};
};

}  // namespace airlock::grpc_plugin
