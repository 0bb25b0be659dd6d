// Before a change set leaves the run (branch, patch), it is searched for the VALUES of the
// secrets the setup phase was given: an agent that found one (in a file setup left behind, in
// its memory, anywhere) must not be able to carry it out in its edits. Exact byte matches of the
// raw value, in file contents, in paths, and in the patch text (commit message, symlink targets).
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace airlock::run {

struct Secret {
  std::string name;   // env var name: what reports say
  std::string value;  // never printed
};

struct ScanInput {
  std::string path;
  std::string content;  // the file's new bytes ("" for a deletion)
};

struct SecretFinding {
  std::string secret;  // the name
  std::string where;   // the file's path, or "the patch" / "a file name: PATH"
};

// Every (secret, place) pair with a hit, in input order; no duplicates. Empty values never match.
std::vector<SecretFinding> ScanForSecrets(const std::vector<Secret>& secrets, const std::vector<ScanInput>& files,
                                          absl::string_view patch_text);

}  // namespace airlock::run
