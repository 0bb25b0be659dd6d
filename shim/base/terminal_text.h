// Every byte that came out of a sandbox (its output, file names, symlink targets, error texts that
// quote them, audit excerpts) passes through here before it reaches a terminal or a JSON line:
// a hostile agent must not be able to move the cursor, rewrite airlock's own lines, set the title,
// write the clipboard (OSC 52) or split one name into two lines.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"

namespace airlock {

// Printable text kept as is (valid UTF-8 included); made visible instead:
//  - C0 controls (0x00-0x1f) but TAB, and DEL (0x7f): "\x1b", "\x0d", ...
//  - a byte that is not part of valid UTF-8 (stray continuation, overlong form, surrogate, > U+10FFFF,
//    truncated sequence): "\xNN" for each such byte
//  - C1 controls (U+0080-U+009F: 8-bit CSI and OSC among them) and Unicode's invisible direction
//    and formatting controls (U+061C, U+200B-U+200F, U+2028-U+202E, U+2060-U+2064, U+2066-U+2069,
//    U+FEFF): "\u{9b}", "\u{202e}"
//  - a backslash stays a single backslash (the output is marked as the sandbox's; exactness is for
//    the --json form and the files themselves)
// `keep_tab` false: TAB too becomes "\x09" (in one-line fields: names, messages).
std::string EscapeForTerminal(absl::string_view bytes, bool keep_tab = true);

// A path shown the way git shows it with core.quotePath=true (the default): unchanged when every
// byte is printable ASCII other than '"' and '\'; otherwise in double quotes with C escapes (\a \b
// \t \n \v \f \r \" \\) and 3-digit octal for every other control byte and every byte >= 0x80.
// (git quotes the same names the same way, so `git diff --name-only` and airlock agree.)
std::string QuotePath(absl::string_view name);

// For lists on one line ("M a, A b"): QuotePath, and also quoted (with the same escapes) when the
// name contains a space or a comma, or is empty, so no name can pass for two entries.
std::string QuotePathInList(absl::string_view name);

// `object[key]` = the bytes as a JSON string (JSON escapes every control character itself). Bytes
// that are not valid UTF-8 cannot be a JSON string: then `object[key]` gets the text with each bad
// byte as U+FFFD, and `object[key + "_base64"]` the exact bytes in base64.
void SetJsonText(nlohmann::json& object, const std::string& key, absl::string_view bytes);

// True when `bytes` is valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool IsValidUtf8(absl::string_view bytes);

}  // namespace airlock
