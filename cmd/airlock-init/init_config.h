// airlock-init's view of /.airlock: where its files are and what config.json says.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace airlock::init {

// config.json, written by the shim:
//   {"setup": {"command": [...], "timeout_ms": N} | null,   (optional; timeout is the shim's business)
//    "secrets": ["NAME", ...],                              (optional)
//    "entrypoint": {"args": [...], "env": ["K=V", ...], "cwd": "/abs"}}   (env, cwd optional)
// Unknown keys and wrong types are errors: the shim and the helper ship together.
struct InitConfig {
  bool has_setup = false;
  std::vector<std::string> setup_command;
  std::vector<std::string> secrets;
  std::vector<std::string> entrypoint_args;
  std::vector<std::string> entrypoint_env;
  std::string entrypoint_cwd = "/";
};

// Parses config.json text. On failure returns false with a one-line reason in `error`.
bool ParseInitConfig(std::string_view text, InitConfig* out, std::string* error);

// Reads and parses the file at `path`.
bool LoadInitConfig(const std::string& path, InitConfig* out, std::string* error);

// The directory holding config.json and seccomp.bpf: /.airlock. Tests outside a container may
// point it elsewhere with AIRLOCK_INIT_DIR, which is honoured only while /.airlock does not
// exist, so inside a container (where the shim mounts /.airlock) nothing can redirect it.
std::string AirlockDir();

// Reads a whole (small) file. On failure returns false with "path: strerror" in `error`.
bool ReadSmallFile(const std::string& path, size_t max_bytes, std::string* out, std::string* error);

}  // namespace airlock::init
