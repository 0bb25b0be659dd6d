#include "shim/task/runtime_options.h"

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "containerd/linux/runctypes/runc.pb.h"
#include "containerd/runc/options/oci.pb.h"
#include "containerd/runtimeoptions/v1/api.pb.h"
#include "nlohmann/json.hpp"
#include "shim/base/errno_status.h"
#include "shim/base/files.h"

namespace airlock::task {
namespace {
constexpr absl::string_view kRuncOptions = "containerd.runc.v1.Options";
constexpr absl::string_view kRuntimeOptions = "runtimeoptions.v1.Options";
constexpr absl::string_view kLegacyCreateOptions = "containerd.linux.runc.CreateOptions";
constexpr absl::string_view kSavedName = "/airlock-runtime.json";

// containerd writes bare names; other clients may use the type.googleapis.com/ form.
bool TypeIs(const google::protobuf::Any& any, absl::string_view name) {
  absl::string_view url = any.type_url();
  return url == name || absl::EndsWith(url, absl::StrCat("/", name));
}
}  // namespace

absl::StatusOr<runc::Config> ParseRuntimeOptions(const google::protobuf::Any& options, const runc::Config& defaults,
                                                 const std::string& ns) {
  runc::Config config = defaults;
  if (options.type_url().empty()) return config;
  if (TypeIs(options, kRuncOptions)) {
    containerd::runc::v1::Options runc_options;
    if (!runc_options.ParseFromString(options.value())) {
      return absl::InvalidArgumentError("runtime options: malformed containerd.runc.v1.Options");
    }
    if (!runc_options.binary_name().empty()) config.binary = runc_options.binary_name();
    if (!runc_options.root().empty()) config.root = runc::StateRoot(runc_options.root(), ns);
    config.systemd_cgroup = runc_options.systemd_cgroup();
    config.no_pivot_root = runc_options.no_pivot_root();
    config.no_new_keyring = runc_options.no_new_keyring();
    config.io_uid = runc_options.io_uid();
    config.io_gid = runc_options.io_gid();
    return config;
  }
  if (TypeIs(options, kLegacyCreateOptions)) {
    // What containerd 1.6's client sends a runtime not named io.containerd.runc.*: the same
    // meaning as the runc options' fields of the same names (the shim cgroup is joined at start).
    containerd::linux::runc::CreateOptions legacy;
    if (!legacy.ParseFromString(options.value())) {
      return absl::InvalidArgumentError("runtime options: malformed containerd.linux.runc.CreateOptions");
    }
    config.no_pivot_root = legacy.no_pivot_root();
    config.no_new_keyring = legacy.no_new_keyring();
    config.io_uid = legacy.io_uid();
    config.io_gid = legacy.io_gid();
    return config;
  }
  if (TypeIs(options, kRuntimeOptions)) {
    runtimeoptions::v1::Options runtime_options;
    if (!runtime_options.ParseFromString(options.value())) {
      return absl::InvalidArgumentError("runtime options: malformed runtimeoptions.v1.Options");
    }
    return config;  // its config_path is the policy's business
  }
  return absl::InvalidArgumentError(absl::StrCat("runtime options of unsupported type ", options.type_url()));
}

std::string ShimCgroupOf(const google::protobuf::Any& options) {
  if (TypeIs(options, kRuncOptions)) {
    containerd::runc::v1::Options runc_options;
    return runc_options.ParseFromString(options.value()) ? runc_options.shim_cgroup() : "";
  }
  if (TypeIs(options, kLegacyCreateOptions)) {
    containerd::linux::runc::CreateOptions legacy;
    return legacy.ParseFromString(options.value()) ? legacy.shim_cgroup() : "";
  }
  return "";
}

std::string RuntimeConfigPath(const google::protobuf::Any& options) {
  if (!TypeIs(options, kRuntimeOptions)) return "";
  runtimeoptions::v1::Options runtime_options;
  if (!runtime_options.ParseFromString(options.value())) return "";
  return runtime_options.config_path();
}

absl::Status SaveRuntimeConfig(const std::string& bundle, const runc::Config& config) {
  nlohmann::json saved = {{"binary", config.binary},
                          {"root", config.root},
                          {"systemd_cgroup", config.systemd_cgroup},
                          {"no_pivot_root", config.no_pivot_root},
                          {"no_new_keyring", config.no_new_keyring}};
  return WriteFileAtomically(bundle + std::string(kSavedName), saved.dump());
}

absl::StatusOr<runc::Config> LoadRuntimeConfig(const std::string& bundle) {
  std::string path = bundle + std::string(kSavedName);
  std::ifstream in(path);
  if (!in) return ErrnoStatus(absl::StrCat("read ", path));
  nlohmann::json saved = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!saved.is_object()) return absl::DataLossError(absl::StrCat(path, " is not valid JSON"));
  runc::Config config;
  config.binary = saved.value("binary", "runc");
  config.root = saved.value("root", "");
  config.systemd_cgroup = saved.value("systemd_cgroup", false);
  config.no_pivot_root = saved.value("no_pivot_root", false);
  config.no_new_keyring = saved.value("no_new_keyring", false);
  return config;
}

google::protobuf::Any ProcessDetailsAny(const std::string& exec_id) {
  containerd::runc::v1::ProcessDetails details;
  details.set_exec_id(exec_id);
  google::protobuf::Any any;
  any.set_type_url(std::string(kRuncOptions.substr(0, kRuncOptions.rfind('.'))) + ".ProcessDetails");
  any.set_value(details.SerializeAsString());
  return any;
}

}  // namespace airlock::task
