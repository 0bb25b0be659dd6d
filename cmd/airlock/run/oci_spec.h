// The OCI runtime spec `airlock run` gives its container: what `ctr run` would build for the image
// (containerd's oci.populateDefaultUnixSpec + WithImageConfig), with our process, environment,
// working directory and annotations. The shim's airlock rewrites it further (policy).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace airlock::run {

struct ProcessSpec {
  std::vector<std::string> args;
  std::vector<std::string> env;  // NAME=value
  std::string cwd = "/";
  uint32_t uid = 0;
  uint32_t gid = 0;
};

struct ContainerSpec {
  std::string id;
  std::string name_space;
  ProcessSpec process;
  std::map<std::string, std::string> annotations;
};

// The spec as JSON text (containerd stores it in Container.spec).
std::string BuildSpecJson(const ContainerSpec& spec);
// An OCI Process as JSON for Exec: the container's defaults (capabilities, rlimits,
// no_new_privileges) with this process's args, env, cwd and user.
std::string BuildProcessJson(const ProcessSpec& process);

// The image's "User": "", "uid", "uid:gid", "root". Names other than root would need the image's
// /etc/passwd: refused with a message.
absl::StatusOr<std::pair<uint32_t, uint32_t>> ParseImageUser(const std::string& user);

// `base` with each NAME=value of `overrides` replacing an entry of the same NAME or appended.
std::vector<std::string> MergeEnv(const std::vector<std::string>& base, const std::vector<std::string>& overrides);
// `env` without the entries named in `names`.
std::vector<std::string> EnvWithout(const std::vector<std::string>& env, const std::vector<std::string>& names);

}  // namespace airlock::run
