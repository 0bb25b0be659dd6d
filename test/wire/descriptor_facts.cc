#include "test/wire/descriptor_facts.h"

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <memory>
#include <regex>
#include <set>
#include <sstream>

namespace airlock::wire {
namespace {

using google::protobuf::DescriptorProto;
using google::protobuf::EnumDescriptorProto;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::FileDescriptorProto;

std::string Rename(const std::string& full_name, const NameMap& names) {
  std::string name = full_name;
  if (!name.empty() && name[0] == '.') name.erase(0, 1);
  for (const auto& [from, to] : names) {
    if (name == from) return to;
    if (name.size() > from.size() && name.compare(0, from.size(), from) == 0 && name[from.size()] == '.') {
      return to + name.substr(from.size());
    }
  }
  return name;
}

std::string Qualify(const std::string& scope, const std::string& name) {
  return scope.empty() ? name : scope + "." + name;
}

const char* LabelName(FieldDescriptorProto::Label label) {
  switch (label) {
    case FieldDescriptorProto::LABEL_OPTIONAL: return "optional";
    case FieldDescriptorProto::LABEL_REQUIRED: return "required";
    case FieldDescriptorProto::LABEL_REPEATED: return "repeated";
  }
  return "?";
}

bool IsPackable(FieldDescriptorProto::Type type) {
  return type != FieldDescriptorProto::TYPE_STRING && type != FieldDescriptorProto::TYPE_BYTES &&
         type != FieldDescriptorProto::TYPE_MESSAGE && type != FieldDescriptorProto::TYPE_GROUP;
}

// "uint64", "message google.protobuf.Timestamp", "enum containerd.v1.types.Status".
std::string TypeName(const FieldDescriptorProto& field, const NameMap& names) {
  switch (field.type()) {
    case FieldDescriptorProto::TYPE_MESSAGE: return "message " + Rename(field.type_name(), names);
    case FieldDescriptorProto::TYPE_GROUP: return "group " + Rename(field.type_name(), names);
    case FieldDescriptorProto::TYPE_ENUM: return "enum " + Rename(field.type_name(), names);
    default: break;
  }
  std::string lower = FieldDescriptorProto::Type_Name(field.type()).substr(5);  // drop "TYPE_"
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

class FactCollector {
 public:
  FactCollector(const FileDescriptorProto& file, const NameMap& names) : file_(file), names_(names) {
    IndexMapEntries(file_.package(), file_.message_type());
  }

  Facts Collect() {
    facts_["syntax"] = file_.syntax().empty() ? "proto2" : file_.syntax();
    facts_["package"] = Rename(file_.package(), names_);
    for (const auto& message : file_.message_type()) AddMessage(file_.package(), message);
    for (const auto& enumeration : file_.enum_type()) AddEnum(file_.package(), enumeration);
    for (const auto& service : file_.service()) {
      std::string service_key = "service " + Rename(Qualify(file_.package(), service.name()), names_);
      facts_[service_key] = "";
      for (const auto& method : service.method()) {
        std::string value = std::string(method.client_streaming() ? "stream " : "") +
                            Rename(method.input_type(), names_) + " -> " +
                            (method.server_streaming() ? "stream " : "") + Rename(method.output_type(), names_);
        facts_[service_key + " method " + method.name()] = value;
      }
    }
    return std::move(facts_);
  }

 private:
  // Map fields point at a synthetic nested "XxxEntry" message; remember those to print map<K, V>.
  void IndexMapEntries(const std::string& scope,
                       const google::protobuf::RepeatedPtrField<DescriptorProto>& messages) {
    for (const auto& message : messages) {
      std::string full = Qualify(scope, message.name());
      if (message.options().map_entry()) map_entries_["." + full] = &message;
      IndexMapEntries(full, message.nested_type());
    }
  }

  void AddMessage(const std::string& scope, const DescriptorProto& message) {
    std::string full = Qualify(scope, message.name());
    if (message.options().map_entry()) return;  // described by the map field that uses it
    std::string key = "message " + Rename(full, names_);
    facts_[key] = "";
    for (const auto& field : message.field()) {
      facts_[key + " field " + std::to_string(field.number())] = DescribeField(message, field);
    }
    for (const auto& nested : message.nested_type()) AddMessage(full, nested);
    for (const auto& enumeration : message.enum_type()) AddEnum(full, enumeration);
    for (const auto& range : message.extension_range()) {
      facts_[key + " extensions " + std::to_string(range.start()) + "-" + std::to_string(range.end() - 1)] = "";
    }
  }

  std::string DescribeField(const DescriptorProto& message, const FieldDescriptorProto& field) {
    std::string out = field.name() + " ";
    auto entry = field.type() == FieldDescriptorProto::TYPE_MESSAGE ? map_entries_.find(field.type_name())
                                                                       : map_entries_.end();
    if (entry != map_entries_.end() && field.label() == FieldDescriptorProto::LABEL_REPEATED) {
      const DescriptorProto& kv = *entry->second;
      std::string key_type = "?", value_type = "?";
      for (const auto& f : kv.field()) {
        if (f.number() == 1) key_type = TypeName(f, names_);
        if (f.number() == 2) value_type = TypeName(f, names_);
      }
      return out + "map<" + key_type + ", " + value_type + ">";
    }
    if (field.proto3_optional()) {
      out += "optional(explicit presence)";
    } else {
      out += LabelName(field.label());
    }
    out += " " + TypeName(field, names_);
    if (field.label() == FieldDescriptorProto::LABEL_REPEATED && IsPackable(field.type())) {
      bool packed = field.options().has_packed() ? field.options().packed() : file_.syntax() == "proto3";
      out += packed ? " packed" : " unpacked";
    }
    if (field.has_oneof_index() && !field.proto3_optional()) {
      out += " oneof " + message.oneof_decl(field.oneof_index()).name();
    }
    if (field.has_default_value()) out += " default=" + field.default_value();
    return out;
  }

  void AddEnum(const std::string& scope, const EnumDescriptorProto& enumeration) {
    std::string key = "enum " + Rename(Qualify(scope, enumeration.name()), names_);
    facts_[key] = "";
    for (const auto& value : enumeration.value()) {
      // Aliases share a number: keep every name.
      std::string& slot = facts_[key + " value " + std::to_string(value.number())];
      slot += slot.empty() ? value.name() : "|" + value.name();
    }
  }

  const FileDescriptorProto& file_;
  const NameMap& names_;
  std::map<std::string, const DescriptorProto*> map_entries_;
  Facts facts_;
};

class CollectingErrors : public google::protobuf::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& filename, int line, int column, const std::string& message) override {
    text_ += filename + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message + "\n";
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Virtual files first, then the disk.
class OverlaySourceTree : public google::protobuf::compiler::SourceTree {
 public:
  OverlaySourceTree(const std::map<std::string, std::string>& overlay, const std::vector<std::string>& dirs)
      : overlay_(overlay) {
    for (const auto& dir : dirs) disk_.MapPath("", dir);
  }
  google::protobuf::io::ZeroCopyInputStream* Open(const std::string& filename) override {
    auto it = overlay_.find(filename);
    if (it != overlay_.end()) {
      return new google::protobuf::io::ArrayInputStream(it->second.data(), static_cast<int>(it->second.size()));
    }
    return disk_.Open(filename);
  }
  std::string GetLastErrorMessage() override { return disk_.GetLastErrorMessage(); }

 private:
  const std::map<std::string, std::string>& overlay_;
  google::protobuf::compiler::DiskSourceTree disk_;
};

}  // namespace

Facts ExtractFacts(const FileDescriptorProto& file, const NameMap& names) {
  return FactCollector(file, names).Collect();
}

std::vector<std::string> MergeFacts(Facts& into, const Facts& more, const std::string& more_label) {
  std::vector<std::string> conflicts;
  for (const auto& [key, value] : more) {
    auto [it, inserted] = into.emplace(key, value);
    if (!inserted && it->second != value) {
      conflicts.push_back(more_label + ": " + key + ": \"" + value + "\" conflicts with \"" + it->second + "\"");
    }
  }
  return conflicts;
}

std::vector<std::string> DiffFacts(const Facts& ours, const Facts& reference, const std::string& our_label,
                                   const std::string& reference_label) {
  std::vector<std::string> lines;
  auto quoted = [](const std::string& value) { return value.empty() ? std::string() : " \"" + value + "\""; };
  for (const auto& [key, value] : reference) {
    auto it = ours.find(key);
    if (it == ours.end()) {
      lines.push_back(our_label + ": missing " + key + " (reference " + reference_label + " has it" +
                      quoted(value) + ")");
    } else if (it->second != value) {
      lines.push_back(our_label + ": " + key + ": ours \"" + it->second + "\" != reference \"" + value + "\" (" +
                      reference_label + ")");
    }
  }
  for (const auto& [key, value] : ours) {
    if (!reference.count(key)) {
      lines.push_back(our_label + ": extra " + key + quoted(value) + " (not in reference " + reference_label + ")");
    }
  }
  return lines;
}

LoadResult LoadProto(const std::vector<std::string>& include_dirs, const std::string& path,
                     const std::map<std::string, std::string>& overlay) {
  LoadResult result;
  OverlaySourceTree tree(overlay, include_dirs);
  CollectingErrors errors;
  google::protobuf::compiler::Importer importer(&tree, &errors);
  const google::protobuf::FileDescriptor* file = importer.Import(path);
  if (file == nullptr) {
    result.error = errors.text().empty() ? path + ": cannot load: " + tree.GetLastErrorMessage() : errors.text();
    return result;
  }
  file->CopyTo(&result.file);
  return result;
}

GoStructConversion GoStructsToProto(const std::string& go_source, const std::string& package,
                                    const std::vector<std::string>& imports,
                                    const std::map<std::string, std::string>& qualified_types) {
  static const std::map<std::string, std::pair<std::string, std::string>> kScalars = {
      // Go type -> (proto type, wire type in the tag)
      {"string", {"string", "bytes"}}, {"[]byte", {"bytes", "bytes"}},  {"bool", {"bool", "varint"}},
      {"int32", {"int32", "varint"}},  {"int64", {"int64", "varint"}},  {"uint32", {"uint32", "varint"}},
      {"uint64", {"uint64", "varint"}}, {"float64", {"double", "fixed64"}}, {"float32", {"float", "fixed32"}},
  };
  GoStructConversion out;
  std::ostringstream proto;
  proto << "syntax = \"proto3\";\npackage " << package << ";\n";
  for (const auto& import : imports) proto << "import \"" << import << "\";\n";

  const std::regex struct_re(R"(type\s+(\w+)\s+struct\s*\{([^}]*)\})");
  const std::regex field_re(R"((\w+)\s+(\S+)\s+`protobuf:"([^"]+)\"`)");
  int structs = 0;
  for (std::sregex_iterator s(go_source.begin(), go_source.end(), struct_re), end; s != end; ++s) {
    const std::string name = (*s)[1];
    const std::string body = (*s)[2];
    std::ostringstream message;
    int fields = 0;
    for (std::sregex_iterator f(body.begin(), body.end(), field_re); f != end; ++f) {
      std::string go_type = (*f)[2];
      std::vector<std::string> tag;
      std::stringstream tag_stream((*f)[3].str());
      for (std::string part; std::getline(tag_stream, part, ',');) tag.push_back(part);
      if (tag.size() < 4 || tag[3].rfind("name=", 0) != 0) {
        out.error += name + "." + (*f)[1].str() + ": unexpected tag " + (*f)[3].str() + "\n";
        continue;
      }
      const std::string& wire = tag[0];
      const std::string& number = tag[1];
      bool repeated = tag[2] == "rep";
      std::string field_name = tag[3].substr(5);
      bool go_slice = go_type.rfind("[]", 0) == 0 && go_type != "[]byte";
      if (go_slice != repeated) {
        out.error += name + "." + field_name + ": Go type " + go_type + " does not fit label " + tag[2] + "\n";
      }
      std::string element = go_slice ? go_type.substr(2) : go_type;
      std::string proto_type;
      if (auto scalar = kScalars.find(element); scalar != kScalars.end()) {
        proto_type = scalar->second.first;
        if (scalar->second.second != wire) {
          out.error += name + "." + field_name + ": wire type " + wire + " does not fit Go type " + element + "\n";
        }
      } else {
        if (element.rfind("*", 0) == 0) element.erase(0, 1);
        if (element.find('.') != std::string::npos) {
          auto known = qualified_types.find(element);
          if (known == qualified_types.end()) {
            out.error += name + "." + field_name + ": unknown Go type " + element + "\n";
            continue;
          }
          proto_type = known->second;
        } else {
          proto_type = element;  // a struct of the same file
        }
        if (wire != "bytes") out.error += name + "." + field_name + ": message field with wire type " + wire + "\n";
      }
      message << "  " << (repeated ? "repeated " : "") << proto_type << " " << field_name << " = " << number << ";\n";
      ++fields;
    }
    if (fields == 0) continue;  // not a protobuf message
    proto << "message " << name << " {\n" << message.str() << "}\n";
    ++structs;
  }
  if (structs == 0) out.error += "no Go structs found\n";
  out.proto_text = proto.str();
  return out;
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

}  // namespace airlock::wire
