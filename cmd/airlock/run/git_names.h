// The names git itself refuses as a path component because some filesystem would take them for
// its own `.git` or `.gitmodules` (git's verify_path with core.protectNTFS and core.protectHFS, both
// on by default): a tree holding one cannot be checked out, and fsck-checking remotes reject it.
// The same rules as git's path.c (is_ntfs_dotgit, is_ntfs_dot_generic, is_hfs_dot_generic),
// rewritten here for names as bytes.
#pragma once

#include "absl/strings/string_view.h"

namespace airlock::run {

// ".git" in any case; NTFS: ".git" or "git~1" followed only by dots and spaces up to the end, a '\'
// or a ':' (an alternate data stream); HFS+: ".git" with ignorable code points anywhere in it.
bool IsGitDirName(absl::string_view name);

// The same for ".gitmodules" (also its NTFS short names "gitmod~1".."gitmod~4" and the
// fall-back "gi7eba~N"), refused by git as a symlink.
bool IsGitModulesName(absl::string_view name);

}  // namespace airlock::run
