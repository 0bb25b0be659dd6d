#include "cmd/airlock/run/git.h"

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "shim/base/subprocess.h"

extern char** environ;

namespace airlock::run {
namespace {

std::vector<std::string> GitEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    // The user's GIT_DIR, GIT_INDEX_FILE, GIT_CONFIG_* ... must not redirect our git.
    if (absl::StartsWith(entry, "GIT_") || absl::StartsWith(entry, "LC_ALL=") || absl::StartsWith(entry, "LANGUAGE=")) {
      continue;
    }
    env.push_back(entry);
  }
  env.push_back("LC_ALL=C");
  env.push_back("GIT_TERMINAL_PROMPT=0");
  env.push_back("GIT_OPTIONAL_LOCKS=0");
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

}  // namespace

absl::StatusOr<GitResult> RunGit(const std::vector<std::string>& args, const GitOptions& options) {
  SpawnOptions spawn;
  // No fsmonitor daemon or hook is started for airlock's few calls (a user's config may name one;
  // `git fetch` and `git status` would run it).
  spawn.argv = {"git", "-c", "core.fsmonitor=false"};
  if (!options.cwd.empty()) spawn.argv.insert(spawn.argv.end(), {"-C", options.cwd});
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.env = GitEnvironment(options.env);
  spawn.capture_stdout = true;
  spawn.capture_stderr = true;
  // Ctrl-C is the run's to handle: git never sees the terminal's SIGINT, so a write into the
  // user's repository is never cut in half.
  spawn.new_session = true;
  absl::StatusOr<ChildResult> result = Run(spawn, options.timeout);
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat("git ", args.empty() ? "" : args[0], ": ", result.status().message()));
  }
  return GitResult{result->exit.status, std::move(result->out), std::move(result->err)};
}

absl::StatusOr<std::string> Git(const std::vector<std::string>& args, const GitOptions& options) {
  absl::StatusOr<GitResult> result = RunGit(args, options);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    std::string err(absl::StripAsciiWhitespace(result->err));
    return absl::FailedPreconditionError(
        absl::StrCat("git ", absl::StrJoin(args, " "), " failed (exit ", result->exit_code, ")", err.empty() ? "" : ": ", err));
  }
  return std::move(result->out);
}

}  // namespace airlock::run
