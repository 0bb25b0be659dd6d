// Transport-neutral RPC dispatch. ttrpc and gRPC both hand (service, method, payload bytes) to a
// Registry; the same typed handlers serve `containerd.task.v2.Task`, `containerd.task.v3.Task` and
// `airlock.v1.Control` on every transport.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shim/base/worker_pool.h"

namespace airlock::rpc {

struct CallContext {
  std::string service;
  std::string method;
  std::vector<std::pair<std::string, std::string>> metadata;
  absl::Time deadline = absl::InfiniteFuture();

  // First value of a metadata key, or "".
  absl::string_view Metadata(absl::string_view key) const;
};

// Completes a call with the serialized response or an error. Call exactly once, from any thread.
using Reply = std::function<void(absl::StatusOr<std::string>)>;
using Handler = std::function<void(const CallContext&, std::string payload, Reply)>;

class Registry {
 public:
  // Handlers run on `pool` (they may block); a null pool runs them inline (tests).
  explicit Registry(WorkerPool* pool) : pool_(pool) {}

  void Add(std::string service, std::string method, Handler handler);

  // Unknown service or method completes with Unimplemented, worded as ttrpc does
  // ("service X" / "method Y").
  void Dispatch(CallContext context, std::string payload, Reply reply) const;

 private:
  WorkerPool* pool_;
  std::map<std::string, std::map<std::string, Handler, std::less<>>, std::less<>> services_;
};

// Adapters from typed functions to byte-level handlers. A request that does not parse completes
// with InvalidArgument, never reaching the function.
template <typename Req, typename Resp>
Handler Unary(std::function<absl::StatusOr<Resp>(const CallContext&, const Req&)> fn) {
  return [fn = std::move(fn)](const CallContext& ctx, std::string payload, Reply reply) {
    Req request;
    if (!request.ParseFromString(payload)) {
      reply(absl::InvalidArgumentError("unmarshal request error: malformed " + request.GetTypeName()));
      return;
    }
    absl::StatusOr<Resp> response = fn(ctx, request);
    if (!response.ok()) {
      reply(response.status());
      return;
    }
    reply(response->SerializeAsString());
  };
}

// For calls that finish later (Wait): `fn` receives a completion to call exactly once.
template <typename Req, typename Resp>
Handler Deferred(std::function<void(const CallContext&, const Req&, std::function<void(absl::StatusOr<Resp>)>)> fn) {
  return [fn = std::move(fn)](const CallContext& ctx, std::string payload, Reply reply) {
    Req request;
    if (!request.ParseFromString(payload)) {
      reply(absl::InvalidArgumentError("unmarshal request error: malformed " + request.GetTypeName()));
      return;
    }
    fn(ctx, request, [reply = std::move(reply)](absl::StatusOr<Resp> response) {
      if (!response.ok()) {
        reply(response.status());
      } else {
        reply(response->SerializeAsString());
      }
    });
  };
}

}  // namespace airlock::rpc
