// Environment filtering and execve with a PATH lookup, for the entrypoint, setup and exec mode.
#pragma once

#include <string>
#include <vector>

namespace airlock::init {

// `env` ("NAME=value" entries) without the variables named in `secrets`.
std::vector<std::string> WithoutSecrets(const std::vector<std::string>& env, const std::vector<std::string>& secrets);

// The calling process's environment.
std::vector<std::string> CurrentEnvironment();

// execve(args[0]) with `env`; when args[0] has no '/', searches PATH as execvp does, but takes PATH
// from `env` (as runc resolves a container's process). Returns only on failure, with errno set.
void ExecWithPathLookup(const std::vector<std::string>& args, const std::vector<std::string>& env);

// A shell's exit code for a failed exec: 127 when not found, 126 otherwise.
int ExecFailureExitCode(int err);

}  // namespace airlock::init
