// The shim's command line, as containerd invokes it:
//   <shim> [-debug] -namespace NS -address ADDR -publish-binary BIN -id ID [-bundle DIR] start|delete
//   <shim> -v | -info
// Parsed like Go's flag package: "-x v", "--x v", "-x=v", booleans without a value, flags end at
// the first non-flag argument (the action).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace airlock::bootstrap {

struct Flags {
  bool debug = false;
  bool version = false;
  bool info = false;
  std::string ns;
  std::string id;
  std::string socket;
  std::string bundle;
  std::string address;          // containerd's gRPC address
  std::string publish_binary = "containerd";
  std::string action;           // "start", "delete", or "" (serve)
};

absl::StatusOr<Flags> ParseFlags(const std::vector<std::string>& args);

}  // namespace airlock::bootstrap
