// airlock: the command line for Airlock sandboxes. `airlock COMMAND ...`; see Usage().
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cmd/airlock/command.h"

namespace airlock::cli {
namespace {

constexpr Command kCommands[] = {
    {"run", "one task in a fresh sandbox: setup, seal, agent, check -> review branch (airlock run --help)", RunRun},
    {"ls", "list the airlock sandboxes of a namespace (--all: every namespace)", RunLs},
    {"cache", "the setup cache of airlock run: ls, show KEY, rm KEY, prune", RunCache},
    {"status", "phase, seal, verification and policy of a sandbox", RunStatus},
    {"seal", "seal a sandbox now (one-way: network gone, rootfs read-only)", RunSeal},
    {"verify", "run the probe battery inside a sandbox: does the airlock hold?", RunVerify},
    {"audit", "the audit log of a sandbox", RunAudit},
    {"policy", "check and explain policy files (airlock policy --help)", RunPolicy},
};

void Usage(std::FILE* out) {
  std::fprintf(out, "usage: airlock COMMAND [ARGS...]\n\ncommands:\n");
  for (const Command& command : kCommands) std::fprintf(out, "  %-10s %s\n", command.name, command.summary);
  std::fprintf(out, "\n  airlock --help | --version\n");
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    Usage(stderr);
    return kExitUsage;
  }
  const std::string name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    Usage(stdout);
    return kExitOk;
  }
  if (name == "-v" || name == "--version" || name == "version") {
    std::printf("airlock %s\n", AIRLOCK_VERSION);
    return kExitOk;
  }
  for (const Command& command : kCommands) {
    if (name == command.name) return command.run(std::vector<std::string>(argv + 2, argv + argc));
  }
  std::fprintf(stderr, "airlock: unknown %s \"%s\"\n", name.rfind('-', 0) == 0 ? "flag" : "command", name.c_str());
  Usage(stderr);
  return kExitUsage;
}

}  // namespace
}  // namespace airlock::cli

int main(int argc, char** argv) { return airlock::cli::Main(argc, argv); }
