// Wire-compatibility checking of .proto files: a file is reduced to "facts" (one per message,
// field, enum value, service method), and two fact sets are diffed into readable lines.
// Built on full libprotobuf (compiler::Importer); never link this with the lite airlock_proto.
#pragma once

#include <google/protobuf/descriptor.pb.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace airlock::wire {

// key ("message pkg.Name field 3") -> value ("name optional uint32"). Sorted, so diffs read in
// declaration-independent order.
using Facts = std::map<std::string, std::string>;

// Renames full names of a reference before comparing, e.g. {"containerd.task.v2", "containerd.task.v3"}:
// a name equal to `from` or starting with `from.` gets `to` instead.
using NameMap = std::vector<std::pair<std::string, std::string>>;

// Everything a peer relies on to encode or decode the wire bytes (and gRPC/ttrpc method paths):
// syntax, package, messages (also empty and nested ones), fields by number with name, label,
// type, resolved type name, map-ness, packing and oneof; enums and values; services, methods,
// input/output types and streaming. Not: comments, options of other languages, json names.
Facts ExtractFacts(const google::protobuf::FileDescriptorProto& file, const NameMap& names = {});

// Adds `more` to `into`. A key present in both with different values is a conflict: the
// returned lines name it (empty when the merge is clean).
std::vector<std::string> MergeFacts(Facts& into, const Facts& more, const std::string& more_label);

// Lines such as
//   proto/x.proto: message a.B field 3: ours "n optional int32" != reference "n optional uint32" (ref.proto)
//   proto/x.proto: missing message a.B field 4 (reference ref.proto has "m repeated string")
//   proto/x.proto: extra message a.B field 5 "k optional bool" (not in reference ref.proto)
// Empty when the two are wire-identical.
std::vector<std::string> DiffFacts(const Facts& ours, const Facts& reference, const std::string& our_label,
                                   const std::string& reference_label);

struct LoadResult {
  google::protobuf::FileDescriptorProto file;  // with fully resolved type names
  std::string error;                          // parse/resolve errors with file:line:column
  bool ok() const { return error.empty(); }
};

// Parses `path` (as imported, relative to one of `include_dirs`) with a fresh descriptor pool, so
// files of different references never collide. `overlay` maps virtual paths to file contents that
// shadow the disk (inline fact tables, deliberately broken copies).
LoadResult LoadProto(const std::vector<std::string>& include_dirs, const std::string& path,
                     const std::map<std::string, std::string>& overlay = {});

// Turns Go structs with `protobuf:"..."` tags (hand-written proto types, e.g. ttrpc's types.go)
// into an equivalent .proto text in `package`. Unknown Go types are an error, as is a tag whose
// wire type does not fit the Go type. `imports` are emitted as import lines; `qualified_types`
// maps Go qualified types ("spb.Status") to proto full names ("google.rpc.Status").
struct GoStructConversion {
  std::string proto_text;
  std::string error;
};
GoStructConversion GoStructsToProto(const std::string& go_source, const std::string& package,
                                    const std::vector<std::string>& imports,
                                    const std::map<std::string, std::string>& qualified_types);

std::string JoinLines(const std::vector<std::string>& lines);

}  // namespace airlock::wire
