#include "shim/io/stdio_uri.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace airlock::io {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding as Go's url package does it; in a query '+' also means a space.
absl::StatusOr<std::string> Unescape(absl::string_view text, bool query) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      int hi = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) return absl::InvalidArgumentError(absl::StrCat("invalid escape in stdio URI: ", text));
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && query) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// A URI scheme: a letter, then letters, digits, '+', '-', '.', ended by ':'.
absl::string_view SchemeOf(absl::string_view uri) {
  size_t colon = uri.find(':');
  if (colon == absl::string_view::npos || colon == 0) return {};
  absl::string_view scheme = uri.substr(0, colon);
  if (!absl::ascii_isalpha(static_cast<unsigned char>(scheme[0]))) return {};
  for (char c : scheme) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return {};
  }
  return scheme;
}

}  // namespace

absl::StatusOr<StdioTarget> ParseStdioUri(absl::string_view uri) {
  StdioTarget target;
  if (uri.empty()) return target;
  absl::string_view scheme = SchemeOf(uri);
  if (scheme.empty()) {
    target.kind = StdioTarget::Kind::kFifo;
    target.path = std::string(uri);
    return target;
  }
  std::string lower = absl::AsciiStrToLower(scheme);
  absl::string_view rest = uri.substr(scheme.size() + 1);
  absl::string_view query;
  if (size_t hash = rest.find('#'); hash != absl::string_view::npos) rest = rest.substr(0, hash);
  if (size_t question = rest.find('?'); question != absl::string_view::npos) {
    query = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  // "//authority/path": the host part is ignored, as containerd uses only the URL's path.
  if (absl::ConsumePrefix(&rest, "//")) {
    size_t slash = rest.find('/');
    rest = slash == absl::string_view::npos ? absl::string_view() : rest.substr(slash);
  }
  absl::StatusOr<std::string> path = Unescape(rest, /*query=*/false);
  if (!path.ok()) return path.status();
  if (path->empty()) return absl::InvalidArgumentError(absl::StrCat("stdio URI without a path: ", uri));
  target.path = std::move(*path);

  if (lower == "fifo") {
    target.kind = StdioTarget::Kind::kFifo;
  } else if (lower == "file") {
    target.kind = StdioTarget::Kind::kFile;
  } else if (lower == "binary") {
    target.kind = StdioTarget::Kind::kBinary;
    std::vector<std::string> seen;
    for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
      absl::StatusOr<std::string> key = Unescape(kv.first, /*query=*/true);
      absl::StatusOr<std::string> value = Unescape(kv.second, /*query=*/true);
      if (!key.ok()) return key.status();
      if (!value.ok()) return value.status();
      if (std::find(seen.begin(), seen.end(), *key) != seen.end()) continue;  // Go keeps the first value
      seen.push_back(*key);
      target.args.push_back(std::move(*key));
      target.args.push_back(std::move(*value));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown STDIO scheme ", scheme));
  }
  return target;
}

}  // namespace airlock::io
