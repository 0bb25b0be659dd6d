// `delete`: containerd runs it (cwd = bundle) when the shim is gone: the container must not outlive
// its shim, nor its mounts, runc state or socket. Prints a DeleteResponse for containerd.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/time/clock.h"
#include "containerd/task/v2/shim.pb.h"
#include "shim/base/log.h"
#include "shim/base/unique_fd.h"
#include "shim/bootstrap/actions.h"
#include "nlohmann/json.hpp"
#include "shim/bootstrap/address.h"
#include "shim/runc/runc.h"
#include "shim/task/rootfs.h"
#include "shim/task/runtime_options.h"

namespace airlock::bootstrap {
namespace {

bool SocketAlive(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof addr.sun_path) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return fd && connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

// The socket of a shim that was killed stays behind; one of a live group shim does not.
void RemoveDeadSocket(const std::string& bundle) {
  std::ifstream in(bundle + "/address");
  std::string address((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string path;
  if (address.rfind("unix://", 0) == 0) {
    path = SocketPath(address);
  } else if (nlohmann::json boot = nlohmann::json::parse(address, nullptr, /*allow_exceptions=*/false);
             boot.is_object() && boot.contains("address") && boot["address"].is_string()) {
    path = boot["address"].get<std::string>();  // the gRPC bootstrap (start.cc), a bare path
  } else {
    return;
  }
  if (path.rfind(std::string(kSocketDir) + "/", 0) != 0) return;  // only ever our own dir
  if (!SocketAlive(path)) unlink(path.c_str());
}

}  // namespace

int RunDelete(const Flags& flags, const Extensions& extensions) {
  if (flags.ns.empty() || flags.id.empty()) {
    std::fprintf(stderr, "delete needs -namespace and -id");
    return 1;
  }
  std::string bundle = flags.bundle;
  if (bundle.empty()) {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == nullptr) {
      std::fprintf(stderr, "delete: cannot determine bundle");
      return 1;
    }
    bundle = cwd;
  }
  absl::StatusOr<runc::Config> config = task::LoadRuntimeConfig(bundle);
  runc::Runc runc(config.ok() ? *config : RuncDefaults(extensions, flags.ns), bundle + "/log.json");
  if (absl::Status deleted = runc.Delete(flags.id, /*force=*/true); !deleted.ok()) {
    log::Warn("delete ", flags.id, ": ", deleted.message());
  }
  if (absl::Status unmounted = task::UnmountAll(bundle + "/rootfs"); !unmounted.ok()) {
    log::Warn("delete ", flags.id, ": ", unmounted.message());
  }
  RemoveDeadSocket(bundle);
  if (extensions.cleanup_after_crash) {
    if (absl::Status cleaned = extensions.cleanup_after_crash(flags.ns, flags.id); !cleaned.ok()) {
      log::Warn("delete ", flags.id, ": ", cleaned.message());
    }
  }

  absl::StatusOr<pid_t> pid = runc::ReadPidFile(bundle + "/init.pid");
  containerd::task::v2::DeleteResponse response;
  response.set_pid(pid.ok() ? static_cast<uint32_t>(*pid) : 0);
  response.set_exit_status(128 + SIGKILL);
  timespec now = absl::ToTimespec(absl::Now());
  response.mutable_exited_at()->set_seconds(now.tv_sec);
  response.mutable_exited_at()->set_nanos(static_cast<int32_t>(now.tv_nsec));
  std::string out = response.SerializeAsString();
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace airlock::bootstrap
