#include "policy/net/ip_forward.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "policy/net/fs_util.h"
#include "policy/net/in_netns.h"
#include "shim/base/errno_status.h"
#include "shim/base/files.h"
#include "shim/base/log.h"
#include "shim/base/unique_fd.h"

namespace airlock::net {
namespace {

constexpr char kForwardPath[] = "/proc/sys/net/ipv4/ip_forward";
constexpr char kRedirectsPath[] = "/proc/sys/net/ipv4/conf/all/accept_redirects";

// An exclusive lock on <state_dir>/lock.
absl::StatusOr<UniqueFd> Lock(const std::string& state_dir) {
  if (absl::Status status = MakeDirs(state_dir); !status.ok()) return status;
  return LockFile(absl::StrCat(state_dir, "/lock"));
}

absl::StatusOr<std::string> NetnsKey(int netns_fd) {
  struct stat st {};
  int rc = netns_fd >= 0 ? ::fstat(netns_fd, &st) : ::stat("/proc/thread-self/ns/net", &st);
  if (rc != 0) return ErrnoStatus("stat netns");
  return absl::StrCat("net-", st.st_dev, "-", st.st_ino);
}

absl::Status WriteIntFile(const char* path, int value) {
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(absl::StrCat("open ", path));
  return WriteAll(fd.get(), absl::StrCat(value, "\n"), path);
}

// Runs `fn` where the sysctls of `netns_fd` are visible (/proc/sys/net follows the thread's netns).
absl::Status InNetns(int netns_fd, absl::FunctionRef<absl::Status()> fn) {
  if (netns_fd < 0) return fn();
  return RunInNetns(netns_fd, fn);
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(absl::StrCat("open ", path));
  char buf[128] = {};
  ssize_t n = ::read(fd.get(), buf, sizeof(buf) - 1);
  if (n < 0) return ErrnoStatus(absl::StrCat("read ", path));
  return std::string(buf, n);
}

absl::StatusOr<int> ReadIntFile(const char* path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  int value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &value)) {
    return absl::DataLossError(absl::StrCat("unexpected content in ", path));
  }
  return value;
}

// Names in a directory, bounded; an absent directory is empty.
std::vector<std::string> ListDir(const std::string& path, size_t max_entries = 100000) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return names;
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    names.push_back(name);
    if (names.size() >= max_entries) break;
  }
  ::closedir(dir);
  return names;
}

// With the lock held: the last user of `key_dir` is gone, restore (when `netns_fd` says where,
// or `restore` is false) and forget the state.
absl::Status RestoreAndForget(const std::string& key_dir, bool restore, int netns_fd) {
  absl::Status result;
  absl::StatusOr<std::string> saved = ReadSmallFile(absl::StrCat(key_dir, "/saved"));
  if (restore && saved.ok()) {
    std::vector<std::string> fields = absl::StrSplit(absl::StripAsciiWhitespace(*saved), ' ', absl::SkipEmpty());
    int forward = -1;
    int redirects = -1;
    if (fields.size() == 2 && absl::SimpleAtoi(fields[0], &forward) && absl::SimpleAtoi(fields[1], &redirects)) {
      result = InNetns(netns_fd, [&]() -> absl::Status {
        absl::StatusOr<int> now = ReadIntFile(kForwardPath);
        if (!now.ok()) return now.status();
        if (*now == forward) return absl::OkStatus();  // nothing of ours to undo
        if (absl::Status s = WriteIntFile(kForwardPath, forward); !s.ok()) return s;
        // The kernel just set accept_redirects to !forward; put back what was there.
        return WriteIntFile(kRedirectsPath, redirects);
      });
      log::Info("ip_forward restored to ", forward, " (", key_dir, ")");
    } else {
      result = absl::DataLossError(absl::StrCat("unreadable ", key_dir, "/saved"));
    }
  }
  ::unlink(absl::StrCat(key_dir, "/saved").c_str());
  ::rmdir(absl::StrCat(key_dir, "/users").c_str());
  ::rmdir(key_dir.c_str());
  return result;
}

// The claims on one netns's ip_forward, under the state dir's lock (held while this lives).
struct NetnsClaims {
  UniqueFd lock;
  std::string key_dir;    // <state_dir>/net-<dev>-<ino>: the saved values
  std::string users_dir;  // one marker file per sandbox that needs forwarding
};

absl::StatusOr<NetnsClaims> LockClaims(absl::string_view state_dir, int netns_fd) {
  std::string root(state_dir);
  absl::StatusOr<UniqueFd> lock = Lock(root);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<std::string> key = NetnsKey(netns_fd);
  if (!key.ok()) return key.status();
  std::string key_dir = absl::StrCat(root, "/", *key);
  return NetnsClaims{*std::move(lock), key_dir, absl::StrCat(key_dir, "/users")};
}

}  // namespace

absl::Status AcquireIpForward(absl::string_view state_dir, absl::string_view sandbox, int netns_fd) {
  absl::StatusOr<NetnsClaims> claims = LockClaims(state_dir, netns_fd);
  if (!claims.ok()) return claims.status();
  const std::string& key_dir = claims->key_dir;
  const std::string& users_dir = claims->users_dir;
  if (absl::Status status = MakeDirs(users_dir); !status.ok()) return status;

  return InNetns(netns_fd, [&]() -> absl::Status {
    absl::StatusOr<int> forward = ReadIntFile(kForwardPath);
    if (!forward.ok()) return forward.status();
    // First user (no one registered): remember the values as they are now.
    if (ListDir(users_dir, 1).empty()) {
      absl::StatusOr<int> redirects = ReadIntFile(kRedirectsPath);
      if (!redirects.ok()) return redirects.status();
      if (absl::Status s =
              WriteFileAtomically(absl::StrCat(key_dir, "/saved"), absl::StrCat(*forward, " ", *redirects, "\n"), 0600);
          !s.ok()) {
        return s;
      }
    }
    std::string marker = absl::StrCat(users_dir, "/", sandbox);
    UniqueFd fd(::open(marker.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return ErrnoStatus(absl::StrCat("create ", marker));
    if (*forward != 1) {
      if (absl::Status s = WriteIntFile(kForwardPath, 1); !s.ok()) return s;
      log::Info("ip_forward turned on for nat sandbox ", sandbox);
    }
    return absl::OkStatus();
  });
}

absl::Status ReleaseIpForward(absl::string_view state_dir, absl::string_view sandbox, int netns_fd) {
  absl::StatusOr<NetnsClaims> claims = LockClaims(state_dir, netns_fd);
  if (!claims.ok()) return claims.status();
  const std::string& key_dir = claims->key_dir;
  const std::string& users_dir = claims->users_dir;
  std::string marker = absl::StrCat(users_dir, "/", sandbox);
  if (::unlink(marker.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();  // not a user: nothing to do
    return ErrnoStatus(absl::StrCat("unlink ", marker));
  }
  if (!ListDir(users_dir, 1).empty()) return absl::OkStatus();
  return RestoreAndForget(key_dir, /*restore=*/true, netns_fd);
}

absl::Status ReleaseIpForwardEverywhere(absl::string_view state_dir, absl::string_view sandbox) {
  std::string root(state_dir);
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0) return absl::OkStatus();  // never used
  absl::StatusOr<UniqueFd> lock = Lock(root);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<std::string> own_key = NetnsKey(-1);
  if (!own_key.ok()) return own_key.status();
  absl::Status result;
  for (const std::string& key : ListDir(root)) {
    if (key.rfind("net-", 0) != 0) continue;
    std::string key_dir = absl::StrCat(root, "/", key);
    std::string users_dir = absl::StrCat(key_dir, "/users");
    std::string marker = absl::StrCat(users_dir, "/", sandbox);
    if (::unlink(marker.c_str()) != 0) continue;
    if (!ListDir(users_dir, 1).empty()) continue;
    absl::Status status = RestoreAndForget(key_dir, /*restore=*/key == *own_key, -1);
    if (result.ok()) result = status;
  }
  return result;
}

}  // namespace airlock::net
