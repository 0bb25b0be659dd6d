// airlock-init's config, as the shim writes it into the payload (policy/sandbox/init_payload_format.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace airlock::init {

// The config, JSON:
//   {"setup": {"command": [...], "timeout_ms": N,            (optional; timeout is the shim's business)
//              "seccomp": "strict" | "allow-mount"} | null,  (optional, default strict: the setup filter's mode)
//    "secrets": ["NAME", ...],                              (optional)
//    "entrypoint": {"args": [...], "env": ["K=V", ...], "cwd": "/abs"}}   (env, cwd optional)
// Unknown keys and wrong types are errors: the shim and the helper ship together.
struct InitConfig {
  bool has_setup = false;
  std::vector<std::string> setup_command;
  bool setup_mount_allowed = false;  // "seccomp": "allow-mount": the setup filter leaves the mount API open
  std::vector<std::string> secrets;
  std::vector<std::string> entrypoint_args;
  std::vector<std::string> entrypoint_env;
  std::string entrypoint_cwd = "/";
};

// Parses the config's text. On failure returns false with a one-line reason in `error`.
bool ParseInitConfig(std::string_view text, InitConfig* out, std::string* error);

// Reads a whole (small) file. On failure returns false with "path: strerror" in `error`.
bool ReadSmallFile(const std::string& path, size_t max_bytes, std::string* out, std::string* error);

}  // namespace airlock::init
