#include "shim/base/terminal_text.h"

#include <cstdint>
#include <cstdio>

#include "absl/strings/escaping.h"

namespace airlock {
namespace {

// Length of the well-formed UTF-8 sequence at `at` (1-4) and its code point, or 0 when the byte
// there does not start one (Unicode's table 3-7: no overlong forms, no surrogates, <= U+10FFFF).
size_t DecodeUtf8(absl::string_view bytes, size_t at, char32_t* code_point) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  unsigned char lead = byte(at);
  if (lead < 0x80) {
    *code_point = lead;
    return 1;
  }
  size_t length;
  unsigned char low = 0x80, high = 0xbf;  // the allowed range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;   // overlong
    if (lead == 0xed) high = 0x9f;  // surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;   // overlong
    if (lead == 0xf4) high = 0x8f;  // > U+10FFFF
  } else {
    return 0;  // a continuation byte, C0/C1 (overlong) or F5-FF
  }
  if (bytes.size() - at < length) return 0;
  if (byte(at + 1) < low || byte(at + 1) > high) return 0;
  char32_t value = lead & (0x7f >> length);
  for (size_t i = 1; i < length; ++i) {
    if (i > 1 && (byte(at + i) & 0xc0) != 0x80) return 0;
    value = (value << 6) | (byte(at + i) & 0x3f);
  }
  *code_point = value;
  return length;
}

// Code points a terminal acts on or that reorder or hide text rather than show it: C1 controls
// (8-bit CSI, OSC, ...) and the invisible direction and formatting marks ("Trojan Source").
// U+061C (Arabic letter mark) and U+2028/U+2029 (line/paragraph separators) are of the same kind.
bool IsInvisibleControl(char32_t c) {
  return (c >= 0x80 && c <= 0x9f) || c == 0x061c || (c >= 0x200b && c <= 0x200f) ||
         (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x2064) || (c >= 0x2066 && c <= 0x2069) ||
         c == 0xfeff;
}

void AppendHexByte(std::string& out, unsigned char byte) {
  char text[8];
  std::snprintf(text, sizeof text, "\\x%02x", byte);
  out += text;
}

// git's quote_c_style(): the C escapes it knows, 3-digit octal for the rest.
void AppendQuotedByte(std::string& out, unsigned char byte) {
  switch (byte) {
    case '\a': out += "\\a"; return;
    case '\b': out += "\\b"; return;
    case '\t': out += "\\t"; return;
    case '\n': out += "\\n"; return;
    case '\v': out += "\\v"; return;
    case '\f': out += "\\f"; return;
    case '\r': out += "\\r"; return;
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    default: break;
  }
  if (byte < 0x20 || byte >= 0x7f) {
    char text[8];
    std::snprintf(text, sizeof text, "\\%03o", byte);
    out += text;
    return;
  }
  out.push_back(static_cast<char>(byte));
}

// What git quotes with core.quotePath=true: controls, DEL, '"', '\' and every non-ASCII byte.
bool GitMustQuote(unsigned char byte) { return byte < 0x20 || byte >= 0x7f || byte == '"' || byte == '\\'; }

std::string Quoted(absl::string_view name) {
  std::string out = "\"";
  for (char c : name) AppendQuotedByte(out, static_cast<unsigned char>(c));
  out += "\"";
  return out;
}

}  // namespace

bool IsValidUtf8(absl::string_view bytes) {
  for (size_t at = 0; at < bytes.size();) {
    char32_t code_point;
    size_t length = DecodeUtf8(bytes, at, &code_point);
    if (length == 0) return false;
    at += length;
  }
  return true;
}

std::string EscapeForTerminal(absl::string_view bytes, bool keep_tab) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t at = 0; at < bytes.size();) {
    char32_t c;
    size_t length = DecodeUtf8(bytes, at, &c);
    if (length == 0) {  // not UTF-8: this byte alone, then look again from the next one
      AppendHexByte(out, static_cast<unsigned char>(bytes[at]));
      ++at;
      continue;
    }
    if ((c < 0x20 && !(c == '\t' && keep_tab)) || c == 0x7f) {
      AppendHexByte(out, static_cast<unsigned char>(c));
    } else if (IsInvisibleControl(c)) {
      char text[16];
      std::snprintf(text, sizeof text, "\\u{%x}", static_cast<unsigned>(c));
      out += text;
    } else {
      out.append(bytes.data() + at, length);
    }
    at += length;
  }
  return out;
}

std::string QuotePath(absl::string_view name) {
  for (char c : name) {
    if (GitMustQuote(static_cast<unsigned char>(c))) return Quoted(name);
  }
  return std::string(name);
}

std::string QuotePathInList(absl::string_view name) {
  std::string quoted = QuotePath(name);
  // QuotePath leaves a name unquoted only when it is printable ASCII without '"'.
  if (!quoted.empty() && quoted.front() == '"') return quoted;
  if (name.empty() || name.find_first_of(" ,") != absl::string_view::npos) return Quoted(name);
  return quoted;
}

void SetJsonText(nlohmann::json& object, const std::string& key, absl::string_view bytes) {
  std::string base64_key = key + "_base64";
  if (IsValidUtf8(bytes)) {
    object[key] = std::string(bytes);
    if (object.is_object()) object.erase(base64_key);
    return;
  }
  std::string text;
  text.reserve(bytes.size());
  for (size_t at = 0; at < bytes.size();) {
    char32_t code_point;
    size_t length = DecodeUtf8(bytes, at, &code_point);
    if (length == 0) {
      text += "\xef\xbf\xbd";  // U+FFFD
      ++at;
    } else {
      text.append(bytes.data() + at, length);
      at += length;
    }
  }
  object[key] = std::move(text);
  object[base64_key] = absl::Base64Escape(bytes);
}

}  // namespace airlock
