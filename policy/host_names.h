// Host names as the proxy's allowlist spells them (network.proxy.allow and the presets): the one
// canonical form both the policy and the proxy compare, so "Example.COM." and "example.com" are
// the same entry and a request cannot dodge a rule by case, a trailing dot or a numeric spelling.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace airlock::policy {

// A DNS name (letters, digits, '-' and '_' in labels of 1-63, at most 253 in all, no leading or
// trailing '-') lower-cased without its trailing dot, or an IP literal in inet_ntop's form (IPv6
// in brackets, as in a URL: "[2001:db8::1]"). IPv4 must be a strict dotted quad ("127.1",
// "0x7f.0.0.1" and "010.0.0.1" are refused: resolvers read them as other addresses).
absl::StatusOr<std::string> CanonicalHostName(absl::string_view text);

// True for a canonical IP literal (CanonicalHostName's output).
bool IsIpLiteral(absl::string_view canonical);

// An allowlist entry: a canonical host name or IP literal, or "*.<name>" with at least two labels
// after the star (every name under it, not the name itself). A bare "*" is the `all` preset.
absl::StatusOr<std::string> CanonicalHostPattern(absl::string_view text);

// True when canonical `host` is allowed by canonical `pattern`.
bool HostMatches(absl::string_view pattern, absl::string_view host);

// The patterns of a preset file: one a line, '#' starts a comment, blank lines skipped. An error
// names the line.
absl::StatusOr<std::vector<std::string>> ParseHostList(absl::string_view text);

}  // namespace airlock::policy
