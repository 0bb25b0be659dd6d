// The `airlock` CLI's subcommands. Each lives in its own file and is listed in main.cc's table.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace airlock::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and found a problem (bad policy, missing file)
inline constexpr int kExitUsage = 2;    // unknown subcommand or flag, missing argument

struct Command {
  const char* name;
  const char* summary;  // one line for `airlock --help`
  // `args` are the words after the command name.
  int (*run)(const std::vector<std::string>& args);
};

// airlock policy check|explain
int RunPolicy(const std::vector<std::string>& args);

// The sandbox commands: they find the sandbox's shim through /run/airlock/tasks/<ns>/<id> and call
// airlock.v1.Control on it.
int RunStatus(const std::vector<std::string>& args);  // airlock status ID
int RunSeal(const std::vector<std::string>& args);    // airlock seal ID
int RunAudit(const std::vector<std::string>& args);   // airlock audit ID
int RunVerify(const std::vector<std::string>& args);  // airlock verify ID
int RunLs(const std::vector<std::string>& args);      // airlock ls [--all]

// airlock run: repository -> sandbox (setup, seal, agent, check) -> review branch and patch.
int RunRun(const std::vector<std::string>& args);

// airlock cache ls|show|rm|prune: the setup cache's entries.
int RunCache(const std::vector<std::string>& args);

}  // namespace airlock::cli
