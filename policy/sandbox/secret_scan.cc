#include "policy/sandbox/secret_scan.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace airlock {
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

SecretScanner::SecretScanner(const std::vector<Secret>& secrets) {
  for (const Secret& secret : secrets) {
    if (secret.value.empty()) continue;
    const size_t index = names_.size();
    names_.push_back(secret.name);
    for (SecretForm& form : SearchForms(secret.value)) {
      longest_ = std::max(longest_, form.needle.size());
      needles_.push_back({index, std::move(form.encoding), std::move(form.needle)});
    }
  }
  hit_in_file_.assign(needles_.size(), false);
}

bool SecretScanner::empty() const { return needles_.empty(); }

void SecretScanner::Add(size_t secret, const std::string& encoding, std::string where) {
  if (!encoding.empty()) absl::StrAppend(&where, " (", encoding, ")");
  if (seen_.insert({names_[secret], where}).second) findings_.push_back({names_[secret], std::move(where)});
}

void SecretScanner::BeginFile(const std::string& where) {
  if (empty()) return;
  where_ = where;
  carry_.clear();
  hit_in_file_.assign(needles_.size(), false);
  unhit_ = needles_.size();
}

void SecretScanner::Search(absl::string_view text) {
  for (size_t i = 0; i < needles_.size(); ++i) {
    if (!hit_in_file_[i] && absl::StrContains(text, needles_[i].bytes)) {
      hit_in_file_[i] = true;
      --unhit_;
    }
  }
}

void SecretScanner::Feed(absl::string_view chunk) {
  if (unhit_ == 0 || chunk.empty()) return;  // no secrets, or every form already found here
  const size_t keep = longest_ - 1;
  // A needle across the border starts in the carry and ends in the chunk's first keep bytes: only
  // those are copied. When they are the whole chunk, that search covers the chunk as well.
  bool chunk_searched = false;
  if (!carry_.empty()) {
    window_.assign(carry_);
    window_.append(chunk.data(), std::min(chunk.size(), keep));
    Search(window_);
    chunk_searched = chunk.size() <= keep;
  }
  if (!chunk_searched) Search(chunk);
  if (chunk.size() >= keep) {
    carry_.assign(chunk.data() + (chunk.size() - keep), keep);
  } else {
    carry_.append(chunk.data(), chunk.size());
    if (carry_.size() > keep) carry_.erase(0, carry_.size() - keep);
  }
}

void SecretScanner::EndFile() {
  if (empty()) return;
  // Needles are ordered secret by secret, raw form first: the report order of the whole-file scan.
  for (size_t i = 0; i < needles_.size(); ++i) {
    if (hit_in_file_[i]) Add(needles_[i].secret, needles_[i].encoding, where_);
  }
  carry_.clear();
  hit_in_file_.assign(needles_.size(), false);
  unhit_ = 0;  // a Feed outside BeginFile/EndFile scans nothing
}

void SecretScanner::ScanName(absl::string_view name, const std::string& where) {
  for (const Needle& needle : needles_) {
    if (absl::StrContains(name, needle.bytes)) Add(needle.secret, needle.encoding, "a file name: " + where);
  }
}

std::string SecretScanner::SecretInName(absl::string_view name) const {
  for (const Needle& needle : needles_) {
    if (absl::StrContains(name, needle.bytes)) return names_[needle.secret];
  }
  return "";
}

std::vector<SecretFinding> ScanForSecrets(const std::vector<Secret>& secrets, const std::vector<ScanInput>& files,
                                          absl::string_view patch_text) {
  std::vector<SecretFinding> findings;
  std::set<std::pair<std::string, std::string>> seen;
  auto add = [&](const SecretFinding& finding) {
    if (!seen.insert({finding.secret, finding.where}).second) return false;
    findings.push_back(finding);
    return true;
  };
  // One scanner per secret keeps the report grouped by secret, and tells whether this one was
  // found anywhere before the patch is searched.
  for (const Secret& secret : secrets) {
    SecretScanner scanner({secret});
    if (scanner.empty()) continue;
    for (const ScanInput& file : files) {
      scanner.ScanName(file.path, file.path);
      scanner.BeginFile(file.path);
      scanner.Feed(file.content);
      scanner.EndFile();
    }
    bool added = false;
    for (const SecretFinding& finding : scanner.findings()) added = add(finding) || added;
    // Whatever else the patch carries (commit message, symlink targets): a value split by the
    // diff's own lines is caught in the file contents above. Its first form found is enough.
    if (!added) {
      const size_t before = scanner.findings().size();
      scanner.BeginFile("the patch");
      scanner.Feed(patch_text);
      scanner.EndFile();
      if (scanner.findings().size() > before) add(scanner.findings()[before]);
    }
  }
  return findings;
}

}  // namespace airlock
