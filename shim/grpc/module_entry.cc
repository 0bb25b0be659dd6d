// The two C entry points of airlock-grpc.so, and the bridge from gRPC's own logging to the shim's.
#include <grpc/support/log.h>

#include <exception>
#include <mutex>
#include <string>

#include "shim/grpc/grpc_transport.h"
#include "shim/grpc/plugin_api.h"

namespace airlock::grpc_plugin {
namespace {

std::mutex log_mu;
std::function<void(LogLevel, const std::string&)>* log_sink = nullptr;  // never freed: gRPC may log late

void ForwardGrpcLog(gpr_log_func_args* args) {
  LogLevel level = args->severity == GPR_LOG_SEVERITY_ERROR  ? LogLevel::kError
                   : args->severity == GPR_LOG_SEVERITY_INFO ? LogLevel::kInfo
                                                             : LogLevel::kDebug;
  std::string line = std::string("grpc: ") + (args->message != nullptr ? args->message : "");
  std::lock_guard<std::mutex> lock(log_mu);
  if (log_sink != nullptr) (*log_sink)(level, line);
}

// gRPC's logger is process-wide; the latest transport that asks for logs gets them.
void InstallLogSink(const std::function<void(LogLevel, const std::string&)>& sink) {
  if (!sink) return;
  std::lock_guard<std::mutex> lock(log_mu);
  if (log_sink == nullptr) {
    log_sink = new std::function<void(LogLevel, const std::string&)>(sink);
    gpr_set_log_function(ForwardGrpcLog);
  } else {
    *log_sink = sink;
  }
}

}  // namespace
}  // namespace airlock::grpc_plugin

extern "C" __attribute__((visibility("default"))) int airlock_grpc_abi_version() {
  return airlock::grpc_plugin::kAbiVersion;
}

extern "C" __attribute__((visibility("default"))) airlock::grpc_plugin::Transport* airlock_grpc_create(
    const airlock::grpc_plugin::Options* options, std::string* error) {
  using namespace airlock::grpc_plugin;
  auto fail = [error](std::string message) -> Transport* {
    if (error != nullptr) *error = std::move(message);
    return nullptr;
  };
  if (options == nullptr) return fail("airlock-grpc: no options");
  if (options->abi_version != kAbiVersion) {
    return fail("airlock-grpc: ABI version " + std::to_string(options->abi_version) + " requested, module has " +
                std::to_string(kAbiVersion));
  }
  try {
    InstallLogSink(options->log);
    auto transport = GrpcTransport::Create(*options);
    if (!transport.ok()) return fail(transport.status().ToString());
    return transport->release();
  } catch (const std::exception& e) {
    return fail(std::string("airlock-grpc: ") + e.what());
  }
}
