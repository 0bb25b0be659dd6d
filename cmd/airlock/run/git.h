// Running git for `airlock run` on the USER's repository only (inspection, and the one update-ref
// that sets the finished branch), with an environment the caller controls: no GIT_* variables of the user's shell
// leak in, output is in the C locale. git never runs on a workspace or with one as its work tree:
// what a sandbox wrote is read by airlock's own code (change_walk.h) and stored with libgit2
// (git_store.h).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace airlock::run {

struct GitOptions {
  std::string cwd;        // -C
  // Extra NAME=value for the environment (GIT_AUTHOR_NAME, ...).
  std::vector<std::string> env;
  absl::Duration timeout = absl::Minutes(5);
};

struct GitResult {
  int exit_code = 0;
  std::string out;
  std::string err;
};

// Runs `git ARGS`; a non-zero exit is NOT an error here (callers decide), a failure to run git is.
absl::StatusOr<GitResult> RunGit(const std::vector<std::string>& args, const GitOptions& options);
// Like RunGit, but a non-zero exit is an error carrying git's stderr; returns stdout.
absl::StatusOr<std::string> Git(const std::vector<std::string>& args, const GitOptions& options);

}  // namespace airlock::run
