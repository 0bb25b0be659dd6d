#include "cmd/airlock/run/exit_codes.h"

#include "absl/strings/str_format.h"

namespace airlock::run {

const std::vector<RunExitInfo>& RunExitTable() {
  static const std::vector<RunExitInfo> table = {
      {RunExit::kOk, "ok", "done: the branch and patch are ready (or the agent changed nothing)"},
      {RunExit::kInternal, "internal", "an unexpected error in airlock itself"},
      {RunExit::kUsage, "usage", "unknown flag or missing argument"},
      {RunExit::kBadInput, "input", "bad input: not a git repository, uncommitted changes, branch exists, bad policy, secret not set"},
      {RunExit::kContainerd, "containerd", "containerd is not running, or the image is missing or not unpacked"},
      {RunExit::kSandbox, "sandbox", "the container could not be created or started"},
      {RunExit::kSetup, "setup", "the setup command failed or did not finish in time (the agent never ran)"},
      {RunExit::kSeal, "seal", "the seal failed or could not be verified (the agent never ran)"},
      {RunExit::kAgent, "agent", "the agent command failed (patch kept for inspection, no branch)"},
      {RunExit::kCheck, "check", "the --check command failed (branch and patch are still made)"},
      {RunExit::kChanges, "changes", "collecting the change set or writing the branch or patch failed"},
      {RunExit::kSecretLeak, "secret-leak", "a secret's value is in the change set: branch and patch blocked"},
      {RunExit::kCleanup, "cleanup", "the sandbox was not destroyed completely: something is left (listed)"},
      {RunExit::kLimit, "limit",
       "the change set is over a limit (files, bytes of one file, bytes in all): nothing was written; raise with "
       "--max-files / --max-file-size / --max-total-size"},
      {RunExit::kRefused, "refused",
       "the change set holds what airlock never carries out (a .git entry, a changed submodule path): nothing was "
       "written"},
      {RunExit::kTimeout, "timeout",
       "the agent or the check did not end before its deadline (--timeout, or the policy's execution.timeout): its "
       "sandbox was stopped (the agent's patch is kept for inspection, no branch)"},
      {RunExit::kInterrupted, "interrupted", "interrupted (Ctrl-C, SIGTERM, SIGHUP): destroyed, nothing kept"},
  };
  return table;
}

const RunExitInfo& InfoOf(RunExit code) {
  for (const RunExitInfo& info : RunExitTable()) {
    if (info.code == code) return info;
  }
  return RunExitTable()[1];
}

std::string RunExitHelp() {
  std::string out;
  for (const RunExitInfo& info : RunExitTable()) {
    absl::StrAppendFormat(&out, "  %3d  %-12s %s\n", static_cast<int>(info.code), info.name, info.meaning);
  }
  return out;
}

RunExit CombineExit(RunExit so_far, RunExit next) {
  if (next == RunExit::kCleanup) return next;
  return so_far == RunExit::kOk ? next : so_far;
}

}  // namespace airlock::run
