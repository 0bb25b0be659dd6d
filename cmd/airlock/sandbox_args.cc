#include "cmd/airlock/sandbox_args.h"

#include <cctype>
#include <cstdio>

#include "cmd/airlock/command.h"

namespace airlock::cli {

bool IsValidIdentifier(const std::string& text) {
  if (text.empty() || text.size() > 76) return false;
  bool after_separator = true;  // no leading separator
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      after_separator = false;
    } else if (c == '.' || c == '_' || c == '-') {
      if (after_separator) return false;
      after_separator = true;
    } else {
      return false;
    }
  }
  return !after_separator;
}

bool ParseSandboxArgs(const std::vector<std::string>& args, bool wants_id, bool allows_all, SandboxArgs* out,
                      std::string* problem) {
  SandboxArgs parsed;
  std::vector<std::string> operands;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      operands.push_back(arg);
    } else if (arg == "--") {
      flags_done = true;
    } else if (arg == "-h" || arg == "--help") {
      parsed.help = true;
    } else if (arg == "--json") {
      parsed.json = true;
    } else if (arg == "--all" && allows_all) {
      parsed.all = true;
    } else if (arg == "--namespace" || arg == "-n") {
      if (i + 1 >= args.size()) {
        *problem = arg + " needs a value";
        return false;
      }
      parsed.namespace_name = args[++i];
    } else if (arg.rfind("--namespace=", 0) == 0) {
      parsed.namespace_name = arg.substr(12);
    } else {
      *problem = "unknown flag " + arg;
      return false;
    }
  }
  if (parsed.help) {
    *out = parsed;
    return true;
  }
  if (!IsValidIdentifier(parsed.namespace_name)) {
    *problem = "invalid namespace \"" + parsed.namespace_name + "\"";
    return false;
  }
  if (wants_id) {
    if (operands.size() != 1) {
      *problem = operands.empty() ? "missing sandbox ID" : "expected one sandbox ID";
      return false;
    }
    parsed.id = operands[0];
    if (!IsValidIdentifier(parsed.id)) {
      *problem = "invalid sandbox ID \"" + parsed.id + "\"";
      return false;
    }
  } else if (!operands.empty()) {
    *problem = "unexpected argument \"" + operands[0] + "\"";
    return false;
  }
  *out = parsed;
  return true;
}

int UsageError(const std::string& command, const std::string& problem, const char* usage) {
  if (!problem.empty()) std::fprintf(stderr, "airlock %s: %s\n", command.c_str(), problem.c_str());
  std::fputs(usage, stderr);
  return kExitUsage;
}

}  // namespace airlock::cli
