// A small strict JSON reader for airlock-init's config.json (no exceptions, no dependencies).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace airlock::init {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Type type = Type::kNull;
  bool boolean = false;
  // Numbers: `integer` is exact when `is_integer` (no fraction or exponent, fits int64).
  double number = 0;
  int64_t integer = 0;
  bool is_integer = false;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // keys unique, in file order

  // The member named `key` of an object, or nullptr.
  const JsonValue* Find(std::string_view key) const;
};

// Parses exactly one JSON document (RFC 8259; surrounding whitespace allowed). Rejects duplicate
// object keys, NUL characters in strings (they cannot reach argv or the environment), invalid
// UTF-8 and nesting deeper than 64. On failure returns false and sets `error` ("offset N: ...").
bool ParseJson(std::string_view text, JsonValue* out, std::string* error);

}  // namespace airlock::init
