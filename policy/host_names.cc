#include "policy/host_names.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "shim/base/terminal_text.h"

namespace airlock::policy {
namespace {

constexpr size_t kMaxName = 253;
constexpr size_t kMaxLabel = 63;

bool LabelChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; }

// Hostile text quoted in an error: escaped as for a terminal, bounded.
std::string Printable(absl::string_view text) {
  std::string out = EscapeForTerminal(text.substr(0, 80), /*keep_tab=*/false);
  return text.size() > 80 ? out + "..." : out;
}

// All digits and dots: a numeric spelling, which only a strict dotted quad may be.
bool LooksNumeric(absl::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789.") == absl::string_view::npos;
}

}  // namespace

absl::StatusOr<std::string> CanonicalHostName(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty host name");
  if (text.size() > kMaxName + 2) return absl::InvalidArgumentError(absl::StrCat("host name \"", Printable(text), "\" is too long"));
  if (text.front() == '[') {
    if (text.back() != ']') return absl::InvalidArgumentError(absl::StrCat("bad IPv6 literal \"", Printable(text), "\""));
    std::string inner(text.substr(1, text.size() - 2));
    in6_addr a6;
    char out[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET6, inner.c_str(), &a6) != 1 || inet_ntop(AF_INET6, &a6, out, sizeof out) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("bad IPv6 literal \"", Printable(text), "\""));
    }
    return absl::StrCat("[", out, "]");
  }
  if (text.find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", Printable(text), "\": an IPv6 literal is written in brackets ([2001:db8::1])"));
  }
  std::string name = absl::AsciiStrToLower(text);
  if (absl::EndsWith(name, ".")) name.pop_back();
  if (name.empty() || name.size() > kMaxName) {
    return absl::InvalidArgumentError(absl::StrCat("bad host name \"", Printable(text), "\""));
  }
  if (LooksNumeric(name)) {
    in_addr a4;
    char out[INET_ADDRSTRLEN];
    if (inet_pton(AF_INET, name.c_str(), &a4) != 1 || inet_ntop(AF_INET, &a4, out, sizeof out) == nullptr ||
        name != out) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", Printable(text), "\" is not a dotted-quad IPv4 address (want e.g. 192.0.2.10)"));
    }
    return name;
  }
  // A last label like "1" or "0x7f" makes inet_aton-style readers (getaddrinfo among them) take the
  // whole name for an address: "0x7f.1" is 127.0.0.1 to them.
  absl::string_view last = absl::string_view(name).substr(name.rfind('.') + 1);
  if (absl::StartsWith(last, "0x") || last.find_first_not_of("0123456789") == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("\"", Printable(text), "\" reads as a numeric address, not a name"));
  }
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty() || label.size() > kMaxLabel || label.front() == '-' || label.back() == '-') {
      return absl::InvalidArgumentError(absl::StrCat("bad host name \"", Printable(text), "\""));
    }
    for (char c : label) {
      if (!LabelChar(c)) {
        return absl::InvalidArgumentError(absl::StrCat("bad host name \"", Printable(text),
                                                       "\" (letters, digits, '-', '_' and dots only)"));
      }
    }
  }
  return name;
}

bool IsIpLiteral(absl::string_view canonical) {
  return absl::StartsWith(canonical, "[") || LooksNumeric(canonical);
}

absl::StatusOr<std::string> CanonicalHostPattern(absl::string_view text) {
  if (text == "*") {
    return absl::InvalidArgumentError("\"*\" alone is the preset \"all\" (network.proxy.preset: all)");
  }
  if (absl::ConsumePrefix(&text, "*.")) {
    absl::StatusOr<std::string> suffix = CanonicalHostName(text);
    if (!suffix.ok()) return suffix.status();
    if (IsIpLiteral(*suffix)) return absl::InvalidArgumentError("\"*.\" takes a host name, not an address");
    if (suffix->find('.') == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("\"*.", *suffix, "\" is too broad (name at least two labels, e.g. *.example.com)"));
    }
    return absl::StrCat("*.", *suffix);
  }
  if (text.find('*') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("\"", Printable(text), "\": a '*' may only start the pattern, as \"*.\""));
  }
  return CanonicalHostName(text);
}

bool HostMatches(absl::string_view pattern, absl::string_view host) {
  if (absl::StartsWith(pattern, "*.")) {
    absl::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && absl::EndsWith(host, suffix) && !IsIpLiteral(host);
  }
  return pattern == host;
}

absl::StatusOr<std::vector<std::string>> ParseHostList(absl::string_view text) {
  std::vector<std::string> patterns;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    absl::StatusOr<std::string> pattern = CanonicalHostPattern(line);
    if (!pattern.ok()) return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": ", pattern.status().message()));
    patterns.push_back(*std::move(pattern));
  }
  return patterns;
}

}  // namespace airlock::policy
