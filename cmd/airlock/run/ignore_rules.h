// Which untracked paths of a workspace `airlock run` leaves out of the change set: the patterns of
// the workspace's own .gitignore files, with git's semantics (gitignore(5)), read as DATA by airlock:
// no git process ever reads the sandbox's files. The walker (change_walk.h) reads each directory's
// .gitignore itself (a regular file only, never a symlink, size-bounded) and pushes its bytes here
// as it descends. Ignoring can only keep a file OUT of the change set; tracked files are never
// ignored (the walker asks only about untracked paths).
//
// Semantics kept from git: blank lines and `#` comments; trailing spaces dropped unless escaped;
// `\` escapes a leading `#` or `!`; `!` re-includes; a trailing `/` matches directories only; a
// pattern with a `/` at its start or middle is anchored at the .gitignore's directory, otherwise it
// matches the name at any depth below it; the deepest .gitignore with a matching pattern decides,
// and within one file the last matching pattern. A path inside an ignored directory is never asked
// about: the walker does not descend (git cannot re-include below an excluded directory either).
// Not read: $GIT_DIR/info/exclude and core.excludesFile (host configuration, not the repository's).
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace airlock::run {

class IgnoreRules {
 public:
  // The patterns of `dir`'s .gitignore (dir: relative to the workspace root, "" for the root, no
  // leading or trailing '/'), as the file's bytes. Push an empty text for a directory without one:
  // every Push has its Pop, in walk order.
  void Push(absl::string_view dir, absl::string_view gitignore_text);
  void Pop();

  // `path`: relative to the workspace root, '/'-separated, no trailing '/'; must lie under the
  // directory last pushed (or be that directory's entry). `is_dir`: the entry is a directory.
  bool IsIgnored(absl::string_view path, bool is_dir) const;

  size_t depth() const { return levels_.size(); }

 private:
  struct Pattern {
    std::string text;     // without the leading '!' / '/', the trailing '/' and escapes of those
    bool negated = false;
    bool dir_only = false;
    bool anchored = false;  // had a '/' at its start or middle: matched against the path below base
  };
  struct Level {
    std::string base;  // the directory, "" for the root
    std::vector<Pattern> patterns;
  };
  std::vector<Level> levels_;
};

}  // namespace airlock::run
