// Runtime options containerd passes with Create (and on stdin of `start`), and their persisted copy
// in the bundle that `delete` reads after the shim is gone.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/any.pb.h"
#include "shim/runc/runc.h"

namespace airlock::task {

// Understood: containerd.runc.v1.Options (BinaryName, Root, SystemdCgroup, NoPivotRoot,
// NoNewKeyring; runc's state goes to <Root>/<ns>, as containerd's runc shim puts it) and
// runtimeoptions.v1.Options (its config_path: the airlock policy, applied by the policy layer).
// Anything else is an InvalidArgument naming the type.
absl::StatusOr<runc::Config> ParseRuntimeOptions(const google::protobuf::Any& options, const runc::Config& defaults,
                                                 const std::string& ns);

// The cgroup the shim itself is to join (ShimCgroup of runc's options or of the old linux
// runtime's CreateOptions), or "".
std::string ShimCgroupOf(const google::protobuf::Any& options);

// The config file named by runtimeoptions.v1.Options, or "".
std::string RuntimeConfigPath(const google::protobuf::Any& options);

// <bundle>/airlock-runtime.json: what `delete` needs to find the container in runc after a crash.
absl::Status SaveRuntimeConfig(const std::string& bundle, const runc::Config& config);
absl::StatusOr<runc::Config> LoadRuntimeConfig(const std::string& bundle);

// containerd.runc.v1.ProcessDetails{exec_id}, as Pids reports exec processes.
google::protobuf::Any ProcessDetailsAny(const std::string& exec_id);

}  // namespace airlock::task
