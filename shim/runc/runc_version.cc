#include "shim/runc/runc_version.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "shim/base/files.h"
#include "shim/base/sha256.h"
#include "shim/base/subprocess.h"

namespace airlock::runc {
namespace {

constexpr absl::string_view kPrefix = "runc version ";

// `binary` as exec would find it: a path, or the first executable of that name in PATH.
std::string Resolve(const std::string& binary) {
  if (binary.find('/') != std::string::npos) return binary;
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", binary);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace

std::optional<RuncVersion> ParseRuncVersion(absl::string_view text) {
  size_t at = text.find(kPrefix);
  if (at != 0 && (at == absl::string_view::npos || text[at - 1] != '\n')) return std::nullopt;
  absl::string_view rest = text.substr(at + kPrefix.size());
  rest = rest.substr(0, rest.find_first_of("\n+-~ "));
  std::vector<absl::string_view> parts = absl::StrSplit(rest, '.');
  RuncVersion v;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &v.major) || !absl::SimpleAtoi(parts[1], &v.minor)) {
    return std::nullopt;
  }
  if (parts.size() >= 3 && !absl::SimpleAtoi(parts[2], &v.patch)) return std::nullopt;
  return v;
}

bool ExecFifoStartMatches(const RuncVersion& version) { return version.major == 1 && version.minor <= 4; }

bool ExecFifoStartSupported(const std::string& binary, const std::string& cache_dir) {
  std::string path = Resolve(binary);
  struct stat st;
  if (path.empty() || stat(path.c_str(), &st) != 0) return false;
  std::string key = Sha256Hex(absl::StrCat(path, "\n", st.st_dev, ":", st.st_ino, "\n", st.st_size, "\n",
                                           st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec));
  std::string cached = absl::StrCat(cache_dir, "/", key.substr(0, 32));
  std::string text;
  if (std::ifstream in(cached); in) {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    absl::StatusOr<ChildResult> asked =
        Run({.argv = {path, "--version"}, .capture_stdout = true, .capture_stderr = true}, absl::Seconds(10));
    if (!asked.ok() || asked->exit.status != 0) return false;
    text = asked->out;
    // Best effort: without the cache the next shim asks again.
    if (MakeDirs(cache_dir, 0700).ok()) (void)WriteFileAtomically(cached, text, 0600);
  }
  std::optional<RuncVersion> version = ParseRuncVersion(text);
  return version.has_value() && ExecFifoStartMatches(*version);
}

}  // namespace airlock::runc
