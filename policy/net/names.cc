#include "policy/net/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "shim/base/sha256.h"

namespace airlock::net {

absl::Status ValidateSandboxName(absl::string_view name) {
  if (name.empty() || name.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat("sandbox name must have 1..128 characters, got ", name.size()));
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(name[0]))) {
    return absl::InvalidArgumentError(absl::StrCat("sandbox name '", name, "' must start with a letter or digit"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat("sandbox name '", name, "' may hold only [A-Za-z0-9_.-]"));
    }
  }
  return absl::OkStatus();
}

std::string SandboxName(absl::string_view ns, absl::string_view id) {
  return "s" + Sha256Hex(absl::StrCat(ns, "/", id)).substr(0, 16);
}

std::string VethName(absl::string_view sandbox, VethSide side) {
  return absl::StrCat("al", Sha256Hex(sandbox).substr(0, 12), std::string(1, static_cast<char>(side)));
}

std::string NftTableName(absl::string_view sandbox) { return absl::StrCat("airlock-", sandbox); }

}  // namespace airlock::net
