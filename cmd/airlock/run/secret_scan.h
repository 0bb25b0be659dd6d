// Before a change set leaves the run (branch, patch), it is searched for the VALUES of the
// secrets the setup phase was given: an agent that found one (in a file setup left behind, in
// its memory, anywhere) must not be able to carry it out in its edits. Byte matches of the raw value
// and of its common encodings (hex, base64 at any alignment, percent-encoding), in file contents, in
// paths, and in the patch text (commit message, symlink targets). A heuristic against careless or
// casual exfiltration, not against an agent that encrypts: the airlock's guarantee is that the agent
// never gets the secrets at all (setup alone has them, and must not leave them behind).
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
  std::string where;   // the file's path, or "the patch" / "a file name: PATH"; " (ENCODING)" if encoded
};

// Values shorter than this are searched raw only: their encodings are too short to mean anything.
inline constexpr size_t kMinEncodedSecretLength = 8;

struct SecretForm {
  std::string encoding;  // "" (raw), "hex", "base64", "base64url", "percent-encoded"
  std::string needle;
};

// The byte strings a value shows up as: raw, hex (both cases), the value's own characters of base64
// and base64url at each of the 3 alignments (the last character, which shares bits with whatever
// follows, is left out: a value differing in its last few bits only matches too), percent-encoded
// (both cases). No duplicates.
std::vector<SecretForm> SearchForms(absl::string_view value);

// Every (secret, place) pair with a hit, in input order; no duplicates. Empty values never match.
std::vector<SecretFinding> ScanForSecrets(const std::vector<Secret>& secrets, const std::vector<ScanInput>& files,
                                          absl::string_view patch_text);

}  // namespace airlock::run
