// Before a change set leaves the run (branch, patch), it is searched for the VALUES of the
// secrets the setup phase was given: an agent that found one (in a file setup left behind, in
// its memory, anywhere) must not be able to carry it out in its edits. Byte matches of the raw value
// and of its common encodings (hex, base64 at any alignment, percent-encoding), in file contents, in
// paths, and in the patch text (commit message, symlink targets). A heuristic against careless or
// casual exfiltration, not against an agent that encrypts: the airlock's guarantee is that the agent
// never gets the secrets at all (setup alone has them, and must not leave them behind).
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace airlock {

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

// The streaming form: a file's bytes are fed in chunks of any size as they are read (memory: the
// longest search form per secret, whatever the file's size), so nothing is ever scanned only in
// part. A value split across two chunks is found like one inside a chunk.
class SecretScanner {
 public:
  explicit SecretScanner(const std::vector<Secret>& secrets);

  // One input at a time: BeginFile, any number of Feed, EndFile. `where` is what a finding names
  // (a file's path as shown to the user, or "the patch").
  void BeginFile(const std::string& where);
  void Feed(absl::string_view chunk);
  void EndFile();
  // A file name (its bytes): a hit is reported as "a file name: <where>".
  void ScanName(absl::string_view name, const std::string& where);
  // The secret whose value (in any form) `name` holds, without reporting it: such a name must
  // never be shown. Empty when it holds none.
  std::string SecretInName(absl::string_view name) const;

  bool empty() const;  // no secrets: every call is a no-op
  // Every (secret, place) pair with a hit, in the order found; no duplicates. A file's hits are
  // reported at its EndFile, secret by secret in the order given, each raw first, then encoded.
  // "the patch" is scanned like any other input: whether to look there only when nothing else
  // matched is the caller's choice (ScanForSecrets does).
  const std::vector<SecretFinding>& findings() const { return findings_; }

 private:
  struct Needle {
    size_t secret;         // index into names_
    std::string encoding;  // "" raw
    std::string bytes;
  };
  void Add(size_t secret, const std::string& encoding, std::string where);
  void Search(absl::string_view text);

  std::vector<std::string> names_;
  std::vector<Needle> needles_;
  size_t longest_ = 0;
  std::string where_;
  std::string carry_;   // the last longest_-1 bytes fed, to find needles across chunk borders
  std::string window_;  // carry_ + the chunk's first longest_-1 bytes (kept to reuse its buffer)
  std::vector<bool> hit_in_file_;  // per needle, for the current file
  size_t unhit_ = 0;               // needles not yet found in the current file
  std::set<std::pair<std::string, std::string>> seen_;  // (secret name, where) already reported
  std::vector<SecretFinding> findings_;
};

// Every (secret, place) pair with a hit, secret by secret, in input order; no duplicates. Empty values
// never match. The patch is searched for a secret only when it was found nowhere else (one finding).
// (A convenience over SecretScanner for inputs already in memory: the unit tests.)
std::vector<SecretFinding> ScanForSecrets(const std::vector<Secret>& secrets, const std::vector<ScanInput>& files,
                                          absl::string_view patch_text);

}  // namespace airlock
