// airlock run [flags] -- AGENT [ARGS...]: see cmd/airlock/run/run_args.cc for the usage.
#include <cstdio>

#include "cmd/airlock/command.h"
#include "cmd/airlock/run/run_args.h"
#include "cmd/airlock/run/run_flow.h"

namespace airlock::cli {

int RunRun(const std::vector<std::string>& args) {
  run::RunArgs parsed;
  std::string problem;
  if (!run::ParseRunArgs(args, &parsed, &problem)) {
    std::fprintf(stderr, "airlock run: %s\n(airlock run --help for the usage)\n", problem.c_str());
    return static_cast<int>(run::RunExit::kUsage);
  }
  if (parsed.help) {
    std::fputs(run::RunUsage().c_str(), stdout);
    return kExitOk;
  }
  return static_cast<int>(run::RunTask(parsed));
}

}  // namespace airlock::cli
