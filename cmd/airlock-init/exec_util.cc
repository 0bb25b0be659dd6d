#include "cmd/airlock-init/exec_util.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace airlock::init {
namespace {

constexpr const char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string VariableName(const std::string& entry) { return entry.substr(0, entry.find('=')); }

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::vector<std::string> WithoutSecrets(const std::vector<std::string>& env, const std::vector<std::string>& secrets) {
  std::vector<std::string> out;
  for (const std::string& entry : env) {
    std::string name = VariableName(entry);
    bool secret = false;
    for (const std::string& s : secrets) secret = secret || s == name;
    if (!secret) out.push_back(entry);
  }
  return out;
}

std::vector<std::string> CurrentEnvironment() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) out.emplace_back(*e);
  return out;
}

void ExecWithPathLookup(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  if (args.empty() || args[0].empty()) {
    errno = ENOENT;
    return;
  }
  std::vector<char*> argv = CStrings(args);
  std::vector<char*> envp = CStrings(env);
  const std::string& file = args[0];
  if (file.find('/') != std::string::npos) {
    execve(file.c_str(), argv.data(), envp.data());
    return;
  }
  std::string path = kDefaultPath;
  for (const std::string& entry : env) {
    if (entry.compare(0, 5, "PATH=") == 0) {
      path = entry.substr(5);  // the first one, as getenv() would pick
      break;
    }
  }
  // Like execvp: remember EACCES, keep looking past missing directories, stop at other errors.
  bool saw_eacces = false;
  size_t start = 0;
  while (true) {
    size_t end = path.find(':', start);
    std::string dir = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string candidate = dir.empty() ? file : dir + "/" + file;
    execve(candidate.c_str(), argv.data(), envp.data());
    switch (errno) {
      case EACCES:
        saw_eacces = true;
        break;
      case ENOENT:
      case ENOTDIR:
      case ESTALE:
      case ENODEV:
      case ETIMEDOUT:
        break;
      default:
        return;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  errno = saw_eacces ? EACCES : ENOENT;
}

int ExecFailureExitCode(int err) { return err == ENOENT || err == ENOTDIR ? 127 : 126; }

}  // namespace airlock::init
