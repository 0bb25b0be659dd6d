#include "policy/yaml_reader.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <utility>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace airlock::policy::yaml {
namespace {

bool HasMark(const YAML::Mark& mark) { return mark.line >= 0 && mark.column >= 0; }

// "a, b or c".
std::string Alternatives(const std::vector<Key>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) absl::StrAppend(&out, i + 1 == keys.size() ? " or " : ", ");
    absl::StrAppend(&out, keys[i].name);
  }
  return out;
}

// Iterates a map, reporting a non-map, non-string keys and duplicates; `path_of` names an entry.
bool IterateMap(const Field& field, Errors& errors, const std::function<std::string(const std::string&)>& path_of,
                const std::function<void(const std::string& key, const Field& entry)>& read) {
  if (!field.value.IsMap()) {
    errors.At(field, absl::StrCat("want a map, got ", Describe(field.value)));
    return false;
  }
  std::map<std::string, int> first_line;
  for (auto it = field.value.begin(); it != field.value.end(); ++it) {
    Field entry{it->first, it->second, field.path};
    if (!entry.key.IsScalar()) {
      errors.AtKey(entry, absl::StrCat("keys must be strings, got ", Describe(entry.key)));
      continue;
    }
    const std::string& name = entry.key.Scalar();
    entry.path = path_of(name);
    auto [pos, inserted] = first_line.emplace(name, entry.key.Mark().line + 1);
    if (!inserted) {
      errors.AtKey(entry, absl::StrCat("duplicate key (first at line ", pos->second, ")"));
      continue;
    }
    read(name, entry);
  }
  return true;
}

// Keys and values from the file appear in messages: escape control characters so that every error
// stays one line, and cap the length.
std::string OneLine(absl::string_view text) {
  constexpr size_t kMaxLength = 512;
  std::string out;
  for (char c : text) {
    if (out.size() >= kMaxLength) {
      out += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += absl::StrFormat("\\x%02x", u);
    } else {
      out += c;
    }
  }
  return out;
}

// Records where each document starts; ignores the rest.
struct DocumentStarts : YAML::EventHandler {
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

void Errors::At(const YAML::Mark& mark, absl::string_view path, absl::string_view message) {
  if (messages_.size() >= kMaxErrors) {
    ++dropped_;
    return;
  }
  int line = HasMark(mark) ? mark.line + 1 : 1;
  int column = HasMark(mark) ? mark.column + 1 : 1;
  std::string where = absl::StrCat(file_, ":", line, ":", column, ": ");
  if (!path.empty()) absl::StrAppend(&where, path, ": ");
  messages_.push_back(Message{line, column, OneLine(absl::StrCat(where, message))});
}

void Errors::At(const Field& field, absl::string_view message) {
  bool empty_value = !field.value.IsDefined() || field.value.IsNull() || !HasMark(field.value.Mark());
  if (empty_value && field.key.IsDefined() && !field.key.IsNull()) {
    At(field.key.Mark(), field.path, message);
  } else {
    At(field.value.IsDefined() ? field.value.Mark() : YAML::Mark::null_mark(), field.path, message);
  }
}

void Errors::AtKey(const Field& field, absl::string_view message) {
  At(field.key.IsDefined() ? field.key.Mark() : field.value.Mark(), field.path, message);
}

absl::Status Errors::ToStatus() const {
  if (messages_.empty()) return absl::OkStatus();
  std::vector<Message> sorted = messages_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Message& a, const Message& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  std::string text = absl::StrJoin(sorted, "\n", [](std::string* out, const Message& m) { out->append(m.text); });
  if (dropped_ > 0) absl::StrAppend(&text, "\n", file_, ": ", dropped_, " more errors not shown");
  return absl::InvalidArgumentError(text);
}

std::string Describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a map";
  const std::string& text = node.Scalar();
  if (text.size() > 40) return absl::StrCat("\"", text.substr(0, 40), "...\"");
  return absl::StrCat("\"", text, "\"");
}

std::optional<YAML::Node> LoadSingleDocument(absl::string_view yaml, Errors& errors) {
  const std::string text(yaml);
  try {
    // Count documents first, at most two parser calls: yaml-cpp's LoadAll never ends (allocating
    // without bound) on a stray "," at document level, because its parser then yields empty documents
    // without consuming anything.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts starts;
    for (int i = 0; i < 2 && parser.HandleNextDocument(starts); ++i) {
    }
    if (starts.marks.size() >= 2) {
      const YAML::Mark& first = starts.marks[0];
      if (starts.marks[1].pos == first.pos) {
        std::string what = first.pos >= 0 && static_cast<size_t>(first.pos) < text.size()
                               ? absl::StrCat(" \"", text.substr(static_cast<size_t>(first.pos), 1), "\"")
                               : "";
        errors.At(first, "", absl::StrCat("YAML syntax error: unexpected", what));
      } else {
        errors.At(starts.marks[1], "", "more than one YAML document (want exactly one)");
      }
      return std::nullopt;
    }
    return YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    errors.At(e.mark, "", "YAML nested too deeply");
  } catch (const YAML::Exception& e) {
    errors.At(e.mark, "", absl::StrCat("YAML syntax error: ", e.msg));
  }
  return std::nullopt;
}

bool ReadMap(const Field& field, const std::vector<Key>& keys, Errors& errors) {
  return IterateMap(
      field, errors, [&](const std::string& name) { return JoinPath(field.path, name); },
      [&](const std::string& name, const Field& entry) {
        for (const Key& key : keys) {
          if (key.name == name) {
            key.read(entry);
            return;
          }
        }
        errors.AtKey(entry, absl::StrCat("unknown key (want ", Alternatives(keys), ")"));
      });
}

bool ReadMapEntries(const Field& field, Errors& errors,
                    const std::function<void(const std::string& key, const Field& entry)>& read) {
  return IterateMap(
      field, errors, [&](const std::string& name) { return absl::StrCat(field.path, "[\"", name, "\"]"); }, read);
}

std::optional<std::string> ReadString(const Field& field, Errors& errors) {
  if (!field.value.IsScalar()) {
    errors.At(field, absl::StrCat("want a string, got ", Describe(field.value)));
    return std::nullopt;
  }
  return field.value.Scalar();
}

std::optional<bool> ReadBool(const Field& field, Errors& errors) {
  if (field.value.IsScalar() && field.value.Tag() != "!") {
    const std::string& text = field.value.Scalar();
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
  }
  errors.At(field, absl::StrCat("want true or false, got ", Describe(field.value)));
  return std::nullopt;
}

std::optional<std::vector<Field>> ReadList(const Field& field, absl::string_view want, Errors& errors) {
  if (!field.value.IsSequence()) {
    errors.At(field, absl::StrCat("want a list", want.empty() ? "" : " ", want, ", got ", Describe(field.value)));
    return std::nullopt;
  }
  std::vector<Field> items;
  size_t index = 0;
  for (auto it = field.value.begin(); it != field.value.end(); ++it, ++index) {
    items.push_back(Field{YAML::Node(), *it, absl::StrCat(field.path, "[", index, "]")});
  }
  return items;
}

std::optional<std::vector<std::string>> ReadStringList(const Field& field, Errors& errors) {
  auto items = ReadList(field, "of strings", errors);
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (const Field& item : *items) {
    if (!item.value.IsScalar()) {
      errors.At(item.value.Mark(), item.path, absl::StrCat("want a string, got ", Describe(item.value)));
      ok = false;
      continue;
    }
    out.push_back(item.value.Scalar());
  }
  if (!ok) return std::nullopt;
  return out;
}

std::string JoinPath(absl::string_view parent, absl::string_view key) {
  return parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key);
}

}  // namespace airlock::policy::yaml
