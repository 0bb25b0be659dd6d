// `airlock run`'s exit code says which phase failed. The first phase that fails decides, with one
// exception: an incomplete cleanup (something of the sandbox is still on the host) overrides all.
#pragma once

#include <string>
#include <vector>

namespace airlock::run {

enum class RunExit : int {
  kOk = 0,              // the branch and patch are ready (or the agent changed nothing)
  kInternal = 1,        // an unexpected error of airlock itself
  kUsage = 2,           // unknown flag, missing argument
  kBadInput = 3,        // not a git repository, uncommitted changes, branch exists, bad policy, unset secret
  kContainerd = 4,      // containerd not running, image missing or not unpacked
  kSandbox = 5,         // creating or starting the container failed (the shim refused the policy, ...)
  kSetup = 6,           // the setup command failed or did not finish before its timeout
  kSeal = 7,            // the seal failed or could not be verified
  kAgent = 8,           // the agent command exited non-zero or was killed
  kCheck = 9,           // the --check command failed
  kChanges = 10,        // collecting the change set or writing branch/patch failed
  kSecretLeak = 11,     // a secret's value is in the change set: branch and patch blocked
  kCleanup = 12,        // the sandbox could not be destroyed completely: something is left
  kLimit = 13,          // the change set is over a limit (files, bytes of one file, bytes in all)
  kRefused = 14,        // the change set holds what is never carried out (.git entry, changed submodule)
  kTimeout = 15,        // the agent or the check passed its deadline (--timeout, execution.timeout): stopped
  kInterrupted = 130,   // Ctrl-C (SIGINT) or SIGTERM/SIGHUP: destroyed, nothing kept
};

struct RunExitInfo {
  RunExit code;
  const char* name;     // machine word, e.g. "setup" (JSON "failed_phase")
  const char* meaning;  // one line for --help
};

const std::vector<RunExitInfo>& RunExitTable();
const RunExitInfo& InfoOf(RunExit code);
// The table as printed by `airlock run --help`.
std::string RunExitHelp();

// Keeps the first failure, except that kCleanup always wins.
RunExit CombineExit(RunExit so_far, RunExit next);

}  // namespace airlock::run
