#include "shim/transport/grpc_loader.h"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace airlock::transport {
namespace {

constexpr const char* kModuleName = "airlock-grpc.so";
constexpr const char* kModuleEnv = "AIRLOCK_GRPC_PLUGIN";

std::string ExecutableDir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return {};
  std::string path(buf, static_cast<size_t>(n));
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace

PrefaceMatch MatchHttp2Preface(absl::string_view first_bytes) {
  size_t n = std::min(first_bytes.size(), kHttp2Preface.size());
  if (first_bytes.substr(0, n) != kHttp2Preface.substr(0, n)) return PrefaceMatch::kNo;
  return n == kHttp2Preface.size() ? PrefaceMatch::kYes : PrefaceMatch::kPartial;
}

std::vector<std::string> GrpcModuleCandidates() {
  if (const char* env = std::getenv(kModuleEnv); env != nullptr && env[0] != '\0') return {env};
  std::vector<std::string> candidates;
  if (std::string dir = ExecutableDir(); !dir.empty()) {
    candidates.push_back(absl::StrCat(dir, "/../lib/", kModuleName));          // build tree
    candidates.push_back(absl::StrCat(dir, "/../lib/airlock/", kModuleName));  // an install under any prefix
  }
#ifdef AIRLOCK_PLUGIN_DIR
  candidates.push_back(absl::StrCat(AIRLOCK_PLUGIN_DIR, "/", kModuleName));
#endif
  return candidates;
}

absl::StatusOr<grpc_plugin::CreateFn> OpenGrpcModule(const std::string& path) {
  // RTLD_LOCAL: grpc++ and its dependencies stay out of the shim's global symbol scope.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load gRPC transport module ", path, ": ", why != nullptr ? why : "unknown error"));
  }
  auto version = reinterpret_cast<grpc_plugin::AbiVersionFn>(dlsym(handle, grpc_plugin::kAbiVersionSymbol));
  auto create = reinterpret_cast<grpc_plugin::CreateFn>(dlsym(handle, grpc_plugin::kCreateSymbol));
  if (version == nullptr || create == nullptr) {
    dlclose(handle);
    return absl::FailedPreconditionError(absl::StrCat(path, " is not an airlock gRPC transport module"));
  }
  if (int module_version = version(); module_version != grpc_plugin::kAbiVersion) {
    // Not dlclose()d either way: a module's static destructors are best never run mid-process.
    return absl::FailedPreconditionError(absl::StrCat("gRPC transport module ", path, " has ABI version ",
                                                      module_version, ", this shim needs ",
                                                      grpc_plugin::kAbiVersion));
  }
  return create;
}

absl::StatusOr<grpc_plugin::CreateFn> LoadGrpcModule() {
  static std::mutex mu;
  static grpc_plugin::CreateFn loaded = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (loaded != nullptr) return loaded;

  // Failures are not cached: the module may be installed later.
  std::vector<std::string> candidates = GrpcModuleCandidates();
  for (const std::string& path : candidates) {
    if (access(path.c_str(), F_OK) != 0) continue;
    absl::StatusOr<grpc_plugin::CreateFn> create = OpenGrpcModule(path);
    if (!create.ok()) return create.status();
    loaded = *create;
    return loaded;
  }
  return absl::NotFoundError(absl::StrCat("gRPC transport module ", kModuleName, " not found (looked at ",
                                          absl::StrJoin(candidates, ", "), "; set ", kModuleEnv, ")"));
}

absl::StatusOr<std::unique_ptr<grpc_plugin::Transport>> CreateGrpcTransport(const grpc_plugin::Options& options) {
  absl::StatusOr<grpc_plugin::CreateFn> create = LoadGrpcModule();
  if (!create.ok()) return create.status();
  grpc_plugin::Options versioned = options;
  versioned.abi_version = grpc_plugin::kAbiVersion;
  std::string error;
  grpc_plugin::Transport* transport = (*create)(&versioned, &error);
  if (transport == nullptr) {
    return absl::InternalError(absl::StrCat("cannot start the gRPC transport: ", error));
  }
  return std::unique_ptr<grpc_plugin::Transport>(transport);
}

absl::StatusOr<grpc_plugin::Transport*> LoadGrpcTransport(const grpc_plugin::Options& options) {
  static std::mutex mu;
  static grpc_plugin::Transport* transport = nullptr;  // lives as long as the process
  std::lock_guard<std::mutex> lock(mu);
  if (transport != nullptr) return transport;
  absl::StatusOr<std::unique_ptr<grpc_plugin::Transport>> created = CreateGrpcTransport(options);
  if (!created.ok()) return created.status();
  transport = created->release();
  return transport;
}

}  // namespace airlock::transport
