#include "cmd/airlock-init/init_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "cmd/airlock-init/json_reader.h"

namespace airlock::init {
namespace {

bool Fail(std::string* error, std::string message) {
  *error = std::move(message);
  return false;
}

bool CheckKeys(const JsonValue& object, const std::string& where, std::initializer_list<std::string_view> allowed,
               std::string* error) {
  for (const auto& [key, value] : object.object) {
    bool known = false;
    for (std::string_view name : allowed) known = known || key == name;
    if (!known) return Fail(error, "unknown key \"" + where + key + "\"");
  }
  return true;
}

bool ReadStringArray(const JsonValue& value, const std::string& name, bool non_empty,
                     std::vector<std::string>* out, std::string* error) {
  if (value.type != JsonValue::Type::kArray) return Fail(error, name + " must be an array of strings");
  if (non_empty && value.array.empty()) return Fail(error, name + " must not be empty");
  out->clear();
  for (const JsonValue& item : value.array) {
    if (item.type != JsonValue::Type::kString) return Fail(error, name + " must be an array of strings");
    out->push_back(item.string);
  }
  return true;
}

bool ParseSetup(const JsonValue& setup, InitConfig* out, std::string* error) {
  if (setup.type == JsonValue::Type::kNull) return true;
  if (setup.type != JsonValue::Type::kObject) return Fail(error, "setup must be an object or null");
  if (!CheckKeys(setup, "setup.", {"command", "timeout_ms", "seccomp"}, error)) return false;
  const JsonValue* command = setup.Find("command");
  if (command == nullptr) return Fail(error, "setup.command is missing");
  if (!ReadStringArray(*command, "setup.command", true, &out->setup_command, error)) return false;
  if (const JsonValue* timeout = setup.Find("timeout_ms"); timeout != nullptr) {
    bool ok = timeout->type == JsonValue::Type::kNull ||
              (timeout->type == JsonValue::Type::kNumber && timeout->is_integer && timeout->integer >= 0);
    if (!ok) return Fail(error, "setup.timeout_ms must be a non-negative integer");
  }
  if (const JsonValue* mode = setup.Find("seccomp"); mode != nullptr) {
    bool strict = mode->type == JsonValue::Type::kString && mode->string == "strict";
    bool allow_mount = mode->type == JsonValue::Type::kString && mode->string == "allow-mount";
    if (!strict && !allow_mount) return Fail(error, "setup.seccomp must be \"strict\" or \"allow-mount\"");
    out->setup_mount_allowed = allow_mount;
  }
  out->has_setup = true;
  return true;
}

bool ParseEntrypoint(const JsonValue& entry, InitConfig* out, std::string* error) {
  if (entry.type != JsonValue::Type::kObject) return Fail(error, "entrypoint must be an object");
  if (!CheckKeys(entry, "entrypoint.", {"args", "env", "cwd"}, error)) return false;
  const JsonValue* args = entry.Find("args");
  if (args == nullptr) return Fail(error, "entrypoint.args is missing");
  if (!ReadStringArray(*args, "entrypoint.args", true, &out->entrypoint_args, error)) return false;
  if (out->entrypoint_args[0].empty()) return Fail(error, "entrypoint.args[0] must not be empty");
  if (const JsonValue* env = entry.Find("env"); env != nullptr) {
    if (!ReadStringArray(*env, "entrypoint.env", false, &out->entrypoint_env, error)) return false;
  }
  if (const JsonValue* cwd = entry.Find("cwd"); cwd != nullptr) {
    if (cwd->type != JsonValue::Type::kString || cwd->string.empty() || cwd->string[0] != '/') {
      return Fail(error, "entrypoint.cwd must be an absolute path");
    }
    out->entrypoint_cwd = cwd->string;
  }
  return true;
}

}  // namespace

bool ParseInitConfig(std::string_view text, InitConfig* out, std::string* error) {
  *out = InitConfig();
  JsonValue root;
  std::string json_error;
  if (!ParseJson(text, &root, &json_error)) return Fail(error, "invalid JSON: " + json_error);
  if (root.type != JsonValue::Type::kObject) return Fail(error, "the top level must be an object");
  if (!CheckKeys(root, "", {"setup", "secrets", "entrypoint"}, error)) return false;
  if (const JsonValue* setup = root.Find("setup"); setup != nullptr) {
    if (!ParseSetup(*setup, out, error)) return false;
  }
  if (const JsonValue* secrets = root.Find("secrets"); secrets != nullptr) {
    if (!ReadStringArray(*secrets, "secrets", false, &out->secrets, error)) return false;
    for (const std::string& name : out->secrets) {
      if (name.empty() || name.find('=') != std::string::npos) {
        return Fail(error, "secrets: invalid variable name \"" + name + "\"");
      }
    }
  }
  const JsonValue* entry = root.Find("entrypoint");
  if (entry == nullptr) return Fail(error, "entrypoint is missing");
  return ParseEntrypoint(*entry, out, error);
}

bool ReadSmallFile(const std::string& path, size_t max_bytes, std::string* out, std::string* error) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(error, path + ": " + strerror(errno));
  out->clear();
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return Fail(error, path + ": " + strerror(err));
    }
    if (n == 0) break;
    if (out->size() + static_cast<size_t>(n) > max_bytes) {
      close(fd);
      return Fail(error, path + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

}  // namespace airlock::init
