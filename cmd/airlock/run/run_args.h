// The command line of `airlock run` (pure parsing; nothing is looked up here).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace airlock::run {

struct RunArgs {
  std::string repo;
  std::string image;
  std::string setup;                 // --setup CMD: run with sh -c (annotation airlock.dev/setup)
  std::string check;                 // --check CMD: run with sh -c in the sealed sandbox after the agent
  std::string maintenance;           // --maintenance CMD: on a setup-cache hit, run with sh -c instead of setup
  std::vector<std::string> secrets;  // --secret NAME (repeatable): NAME=value from our environment
  std::string policy;                // --policy FILE
  std::string internet;              // --internet SPEC: the agent's proxy allowlist ("" = no internet)
  std::string address;               // --address SOCK ("" = default)
  std::string name_space;            // --namespace NS ("" = default)
  std::string snapshotter;           // --snapshotter NAME ("" = default)
  std::string work_dir;              // --work-dir DIR ("" = default)
  std::string id;                    // --id ID ("" = generated)
  // Change-set limits; absent: the host config's run: section (policy::RunLimits). Each > 0.
  std::optional<uint64_t> max_files;       // --max-files N
  std::optional<uint64_t> max_file_size;   // --max-file-size SIZE (bytes, or 64Mi, 2Gi, ...)
  std::optional<uint64_t> max_total_size;  // --max-total-size SIZE
  std::optional<absl::Duration> timeout;  // --timeout D: the agent's and the check's deadline each
  bool allow_dirty = false;          // --allow-dirty
  bool no_cache = false;             // --no-cache: the policy's setup cache is neither read nor written
  bool json = false;                 // --json
  bool help = false;                 // -h / --help
  std::vector<std::string> agent;    // after --
};

// false with `problem` set on a usage error (exit 2).
bool ParseRunArgs(const std::vector<std::string>& args, RunArgs* out, std::string* problem);

// A shell variable name: [A-Za-z_][A-Za-z0-9_]*.
bool IsEnvName(const std::string& name);

// `airlock run --help`.
std::string RunUsage();

}  // namespace airlock::run
