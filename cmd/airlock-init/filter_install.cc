#include "cmd/airlock-init/filter_install.h"

#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>


namespace airlock::init {

bool FilterFromBytes(const std::string& bytes, std::vector<sock_filter>* program, std::string* error) {
  if (bytes.empty() || bytes.size() % sizeof(sock_filter) != 0 ||
      bytes.size() / sizeof(sock_filter) > BPF_MAXINSNS) {
    *error = "not a seccomp BPF program (" + std::to_string(bytes.size()) + " bytes)";
    return false;
  }
  program->resize(bytes.size() / sizeof(sock_filter));
  memcpy(program->data(), bytes.data(), bytes.size());
  return true;
}

bool InstallFilter(const std::vector<sock_filter>& program, std::string* error) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    *error = std::string("prctl(PR_SET_NO_NEW_PRIVS): ") + strerror(errno);
    return false;
  }
  sock_fprog fprog{};
  fprog.len = static_cast<unsigned short>(program.size());
  fprog.filter = const_cast<sock_filter*>(program.data());
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog);
  if (rc == 0) return true;
  if (rc > 0) {
    *error = "seccomp: thread " + std::to_string(rc) + " could not be synchronised";
    return false;
  }
  if (errno != ENOSYS) {
    *error = std::string("seccomp(SECCOMP_SET_MODE_FILTER): ") + strerror(errno);
    return false;
  }
  // Kernels before 3.17 have no seccomp(2); a single-threaded caller needs no TSYNC.
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0) {
    *error = std::string("prctl(PR_SET_SECCOMP): ") + strerror(errno);
    return false;
  }
  return true;
}

}  // namespace airlock::init
