// The ABI between the shim and its lazily loaded gRPC transport module (airlock-grpc.so).
//
// Header only: the module needs no symbol from the shim executable. Both sides are built by the
// same compiler against the same std:: and (shared, Debian) absl headers, so std::function,
// std::string and absl::Status may cross the boundary. Any change to a type used here, or to the
// meaning of a call, bumps kAbiVersion.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "shim/rpc/registry.h"

namespace airlock::grpc_plugin {

inline constexpr int kAbiVersion = 1;

// containerd's gRPC default (defaults.DefaultMaxRecvMsgSize / DefaultMaxSendMsgSize).
inline constexpr size_t kDefaultMaxMessageBytes = 16u << 20;

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct Options {
  int abi_version = kAbiVersion;
  // Every unary call goes here: service and method split from "/pkg.Service/Method", client
  // metadata and deadline in the context. Called on the module's completion-queue thread, so it
  // must not block; the reply may come from any thread, exactly once.
  std::function<void(rpc::CallContext, std::string payload, rpc::Reply)> dispatch;
  // Largest request or response message; 0 means kDefaultMaxMessageBytes.
  size_t max_message_bytes = kDefaultMaxMessageBytes;
  // Optional: where the module (and gRPC's own logging) writes. Called from any thread.
  std::function<void(LogLevel, const std::string&)> log;
};

class Transport {
 public:
  virtual ~Transport() = default;  // Shuts down first if Shutdown() was not called.

  // Serves gRPC on an accepted, connected stream socket. Takes ownership of `connected_fd` in
  // every case (it is closed on error). Bytes already peeked (MSG_PEEK) stay in the socket and
  // are read by gRPC. Thread-safe.
  virtual absl::Status Adopt(int connected_fd) = 0;

  // Finishes calls still waiting for their reply with UNAVAILABLE, closes every connection and
  // stops the module's threads. Replies that arrive later are dropped. Idempotent; after it,
  // Adopt() fails.
  virtual void Shutdown() = 0;

  // Calls accepted and not yet finished (diagnostics and tests).
  virtual size_t ActiveCalls() const = 0;
};

}  // namespace airlock::grpc_plugin

extern "C" {
// Both looked up with dlsym(); the loader checks the version before it creates a transport.
int airlock_grpc_abi_version();
// Returns a new transport, or null with `error` set. The caller owns it (delete after Shutdown()).
airlock::grpc_plugin::Transport* airlock_grpc_create(const airlock::grpc_plugin::Options* options,
                                                     std::string* error);
}

namespace airlock::grpc_plugin {
using AbiVersionFn = int (*)();
using CreateFn = Transport* (*)(const Options*, std::string*);
inline constexpr const char* kAbiVersionSymbol = "airlock_grpc_abi_version";
inline constexpr const char* kCreateSymbol = "airlock_grpc_create";
}  // namespace airlock::grpc_plugin
