#include "shim/task/runtime_options.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "containerd/linux/runctypes/runc.pb.h"
#include "containerd/runc/options/oci.pb.h"

using airlock::runc::Config;
using airlock::task::ParseRuntimeOptions;

namespace {

google::protobuf::Any AnyOf(const std::string& type_url, const std::string& value) {
  google::protobuf::Any any;
  any.set_type_url(type_url);
  any.set_value(value);
  return any;
}

}  // namespace

TEST_CASE("runtime options: the old linux runtime's CreateOptions mean what runc's options mean", "[options]") {
  containerd::linux::runc::CreateOptions legacy;
  legacy.set_no_pivot_root(true);
  legacy.set_no_new_keyring(true);
  legacy.set_shim_cgroup("/shims");
  legacy.set_io_uid(1000);
  Config defaults;
  defaults.binary = "runc";
  defaults.root = "/run/containerd/runc/ns";
  for (const char* url : {"containerd.linux.runc.CreateOptions", "type.googleapis.com/containerd.linux.runc.CreateOptions"}) {
    absl::StatusOr<Config> config = ParseRuntimeOptions(AnyOf(url, legacy.SerializeAsString()), defaults, "ns");
    REQUIRE(config.ok());
    CHECK(config->no_pivot_root);
    CHECK(config->no_new_keyring);
    CHECK(config->binary == "runc");
    CHECK(config->root == "/run/containerd/runc/ns");
  }

  containerd::runc::v1::Options runc_options;
  runc_options.set_no_pivot_root(true);
  absl::StatusOr<Config> config =
      ParseRuntimeOptions(AnyOf("containerd.runc.v1.Options", runc_options.SerializeAsString()), defaults, "ns");
  REQUIRE(config.ok());
  CHECK(config->no_pivot_root);
  CHECK_FALSE(config->no_new_keyring);
  CHECK(config->root == "/run/containerd/runc/ns");
  // A Root of the runtime options gets the namespace below it, as containerd's runc shim does.
  runc_options.set_root("/var/run/my-runc");
  config = ParseRuntimeOptions(AnyOf("containerd.runc.v1.Options", runc_options.SerializeAsString()), defaults, "k8s.io");
  REQUIRE(config.ok());
  CHECK(config->root == "/var/run/my-runc/k8s.io");
}

TEST_CASE("runtime options: malformed or unknown types are refused with the type named", "[options]") {
  absl::StatusOr<Config> bad = ParseRuntimeOptions(AnyOf("containerd.linux.runc.CreateOptions", "\xff\xff\xff"), {}, "ns");
  REQUIRE_FALSE(bad.ok());
  CHECK(absl::StrContains(bad.status().message(), "malformed containerd.linux.runc.CreateOptions"));
  absl::StatusOr<Config> unknown = ParseRuntimeOptions(AnyOf("example.Other", ""), {}, "ns");
  REQUIRE_FALSE(unknown.ok());
  CHECK(absl::StrContains(unknown.status().message(), "unsupported type example.Other"));
}
