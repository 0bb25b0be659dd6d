// Wire compatibility of every file in proto/ with the definitions containerd, ttrpc and
// containerd/cgroups publish. References are parsed from the Go sources Debian installs under
// /usr/share/gocode/src (containerd 1.6, cgroups 1.0, ttrpc 1.1, gogo googleapis). Where a
// newer upstream (containerd 2.x, cgroups v3) added fields, a fact table below, written from that
// upstream's .proto, is merged into the Debian reference: a merge conflict fails the test, so the
// table can only add, never contradict. Ours must then equal the merged reference exactly.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "test/wire/descriptor_facts.h"

namespace airlock::wire {
namespace {

const std::string kGocode = AIRLOCK_GOCODE_DIR;  // /usr/share/gocode/src
const std::string kOurProtoDir = std::string(AIRLOCK_SOURCE_DIR) + "/proto";
const std::string kSystemInclude = "/usr/include";

// Include paths for reference files: github.com/... imports, gogoproto/gogo.proto,
// google/rpc/status.proto, google/protobuf/*.proto (system copy first).
std::vector<std::string> ReferenceIncludes() {
  return {kSystemInclude, kGocode, kGocode + "/github.com/gogo/protobuf", kGocode + "/github.com/gogo/googleapis"};
}
std::vector<std::string> OurIncludes() { return {kOurProtoDir, kSystemInclude}; }

// --- Fact tables of newer upstreams (only what they add over the Debian reference matters,
// but each is the whole upstream file so the merge also cross-checks the shared part). ---

// containerd 2.x api/types/runtimeoptions/v1/api.proto (v2.0.0 .. v2.3.x): adds config_body.
constexpr const char* kRuntimeOptions2x = R"(
syntax = "proto3";
package runtimeoptions.v1;
message Options {
  string type_url = 1;
  string config_path = 2;
  bytes config_body = 3;
}
)";

// containerd 2.x api/types/introspection.proto: what `shim -info` prints (RuntimeInfo), as its
// runtime v2 README documents it. Debian's 1.6 has no such message.
constexpr const char* kRuntimeInfo2x = R"(
syntax = "proto3";
package containerd.types;
import "google/protobuf/any.proto";
message RuntimeVersion {
  string version = 1;
  string revision = 2;
}
message RuntimeInfo {
  string name = 1;
  RuntimeVersion version = 2;
  google.protobuf.Any options = 3;
  google.protobuf.Any features = 4;
  map<string, string> annotations = 5;
}
)";

// containerd 2.x api/types/runc/options/oci.proto (v2.0.0 .. v2.3.x): field 8 (criu_path) is
// reserved; adds task_api_address, task_api_version, CheckpointOptions.parent_path.
constexpr const char* kRuncOptions2x = R"(
syntax = "proto3";
package containerd.runc.v1;
message Options {
  bool no_pivot_root = 1;
  bool no_new_keyring = 2;
  string shim_cgroup = 3;
  uint32 io_uid = 4;
  uint32 io_gid = 5;
  string binary_name = 6;
  string root = 7;
  reserved 8;
  bool systemd_cgroup = 9;
  string criu_image_path = 10;
  string criu_work_path = 11;
  string task_api_address = 12;
  uint32 task_api_version = 13;
}
message CheckpointOptions {
  bool exit = 1;
  bool open_tcp = 2;
  bool external_unix_sockets = 3;
  bool terminal = 4;
  bool file_locks = 5;
  repeated string empty_namespaces = 6;
  string cgroups_mode = 7;
  string image_path = 8;
  string work_path = 9;
  string parent_path = 10;
}
message ProcessDetails {
  string exec_id = 1;
}
)";

// github.com/containerd/cgroups v3 (v3.1.x, commit 360fd8b6) cgroup2/stats/metrics.proto, which
// containerd 2.x decodes: adds PSI, burst, peaks, workingset_*_anon/file, oom_group_kill,
// hugetlb failcnt, network. (Its cgroup1/stats/metrics.proto equals the Debian v1 file.)
constexpr const char* kCgroup2StatsV3 = R"(
syntax = "proto3";
package io.containerd.cgroups.v2;
message Metrics {
  PidsStat pids = 1;
  CPUStat cpu = 2;
  MemoryStat memory = 4;
  RdmaStat rdma = 5;
  IOStat io = 6;
  repeated HugeTlbStat hugetlb = 7;
  MemoryEvents memory_events = 8;
  repeated NetworkStat network = 9;
}
message PSIData { double avg10 = 1; double avg60 = 2; double avg300 = 3; uint64 total = 4; }
message PSIStats { PSIData some = 1; PSIData full = 2; }
message PidsStat { uint64 current = 1; uint64 limit = 2; }
message CPUStat {
  uint64 usage_usec = 1; uint64 user_usec = 2; uint64 system_usec = 3; uint64 nr_periods = 4;
  uint64 nr_throttled = 5; uint64 throttled_usec = 6; PSIStats psi = 7; uint64 nr_bursts = 8;
  uint64 burst_usec = 9;
}
message MemoryStat {
  uint64 anon = 1; uint64 file = 2; uint64 kernel_stack = 3; uint64 slab = 4; uint64 sock = 5;
  uint64 shmem = 6; uint64 file_mapped = 7; uint64 file_dirty = 8; uint64 file_writeback = 9;
  uint64 anon_thp = 10; uint64 inactive_anon = 11; uint64 active_anon = 12; uint64 inactive_file = 13;
  uint64 active_file = 14; uint64 unevictable = 15; uint64 slab_reclaimable = 16;
  uint64 slab_unreclaimable = 17; uint64 pgfault = 18; uint64 pgmajfault = 19;
  uint64 workingset_refault = 20; uint64 workingset_activate = 21; uint64 workingset_nodereclaim = 22;
  uint64 pgrefill = 23; uint64 pgscan = 24; uint64 pgsteal = 25; uint64 pgactivate = 26;
  uint64 pgdeactivate = 27; uint64 pglazyfree = 28; uint64 pglazyfreed = 29; uint64 thp_fault_alloc = 30;
  uint64 thp_collapse_alloc = 31; uint64 usage = 32; uint64 usage_limit = 33; uint64 swap_usage = 34;
  uint64 swap_limit = 35; uint64 max_usage = 36; uint64 swap_max_usage = 37; PSIStats psi = 38;
  uint64 workingset_refault_anon = 39; uint64 workingset_refault_file = 40;
  uint64 workingset_activate_anon = 41; uint64 workingset_activate_file = 42;
}
message MemoryEvents {
  uint64 low = 1; uint64 high = 2; uint64 max = 3; uint64 oom = 4; uint64 oom_kill = 5; uint64 oom_group_kill = 6;
}
message RdmaStat { repeated RdmaEntry current = 1; repeated RdmaEntry limit = 2; }
message RdmaEntry { string device = 1; uint32 hca_handles = 2; uint32 hca_objects = 3; }
message IOStat { repeated IOEntry usage = 1; PSIStats psi = 2; }
message IOEntry { uint64 major = 1; uint64 minor = 2; uint64 rbytes = 3; uint64 wbytes = 4; uint64 rios = 5; uint64 wios = 6; }
message HugeTlbStat { uint64 current = 1; uint64 max = 2; string pagesize = 3; uint64 failcnt = 4; }
message NetworkStat {
  string name = 1; uint64 rx_bytes = 2; uint64 rx_packets = 3; uint64 rx_errors = 4; uint64 rx_dropped = 5;
  uint64 tx_bytes = 6; uint64 tx_packets = 7; uint64 tx_errors = 8; uint64 tx_dropped = 9;
}
)";

// One reference source of an our file.
struct Reference {
  enum class Kind { kDiskProto, kInlineProto, kGoStructs } kind;
  std::string path;     // disk: relative to kGocode (and the other include dirs); go: relative to kGocode
  std::string text;     // inline .proto text
  std::string package;  // go: proto package to emit
};

struct Check {
  std::string ours;  // relative to proto/
  std::vector<Reference> references;
  NameMap rename;  // applied to the references
  std::string note;
};

Reference Disk(std::string path) { return {Reference::Kind::kDiskProto, std::move(path), "", ""}; }
Reference Inline(std::string label, const char* text) { return {Reference::Kind::kInlineProto, std::move(label), text, ""}; }
Reference GoStructs(std::string path, std::string package) {
  return {Reference::Kind::kGoStructs, std::move(path), "", std::move(package)};
}

const std::string kContainerd = "github.com/containerd/containerd/";

std::vector<Check> Checks() {
  return {
      {"containerd/task/v2/shim.proto", {Disk(kContainerd + "runtime/v2/task/shim.proto")}, {}, ""},
      {"containerd/task/v3/shim.proto",
       {Disk(kContainerd + "runtime/v2/task/shim.proto")},
       {{"containerd.task.v2", "containerd.task.v3"}},
       // containerd 2.x api/runtime/task/v3/shim.proto is its api/runtime/task/v2/shim.proto with
       // package containerd.task.v3 (identical at v2.0.0, v2.1.0, v2.2.0, v2.3.0 and main of
       // 2026-08), and 2.x task v2 equals 1.6 task v2 but for gogo options.
       "containerd 2.x task v3 == task v2 with package containerd.task.v3"},
      {"containerd/types/mount.proto", {Disk(kContainerd + "api/types/mount.proto")}, {}, ""},
      {"containerd/types/task/task.proto", {Disk(kContainerd + "api/types/task/task.proto")}, {}, ""},
      {"containerd/types/metrics.proto", {Disk(kContainerd + "api/types/metrics.proto")}, {}, ""},
      {"containerd/types/introspection.proto", {Inline("containerd-2.x/introspection.proto", kRuntimeInfo2x)}, {},
       "containerd 2.x RuntimeInfo for shim -info"},
      {"containerd/events/task.proto", {Disk(kContainerd + "api/events/task.proto")}, {}, ""},
      {"containerd/services/ttrpc/events/v1/events.proto",
       {Disk(kContainerd + "api/services/ttrpc/events/v1/events.proto")}, {}, ""},
      {"containerd/services/events/v1/events.proto",
       {Disk(kContainerd + "api/services/events/v1/events.proto")}, {}, ""},
      {"containerd/runtimeoptions/v1/api.proto",
       {Disk(kContainerd + "pkg/runtimeoptions/v1/api.proto"), Inline("containerd-2.x/runtimeoptions.proto", kRuntimeOptions2x)},
       {}, ""},
      {"containerd/runc/options/oci.proto",
       {Disk(kContainerd + "runtime/v2/runc/options/oci.proto"), Inline("containerd-2.x/runc-options.proto", kRuncOptions2x)},
       {}, ""},
      {"containerd/linux/runctypes/runc.proto", {Disk(kContainerd + "runtime/linux/runctypes/runc.proto")}, {},
       "the old linux runtime's CreateOptions, which containerd 1.6's client sends other runtimes"},
      {"containerd/cgroups/v1/metrics.proto", {Disk("github.com/containerd/cgroups/stats/v1/metrics.proto")}, {}, ""},
      {"containerd/cgroups/v2/metrics.proto",
       {Disk("github.com/containerd/cgroups/v2/stats/metrics.proto"), Inline("cgroups-v3/cgroup2-metrics.proto", kCgroup2StatsV3)},
       {}, ""},
      // The containerd client of `airlock run` (cmd/airlock/containerd/).
      {"containerd/types/descriptor.proto", {Disk(kContainerd + "api/types/descriptor.proto")}, {}, ""},
      {"containerd/services/version/v1/version.proto", {Disk(kContainerd + "api/services/version/v1/version.proto")}, {}, ""},
      {"containerd/services/containers/v1/containers.proto",
       {Disk(kContainerd + "api/services/containers/v1/containers.proto")}, {}, ""},
      {"containerd/services/images/v1/images.proto", {Disk(kContainerd + "api/services/images/v1/images.proto")}, {}, ""},
      {"containerd/services/content/v1/content.proto", {Disk(kContainerd + "api/services/content/v1/content.proto")}, {}, ""},
      {"containerd/services/snapshots/v1/snapshots.proto",
       {Disk(kContainerd + "api/services/snapshots/v1/snapshots.proto")}, {}, ""},
      {"containerd/services/leases/v1/leases.proto", {Disk(kContainerd + "api/services/leases/v1/leases.proto")}, {}, ""},
      {"containerd/services/tasks/v1/tasks.proto", {Disk(kContainerd + "api/services/tasks/v1/tasks.proto")}, {}, ""},
      {"ttrpc/ttrpc.proto", {GoStructs("github.com/containerd/ttrpc/types.go", "ttrpc")}, {}, ""},
      {"google/rpc/status.proto", {Disk("google/rpc/status.proto")}, {}, "gogo googleapis copy"},
  };
}

Check CheckFor(const std::string& ours) {
  for (const Check& check : Checks()) {
    if (check.ours == ours) return check;
  }
  FAIL("no check for " << ours);
  return {};
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

struct ReferenceFacts {
  Facts facts;
  std::string label;
  std::vector<std::string> errors;
};

ReferenceFacts LoadReferences(const Check& check) {
  ReferenceFacts out;
  for (const auto& reference : check.references) {
    LoadResult loaded;
    std::string label = reference.path;
    switch (reference.kind) {
      case Reference::Kind::kDiskProto:
        loaded = LoadProto(ReferenceIncludes(), reference.path);
        break;
      case Reference::Kind::kInlineProto:
        loaded = LoadProto(ReferenceIncludes(), reference.path, {{reference.path, reference.text}});
        label = "fact table " + reference.path;
        break;
      case Reference::Kind::kGoStructs: {
        std::string source = ReadFile(kGocode + "/" + reference.path);
        GoStructConversion converted = GoStructsToProto(source, reference.package, {"google/rpc/status.proto"},
                                                        {{"spb.Status", "google.rpc.Status"}});
        if (!converted.error.empty()) {
          out.errors.push_back(reference.path + ": " + converted.error);
          continue;
        }
        std::string virtual_path = reference.path + ".proto";
        loaded = LoadProto(ReferenceIncludes(), virtual_path, {{virtual_path, converted.proto_text}});
        label = reference.path + " (struct tags)";
        break;
      }
    }
    if (!loaded.ok()) {
      out.errors.push_back(loaded.error);
      continue;
    }
    Facts facts = ExtractFacts(loaded.file, check.rename);
    std::vector<std::string> conflicts = MergeFacts(out.facts, facts, label);
    out.errors.insert(out.errors.end(), conflicts.begin(), conflicts.end());
    out.label += (out.label.empty() ? "" : " + ") + label;
  }
  return out;
}

std::vector<std::string> CheckFile(const Check& check) {
  ReferenceFacts reference = LoadReferences(check);
  if (!reference.errors.empty()) return reference.errors;
  LoadResult ours = LoadProto(OurIncludes(), check.ours);
  if (!ours.ok()) return {ours.error};
  return DiffFacts(ExtractFacts(ours.file), reference.facts, "proto/" + check.ours, reference.label);
}

bool Contains(const std::vector<std::string>& lines, const std::vector<std::string>& needles) {
  for (const auto& line : lines) {
    bool all = true;
    for (const auto& needle : needles) all = all && line.find(needle) != std::string::npos;
    if (all) return true;
  }
  return false;
}

TEST_CASE("every file in proto/ is wire-identical to its published definition", "[wire]") {
  for (const Check& check : Checks()) {
    std::vector<std::string> diffs = CheckFile(check);
    INFO("proto/" << check.ours << (check.note.empty() ? "" : " (" + check.note + ")") << ":\n" << JoinLines(diffs));
    CHECK(diffs.empty());
  }
}

TEST_CASE("every file in proto/ has a reference", "[wire]") {
  std::set<std::string> checked;
  for (const Check& check : Checks()) checked.insert(check.ours);
  // Our own API: no published definition to match.
  checked.insert("airlock/v1/control.proto");
  std::vector<std::string> unchecked;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(kOurProtoDir)) {
    if (entry.path().extension() != ".proto") continue;
    std::string relative = std::filesystem::relative(entry.path(), kOurProtoDir).string();
    if (!checked.count(relative)) unchecked.push_back("proto/" + relative + " has no reference in proto_wire_test");
  }
  INFO(JoinLines(unchecked));
  CHECK(unchecked.empty());
}

TEST_CASE("the references are what we think they are", "[wire]") {
  // Guards against comparing two empty sets: each reference yields the facts we rely on.
  Check v3 = CheckFor("containerd/task/v3/shim.proto");
  ReferenceFacts facts = LoadReferences(v3);
  REQUIRE(facts.errors.empty());
  CHECK(facts.facts.at("package") == "containerd.task.v3");
  CHECK(facts.facts.at("service containerd.task.v3.Task method Create") ==
        "containerd.task.v3.CreateTaskRequest -> containerd.task.v3.CreateTaskResponse");
  CHECK(facts.facts.at("message containerd.task.v3.UpdateTaskRequest field 3") == "annotations map<string, string>");
  CHECK(facts.facts.at("message containerd.task.v3.PidsResponse field 1") ==
        "processes repeated message containerd.v1.types.ProcessInfo");

  ReferenceFacts ttrpc = LoadReferences(CheckFor("ttrpc/ttrpc.proto"));
  REQUIRE(ttrpc.errors.empty());
  CHECK(ttrpc.facts.at("message ttrpc.Request field 4") == "timeout_nano optional int64");
  CHECK(ttrpc.facts.at("message ttrpc.Response field 1") == "status optional message google.rpc.Status");

  ReferenceFacts cgroups = LoadReferences(CheckFor("containerd/cgroups/v2/metrics.proto"));
  REQUIRE(cgroups.errors.empty());
  CHECK(cgroups.facts.at("message io.containerd.cgroups.v2.MemoryEvents field 6") == "oom_group_kill optional uint64");
  CHECK(cgroups.facts.at("message io.containerd.cgroups.v2.Metrics field 7") ==
        "hugetlb repeated message io.containerd.cgroups.v2.HugeTlbStat");
}

// --- The comparator must be able to fail. ---

TEST_CASE("the comparator reports mutated descriptors with file, message and field", "[wire][selftest]") {
  const Check check = CheckFor("containerd/task/v2/shim.proto");
  ReferenceFacts reference = LoadReferences(check);
  REQUIRE(reference.errors.empty());
  LoadResult ours = LoadProto(OurIncludes(), check.ours);
  REQUIRE(ours.ok());
  REQUIRE(DiffFacts(ExtractFacts(ours.file), reference.facts, "proto/" + check.ours, reference.label).empty());

  auto diff_after = [&](auto mutate) {
    google::protobuf::FileDescriptorProto copy = ours.file;
    mutate(copy);
    return DiffFacts(ExtractFacts(copy), reference.facts, "proto/" + check.ours, reference.label);
  };
  auto message = [](google::protobuf::FileDescriptorProto& file, const std::string& name) {
    for (auto& m : *file.mutable_message_type()) {
      if (m.name() == name) return &m;
    }
    FAIL("no message " << name);
    return static_cast<google::protobuf::DescriptorProto*>(nullptr);
  };

  SECTION("renumbered field") {
    auto diffs = diff_after([&](auto& file) { message(file, "StateResponse")->mutable_field(9)->set_number(12); });
    INFO(JoinLines(diffs));
    CHECK(Contains(diffs, {"proto/containerd/task/v2/shim.proto", "missing message containerd.task.v2.StateResponse field 10",
                           "exited_at"}));
    CHECK(Contains(diffs, {"extra message containerd.task.v2.StateResponse field 12"}));
  }
  SECTION("changed scalar type") {
    auto diffs = diff_after([&](auto& file) {
      message(file, "KillRequest")->mutable_field(2)->set_type(google::protobuf::FieldDescriptorProto::TYPE_INT32);
    });
    INFO(JoinLines(diffs));
    CHECK(Contains(diffs, {"proto/containerd/task/v2/shim.proto", "message containerd.task.v2.KillRequest field 3",
                           "ours \"signal optional int32\" != reference \"signal optional uint32\""}));
  }
  SECTION("changed message type of a field") {
    auto diffs = diff_after(
        [&](auto& file) { message(file, "WaitResponse")->mutable_field(1)->set_type_name(".google.protobuf.Any"); });
    INFO(JoinLines(diffs));
    CHECK(Contains(diffs, {"containerd.task.v2.WaitResponse field 2", "google.protobuf.Any", "google.protobuf.Timestamp"}));
  }
  SECTION("repeated instead of singular") {
    auto diffs = diff_after([&](auto& file) {
      message(file, "CreateTaskRequest")->mutable_field(0)->set_label(google::protobuf::FieldDescriptorProto::LABEL_REPEATED);
    });
    INFO(JoinLines(diffs));
    CHECK(Contains(diffs, {"containerd.task.v2.CreateTaskRequest field 1", "id repeated string"}));
  }
  SECTION("a map that is no longer a map") {
    auto diffs = diff_after([&](auto& file) {
      message(file, "UpdateTaskRequest")->mutable_nested_type(0)->mutable_options()->set_map_entry(false);
    });
    INFO(JoinLines(diffs));
    CHECK(Contains(diffs, {"containerd.task.v2.UpdateTaskRequest field 3", "map<string, string>"}));
    CHECK(Contains(diffs, {"extra message containerd.task.v2.UpdateTaskRequest.AnnotationsEntry"}));
  }
  SECTION("missing and renamed messages") {
    auto diffs = diff_after([&](auto& file) {
      auto* messages = file.mutable_message_type();
      for (int i = 0; i < messages->size(); ++i) {
        if (messages->Get(i).name() == "ExecProcessResponse") {
          messages->DeleteSubrange(i, 1);
          break;
        }
      }
      message(file, "PauseRequest")->set_name("PauseTaskRequest");
    });
    INFO(JoinLines(diffs));
    CHECK(Contains(diffs, {"missing message containerd.task.v2.ExecProcessResponse"}));
    CHECK(Contains(diffs, {"missing message containerd.task.v2.PauseRequest field 1"}));
    CHECK(Contains(diffs, {"extra message containerd.task.v2.PauseTaskRequest"}));
  }
  SECTION("service methods") {
    auto diffs = diff_after([&](auto& file) {
      auto* methods = file.mutable_service(0)->mutable_method();
      methods->DeleteSubrange(0, 1);  // State
      methods->Mutable(0)->set_output_type(".google.protobuf.Empty");  // Create
      methods->Mutable(1)->set_server_streaming(true);                  // Start
    });
    INFO(JoinLines(diffs));
    CHECK(Contains(diffs, {"missing service containerd.task.v2.Task method State"}));
    CHECK(Contains(diffs, {"service containerd.task.v2.Task method Create", "google.protobuf.Empty"}));
    CHECK(Contains(diffs, {"service containerd.task.v2.Task method Start", "stream containerd.task.v2.StartResponse"}));
  }
  SECTION("package") {
    auto diffs = diff_after([&](auto& file) { file.set_package("containerd.task.v9"); });
    INFO(JoinLines(diffs));
    CHECK(Contains(diffs, {"package: ours \"containerd.task.v9\" != reference \"containerd.task.v2\""}));
  }
}

TEST_CASE("the comparator reports an inline broken .proto", "[wire][selftest]") {
  const Check check{"containerd/types/task/task.proto", {Disk(kContainerd + "api/types/task/task.proto")}, {}, ""};
  ReferenceFacts reference = LoadReferences(check);
  REQUIRE(reference.errors.empty());

  SECTION("wrong field number and enum value") {
    std::string broken = ReadFile(kOurProtoDir + "/containerd/types/task/task.proto");
    auto replace = [&](const std::string& from, const std::string& to) {
      auto at = broken.find(from);
      REQUIRE(at != std::string::npos);
      broken.replace(at, from.size(), to);
    };
    replace("uint32 exit_status = 9;", "uint32 exit_status = 11;");
    replace("PAUSING = 5;", "PAUSING = 6;");
    LoadResult ours = LoadProto(OurIncludes(), check.ours, {{check.ours, broken}});
    REQUIRE(ours.ok());
    auto diffs = DiffFacts(ExtractFacts(ours.file), reference.facts, "proto/" + check.ours, reference.label);
    INFO(JoinLines(diffs));
    CHECK(Contains(diffs, {"proto/containerd/types/task/task.proto", "missing message containerd.v1.types.Process field 9",
                           "exit_status optional uint32"}));
    CHECK(Contains(diffs, {"extra message containerd.v1.types.Process field 11"}));
    CHECK(Contains(diffs, {"missing enum containerd.v1.types.Status value 5", "PAUSING"}));
  }
  SECTION("a file that does not parse names file and line") {
    std::string broken = "syntax = \"proto3\";\npackage containerd.v1.types;\nmessage Process {\n  uint32 pid = ;\n}\n";
    LoadResult ours = LoadProto(OurIncludes(), check.ours, {{check.ours, broken}});
    REQUIRE_FALSE(ours.ok());
    INFO(ours.error);
    CHECK(ours.error.find("containerd/types/task/task.proto:4:") != std::string::npos);
  }
}

TEST_CASE("a fact table that contradicts the on-disk reference is a conflict", "[wire][selftest]") {
  const char* wrong = "syntax = \"proto3\";\npackage runtimeoptions.v1;\nmessage Options { bytes config_path = 2; }\n";
  Check check{"containerd/runtimeoptions/v1/api.proto",
              {Disk(kContainerd + "pkg/runtimeoptions/v1/api.proto"), Inline("wrong.proto", wrong)},
              {},
              ""};
  ReferenceFacts reference = LoadReferences(check);
  INFO(JoinLines(reference.errors));
  CHECK(Contains(reference.errors, {"fact table wrong.proto", "message runtimeoptions.v1.Options field 2",
                                    "config_path optional bytes", "config_path optional string"}));
}

TEST_CASE("the Go struct tag reader notices a changed tag", "[wire][selftest]") {
  std::string source = ReadFile(kGocode + "/github.com/containerd/ttrpc/types.go");
  const std::string from = R"(protobuf:"varint,4,opt,name=timeout_nano,proto3")";
  auto at = source.find(from);
  REQUIRE(at != std::string::npos);
  source.replace(at, from.size(), R"(protobuf:"varint,6,opt,name=timeout_nano,proto3")");
  GoStructConversion converted =
      GoStructsToProto(source, "ttrpc", {"google/rpc/status.proto"}, {{"spb.Status", "google.rpc.Status"}});
  REQUIRE(converted.error.empty());
  LoadResult reference = LoadProto(ReferenceIncludes(), "types.go.proto", {{"types.go.proto", converted.proto_text}});
  REQUIRE(reference.ok());
  LoadResult ours = LoadProto(OurIncludes(), "ttrpc/ttrpc.proto");
  REQUIRE(ours.ok());
  auto diffs = DiffFacts(ExtractFacts(ours.file), ExtractFacts(reference.file), "proto/ttrpc/ttrpc.proto", "types.go");
  INFO(JoinLines(diffs));
  CHECK(Contains(diffs, {"proto/ttrpc/ttrpc.proto", "extra message ttrpc.Request field 4", "timeout_nano"}));
  CHECK(Contains(diffs, {"missing message ttrpc.Request field 6"}));

  // A wire type that does not fit the Go type is refused outright.
  std::string bad = R"(type X struct { A string `protobuf:"varint,1,opt,name=a,proto3"` })";
  CHECK_FALSE(GoStructsToProto(bad, "p", {}, {}).error.empty());
}

}  // namespace
}  // namespace airlock::wire
