// Lazy loading of the gRPC transport module (airlock-grpc.so), so only shims that meet a gRPC
// client map grpc++. Also the test the ttrpc accept path uses to tell a gRPC (HTTP/2) connection
// from a ttrpc one by its first bytes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "shim/grpc/plugin_api.h"

namespace airlock::transport {

// The 24-byte HTTP/2 client connection preface (RFC 9113 section 3.4).
inline constexpr absl::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum class PrefaceMatch {
  kNo,       // cannot be the preface: serve ttrpc
  kPartial,  // a proper prefix of it: peek again when more bytes arrive (or EOF: close)
  kYes,      // the whole preface: hand the connection to the gRPC module
};

// Decides as early as possible: the first differing byte already answers kNo. A ttrpc frame
// starts with a big-endian length whose first byte is 0 for any body under 16 MiB, never 'P'.
PrefaceMatch MatchHttp2Preface(absl::string_view first_bytes);
inline bool IsHttp2Preface(absl::string_view first_bytes) {
  return MatchHttp2Preface(first_bytes) == PrefaceMatch::kYes;
}

// Where the module is looked for, in order: $AIRLOCK_GRPC_PLUGIN when set (then only there),
// else <dir of /proc/self/exe>/../lib/airlock-grpc.so (build tree, /usr/local), then
// AIRLOCK_PLUGIN_DIR/airlock-grpc.so (the install's libdir/airlock).
std::vector<std::string> GrpcModuleCandidates();

// The module's factory, from dlopen()ing `path` (RTLD_NOW|RTLD_LOCAL; never dlclose()d) after
// checking its ABI version. Not cached: LoadGrpcModule() is the cached form.
absl::StatusOr<grpc_plugin::CreateFn> OpenGrpcModule(const std::string& path);

// Finds and opens the module once per process; later calls return the first result (thread-safe).
absl::StatusOr<grpc_plugin::CreateFn> LoadGrpcModule();

// A new transport from the (lazily loaded) module. Call Shutdown() before dropping it.
absl::StatusOr<std::unique_ptr<grpc_plugin::Transport>> CreateGrpcTransport(const grpc_plugin::Options& options);

// The process-wide transport: created with `options` by the first successful call, then returned
// as is (later `options` are ignored). Owned here and never freed; Shutdown() it at exit.
absl::StatusOr<grpc_plugin::Transport*> LoadGrpcTransport(const grpc_plugin::Options& options);

}  // namespace airlock::transport
