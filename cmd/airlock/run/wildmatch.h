// git's wildmatch, as .gitignore patterns use it (WM_PATHNAME): `*` and `?` never match '/', `**`
// as a whole path component matches any number of components, `[...]` classes with ranges, `!`/`^`
// negation and [:alpha:]-style names, `\` escapes. Written here because no library exposes git's
// matcher on its own (libgit2 only behind a repository with a work tree, which would read the
// sandbox's files itself); the unit tests compare it with `git check-ignore` on the same patterns.
// Bounded: git's "abort" rule keeps backtracking polynomial for hostile patterns.
#pragma once

#include "absl/strings/string_view.h"

namespace airlock::run {

// True when `text` (a path relative to the pattern's base, '/'-separated) matches `pattern`.
bool WildMatch(absl::string_view pattern, absl::string_view text);

}  // namespace airlock::run
