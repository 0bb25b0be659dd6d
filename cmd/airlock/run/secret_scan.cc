#include "cmd/airlock/run/secret_scan.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"

namespace airlock::run {
namespace {

bool Unreserved(unsigned char c) { return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

// The part of base64(prefix of `offset` zero bytes + value) that only the value's bits decide: the
// value, wherever it sits in a longer encoded text, shows up as exactly these characters.
std::string Base64Core(absl::string_view value, size_t offset, bool url_alphabet) {
  std::string padded(offset, '\0');
  padded.append(value.data(), value.size());
  std::string encoded = url_alphabet ? absl::WebSafeBase64Escape(padded) : absl::Base64Escape(padded);
  size_t first = (offset * 8 + 5) / 6;              // first character without prefix bits
  size_t last = ((offset + value.size()) * 8) / 6;  // one past the last without bits of what follows
  return last > first ? encoded.substr(first, last - first) : "";
}

std::string PercentEncoded(absl::string_view value, bool lower) {
  static const char kUpper[] = "0123456789ABCDEF";
  static const char kLower[] = "0123456789abcdef";
  const char* digits = lower ? kLower : kUpper;
  std::string out;
  for (unsigned char c : value) {
    if (Unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 0xf];
    }
  }
  return out;
}

}  // namespace

std::vector<SecretForm> SearchForms(absl::string_view value) {
  std::vector<SecretForm> forms;
  std::set<std::string> needles;
  auto add = [&](std::string encoding, std::string needle) {
    if (!needle.empty() && needles.insert(needle).second) forms.push_back({std::move(encoding), std::move(needle)});
  };
  add("", std::string(value));
  if (value.size() < kMinEncodedSecretLength) return forms;
  std::string hex = absl::BytesToHexString(value);
  add("hex", hex);
  add("hex", absl::AsciiStrToUpper(hex));
  for (size_t offset = 0; offset < 3; ++offset) {
    add("base64", Base64Core(value, offset, false));
    add("base64url", Base64Core(value, offset, true));
  }
  add("percent-encoded", PercentEncoded(value, false));
  add("percent-encoded", PercentEncoded(value, true));
  return forms;
}

std::vector<SecretFinding> ScanForSecrets(const std::vector<Secret>& secrets, const std::vector<ScanInput>& files,
                                          absl::string_view patch_text) {
  std::vector<SecretFinding> findings;
  std::set<std::pair<std::string, std::string>> seen;
  auto add = [&](const std::string& secret, std::string where) {
    if (seen.insert({secret, where}).second) findings.push_back({secret, std::move(where)});
  };
  for (const Secret& secret : secrets) {
    if (secret.value.empty()) continue;
    size_t before = findings.size();
    const std::vector<SecretForm> forms = SearchForms(secret.value);
    for (const SecretForm& form : forms) {
      std::string how = form.encoding.empty() ? "" : " (" + form.encoding + ")";
      for (const ScanInput& file : files) {
        if (absl::StrContains(file.path, form.needle)) add(secret.name, "a file name: " + file.path + how);
        if (absl::StrContains(file.content, form.needle)) add(secret.name, file.path + how);
      }
    }
    // Whatever else the patch carries (commit message, a value split by the diff's own lines is
    // caught in the file contents above).
    if (findings.size() == before) {
      for (const SecretForm& form : forms) {
        if (absl::StrContains(patch_text, form.needle)) {
          add(secret.name, "the patch" + (form.encoding.empty() ? "" : " (" + form.encoding + ")"));
          break;
        }
      }
    }
  }
  return findings;
}

}  // namespace airlock::run
