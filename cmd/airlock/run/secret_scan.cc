#include "cmd/airlock/run/secret_scan.h"

#include <set>
#include <utility>

#include "absl/strings/match.h"

namespace airlock::run {

std::vector<SecretFinding> ScanForSecrets(const std::vector<Secret>& secrets, const std::vector<ScanInput>& files,
                                          absl::string_view patch_text) {
  std::vector<SecretFinding> findings;
  std::set<std::pair<std::string, std::string>> seen;
  auto add = [&](const std::string& secret, std::string where) {
    if (seen.insert({secret, where}).second) findings.push_back({secret, std::move(where)});
  };
  for (const Secret& secret : secrets) {
    if (secret.value.empty()) continue;
    for (const ScanInput& file : files) {
      if (absl::StrContains(file.path, secret.value)) add(secret.name, "a file name: " + file.path);
      if (absl::StrContains(file.content, secret.value)) add(secret.name, file.path);
    }
    // Whatever else the patch carries (commit message, a value split by the diff's own lines is
    // caught in the file contents above).
    if (findings.empty() || findings.back().secret != secret.name) {
      if (absl::StrContains(patch_text, secret.value)) add(secret.name, "the patch");
    }
  }
  return findings;
}

}  // namespace airlock::run
