// The review patch of a run's commit, written straight into a file descriptor (never held whole in
// memory): the text `git format-patch -1 --stdout --binary --full-index --no-renames
// --no-signature` would give for it, so `git am` / `git apply` take it, and it holds EVERY change of
// the commit (a patch that leaves a file out is worse than none).
//
// Diffs come from libgit2, on the run's private bare repository only, whose configuration airlock
// wrote and whose HEAD names no commit: no attribute, diff driver, textconv or filter of the
// repository (or of the sandbox's .gitattributes) can change what the patch shows, and nothing
// runs. Text diffs load both sides of one file at a time; a file larger than `inline_diff_max` on
// either side gets a "GIT binary patch" literal of its new content instead, deflated and
// base85-encoded by airlock in a stream from the object store (constant memory whatever its size).
// So does a file of more than inline_diff_max / 16 lines (both sides together): xdiff's records
// cost ~100 bytes a line, so 8 MiB of newlines would take ~1 GB to diff.
#pragma once

#include <git2.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace airlock::run {

struct PatchOptions {
  uint64_t inline_diff_max = 8ull << 20;  // bytes, either side; above it: binary literal
  std::string author_name = "airlock run";
  std::string author_email = "airlock@localhost";
};

struct PatchStats {
  int64_t insertions = 0;  // text lines added / removed (binary files count 0, as git's numstat "-")
  int64_t deletions = 0;
  uint64_t bytes_written = 0;
};

// Writes the patch of `commit` (one parent, the base) of `repo` to `out_fd`. The commit's message
// becomes Subject (first line) and body, as format-patch does.
absl::StatusOr<PatchStats> WritePatch(git_repository* repo, const git_oid& commit, int out_fd,
                                      const PatchOptions& options = {});

}  // namespace airlock::run
