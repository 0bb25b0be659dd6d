// Command line shared by the sandbox commands (status, seal, audit, verify, ls):
//   [--namespace NS | -n NS] [--json] [--all (ls)] [ID]
#pragma once

#include <string>
#include <vector>

namespace airlock::cli {

struct SandboxArgs {
  std::string namespace_name = "default";
  bool json = false;
  bool all = false;   // ls: every namespace
  bool help = false;  // -h/--help: print the usage and succeed
  std::string id;
};

// Parses `args` for command `command`. `wants_id`: exactly one ID operand (else none);
// `allows_all`: --all is accepted. On failure returns false with a one-line problem.
bool ParseSandboxArgs(const std::vector<std::string>& args, bool wants_id, bool allows_all, SandboxArgs* out,
                      std::string* problem);

// containerd's identifier rule (namespaces and container IDs): letters and digits, joined by
// single '.', '_' or '-', at most 76 characters. Anything else cannot name a record file.
bool IsValidIdentifier(const std::string& text);

// Prints "airlock COMMAND: problem" (when given) and `usage` to stderr; returns kExitUsage.
int UsageError(const std::string& command, const std::string& problem, const char* usage);

}  // namespace airlock::cli
