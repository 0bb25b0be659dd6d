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

}  // namespace airlock::cli
