// `airlock run`: the five steps from a repository to a reviewable branch (see RunUsage()).
#pragma once

#include "cmd/airlock/run/exit_codes.h"
#include "cmd/airlock/run/run_args.h"

namespace airlock::run {

// Runs the whole flow; returns the exit code (exit_codes.h). Must be called before any other
// thread of the process starts (it takes over SIGINT, SIGTERM and SIGHUP).
RunExit RunTask(const RunArgs& args);

}  // namespace airlock::run
