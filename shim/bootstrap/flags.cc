#include "shim/bootstrap/flags.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace airlock::bootstrap {

absl::StatusOr<Flags> ParseFlags(const std::vector<std::string>& args) {
  Flags flags;
  size_t i = 1;  // args[0] is the program
  for (; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // the action
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    bool* boolean = nullptr;
    if (name == "debug") boolean = &flags.debug;
    if (name == "v") boolean = &flags.version;
    if (name == "info") boolean = &flags.info;
    if (boolean != nullptr) {
      if (has_value) {
        if (value == "true" || value == "1") {
          *boolean = true;
        } else if (value == "false" || value == "0") {
          *boolean = false;
        } else {
          return absl::InvalidArgumentError(absl::StrCat("invalid boolean value \"", value, "\" for -", name));
        }
      } else {
        *boolean = true;
      }
      continue;
    }
    std::string* target = nullptr;
    if (name == "namespace") target = &flags.ns;
    if (name == "id") target = &flags.id;
    if (name == "socket") target = &flags.socket;
    if (name == "bundle") target = &flags.bundle;
    if (name == "address") target = &flags.address;
    if (name == "publish-binary") target = &flags.publish_binary;
    if (target == nullptr) return absl::InvalidArgumentError(absl::StrCat("flag provided but not defined: -", name));
    if (!has_value) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat("flag needs an argument: -", name));
      value = args[++i];
    }
    *target = value;
  }
  if (i < args.size()) flags.action = args[i];
  return flags;
}

}  // namespace airlock::bootstrap
