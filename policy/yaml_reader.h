// Strict reading of yaml-cpp nodes for the policy and host config parsers: every problem becomes one
// "file:line:column: key.path: message" line (1-based positions from yaml-cpp marks). Internal to
// policy/; yaml-cpp types do not leave the module.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace airlock::policy::yaml {

// A value, the key that named it (null for the document and list items) and its key path
// ("network.setup.uplink", "secrets[1]", "filesystem.tmpfs[\"/tmp\"]").
struct Field {
  YAML::Node key;
  YAML::Node value;
  std::string path;
};

// Collects errors; the status reports all of them sorted by position, one a line (at most kMaxErrors).
class Errors {
 public:
  static constexpr size_t kMaxErrors = 20;

  explicit Errors(absl::string_view file_name) : file_(file_name) {}

  void At(const YAML::Mark& mark, absl::string_view path, absl::string_view message);
  // At the value (at its key when the value is empty: yaml-cpp marks an empty value at the next token).
  void At(const Field& field, absl::string_view message);
  // At the key (unknown and duplicate keys).
  void AtKey(const Field& field, absl::string_view message);

  bool empty() const { return messages_.empty(); }
  absl::Status ToStatus() const;

 private:
  struct Message {
    int line;
    int column;
    std::string text;
  };
  std::string file_;
  std::vector<Message> messages_;
  size_t dropped_ = 0;
};

// The node's kind in words for "want X, got Y": "a map", "a list", "nothing", or the quoted scalar.
std::string Describe(const YAML::Node& node);

// Exactly one document from `yaml`; syntax errors and extra documents are reported.
std::optional<YAML::Node> LoadSingleDocument(absl::string_view yaml, Errors& errors);

struct Key {
  absl::string_view name;
  std::function<void(const Field&)> read;
};

// `field` must be a map whose keys are among `keys`: reports anything else, unknown keys (naming the
// known ones), duplicate keys and non-string keys; calls each known key's reader in document order.
// Returns false when `field` is not a map.
bool ReadMap(const Field& field, const std::vector<Key>& keys, Errors& errors);

// `field` must be a map with string keys (its keys are data, e.g. tmpfs paths): calls `read` for each
// entry in document order with its key, reporting duplicates. Returns false when it is not a map.
bool ReadMapEntries(const Field& field, Errors& errors,
                    const std::function<void(const std::string& key, const Field& entry)>& read);

// A scalar as text. Reports (and returns nullopt for) anything else.
std::optional<std::string> ReadString(const Field& field, Errors& errors);
// true/false (also True/TRUE/False/FALSE); not yes/no/on/off.
std::optional<bool> ReadBool(const Field& field, Errors& errors);
// A list (each item's path gets "[i]"). `want` names the expected items in the error ("of strings").
std::optional<std::vector<Field>> ReadList(const Field& field, absl::string_view want, Errors& errors);
// A list of scalars.
std::optional<std::vector<std::string>> ReadStringList(const Field& field, Errors& errors);

// A key path: parent + "." + key, or key alone at the top.
std::string JoinPath(absl::string_view parent, absl::string_view key);

}  // namespace airlock::policy::yaml
