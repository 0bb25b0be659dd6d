#include "policy/proxy_presets.h"

#include <cstdlib>

#include "policy/host_names.h"
#include "shim/base/log.h"

namespace airlock::policy {
namespace {

constexpr char kCommonDependencies[] =
#include "policy/proxy_preset_common_dependencies.inc"
    ;

}  // namespace

absl::string_view CommonDependenciesText() { return kCommonDependencies; }

const std::vector<std::string>& PresetHosts(ProxyPreset preset) {
  static const std::vector<std::string>* const kNone = new std::vector<std::string>();
  static const std::vector<std::string>* const kCommon = [] {
    absl::StatusOr<std::vector<std::string>> hosts = ParseHostList(kCommonDependencies);
    // A unit test parses the file; a build from a broken file must not start with a shorter list.
    if (!hosts.ok()) {
      log::Error("built-in proxy preset common-dependencies: ", hosts.status().message());
      std::abort();
    }
    return new std::vector<std::string>(*std::move(hosts));
  }();
  return preset == ProxyPreset::kCommonDependencies ? *kCommon : *kNone;
}

}  // namespace airlock::policy
