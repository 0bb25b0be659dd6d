// `start`: containerd runs it with the bundle as cwd and reads its stdout until EOF. It binds the
// shim socket (or finds the group's running shim), forks the long-lived server, waits until the
// server is ready, prints the bootstrap address and exits.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/any.pb.h"
#include "nlohmann/json.hpp"
#include "shim/base/errno_status.h"
#include "shim/base/files.h"
#include "shim/base/unique_fd.h"
#include "shim/bootstrap/actions.h"
#include "shim/bootstrap/address.h"
#include "shim/bootstrap/server.h"
#include "shim/task/runtime_options.h"

namespace airlock::bootstrap {
namespace {

// Containers with the same group share one shim (a Kubernetes pod), as with containerd's runc shim.
constexpr const char* kGroupLabels[] = {"io.containerd.airlock.v2.group", "io.kubernetes.cri.sandbox-id"};

std::string GroupOf(const std::string& id) {
  std::ifstream in("config.json");
  nlohmann::json spec = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (spec.is_object() && spec.contains("annotations") && spec["annotations"].is_object()) {
    for (const char* label : kGroupLabels) {
      auto it = spec["annotations"].find(label);
      if (it != spec["annotations"].end() && it->is_string() && !it->get<std::string>().empty()) {
        return it->get<std::string>();
      }
    }
  }
  return id;
}

bool FillSockaddr(const std::string& path, sockaddr_un* addr, socklen_t* len) {
  if (path.size() >= sizeof(addr->sun_path)) return false;
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '\0' ? 0 : 1));
  return true;
}

bool CanConnect(const std::string& path) {
  sockaddr_un addr;
  socklen_t len;
  if (!FillSockaddr(path, &addr, &len)) return false;
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return fd && connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0;
}

absl::StatusOr<UniqueFd> Listen(const std::string& path, bool* in_use) {
  *in_use = false;
  sockaddr_un addr;
  socklen_t len;
  if (!FillSockaddr(path, &addr, &len)) return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus("socket");
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    *in_use = errno == EADDRINUSE;
    return ErrnoStatus(absl::StrCat("bind ", path));
  }
  if (chmod(path.c_str(), 0600) != 0) {
    absl::Status status = ErrnoStatus(absl::StrCat("chmod ", path));
    unlink(path.c_str());
    return status;
  }
  if (listen(fd.get(), 128) != 0) return ErrnoStatus("listen");
  return fd;
}

absl::Status WriteAddressFile(const std::string& address) { return WriteFileAtomically("address", address); }

// The runtime options on stdin may name a cgroup for the shim itself (containerd's ShimCgroup):
// runc's options, or the old linux runtime's CreateOptions that containerd 1.6's client sends a
// runtime not named io.containerd.runc.*.
std::string ShimCgroupFromStdin() {
  std::string data((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  google::protobuf::Any any;
  if (data.empty() || !any.ParseFromString(data)) return "";
  return task::ShimCgroupOf(any);
}

void JoinCgroup(const std::string& cgroup, pid_t pid) {
  if (cgroup.empty()) return;
  // cgroup v2 first, then every v1 controller hierarchy that has it.
  std::string v2 = absl::StrCat("/sys/fs/cgroup", cgroup, "/cgroup.procs");
  std::ofstream(v2) << pid;
  for (const char* controller : {"cpu", "cpuacct", "memory", "pids", "blkio", "cpuset", "devices", "freezer"}) {
    std::ofstream(absl::StrCat("/sys/fs/cgroup/", controller, cgroup, "/cgroup.procs")) << pid;
  }
}

// As containerd's runc shim: one point above containerd, so the OOM killer picks the shim first.
void AdjustOomScore(pid_t shim_pid) {
  std::ifstream in(absl::StrCat("/proc/", getppid(), "/oom_score_adj"));
  int score = 0;
  std::string text;
  if (!(in >> text) || !absl::SimpleAtoi(text, &score)) return;
  score = std::min(score + 1, 1000);
  std::ofstream(absl::StrCat("/proc/", shim_pid, "/oom_score_adj")) << score;
}

}  // namespace

int RunStart(const Flags& flags, const Extensions& extensions) {
  if (flags.ns.empty()) {
    std::fprintf(stderr, "shim namespace cannot be empty");
    return 1;
  }
  if (flags.id.empty()) {
    std::fprintf(stderr, "shim id cannot be empty");
    return 1;
  }
  absl::StatusOr<Protocol> protocol = extensions.protocol ? extensions.protocol() : Protocol::kAuto;
  if (!protocol.ok()) {
    std::fprintf(stderr, "%s", std::string(protocol.status().message()).c_str());
    return 1;
  }
  const std::string address = SocketAddress(flags.address, flags.ns, GroupOf(flags.id));
  const std::string path = SocketPath(address);
  // AIRLOCK_GRPC_BOOTSTRAP_VERSION=2 serves gRPC to containerd 1.7 (default 3: containerd 2.x).
  int grpc_version = 3;
  if (const char* v = std::getenv("AIRLOCK_GRPC_BOOTSTRAP_VERSION"); v != nullptr && std::string(v) == "2") grpc_version = 2;
  const std::string output =
      BootstrapOutput(*protocol, ParseMaxShimVersion(std::getenv("MAX_SHIM_VERSION")), address, grpc_version);
  const bool announces_grpc = output != address;

  mkdir("/run/airlock", 0711);
  mkdir(std::string(kSocketDir).c_str(), 0711);
  bool in_use = false;
  absl::StatusOr<UniqueFd> listener = Listen(path, &in_use);
  if (!listener.ok() && in_use) {
    if (CanConnect(path)) {
      // The group's shim is serving: this container joins it.
      if (absl::Status written = WriteAddressFile(address); !written.ok()) {
        std::fprintf(stderr, "%s", std::string(written.message()).c_str());
        return 1;
      }
      std::fwrite(output.data(), 1, output.size(), stdout);
      return 0;
    }
    unlink(path.c_str());  // a dead shim's socket
    listener = Listen(path, &in_use);
  }
  if (!listener.ok()) {
    std::fprintf(stderr, "create new shim socket: %s", std::string(listener.status().message()).c_str());
    return 1;
  }
  auto fail = [&](absl::string_view message) {
    unlink(path.c_str());
    std::fprintf(stderr, "%.*s", static_cast<int>(message.size()), message.data());
    return 1;
  };
  if (absl::Status written = WriteAddressFile(address); !written.ok()) return fail(written.message());
  const std::string shim_cgroup = ShimCgroupFromStdin();

  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return fail("pipe");
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return fail("fork");
  if (pid == 0) {
    ready_read.reset();
    ServerMain(flags, extensions, address, std::move(*listener), std::move(ready_write), announces_grpc);
  }
  ready_write.reset();
  listener->reset();

  // The server writes once it serves (server.h); EOF first means it died.
  struct pollfd pfd = {ready_read.get(), POLLIN, 0};
  char message[4096];
  ssize_t n = 0;
  if (poll(&pfd, 1, 30000) != 1 || (n = read(ready_read.get(), message, sizeof message)) < 1) {
    kill(pid, SIGKILL);
    return fail("shim server failed to start (see containerd's log)");
  }
  std::string announced = output;
  if (message[0] == kReadyWithoutGrpc) {
    const std::string why(message + 1, static_cast<size_t>(n - 1));
    if (*protocol == Protocol::kGrpc) {
      // Asked for by name: no silent downgrade; containerd gets the reason at once.
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return fail(absl::StrCat("shim.protocol is grpc, but ", why));
    }
    announced = address;  // auto: what containerd 1.x and 2.x both speak
  }
  // containerd 1.7 reconnects after a restart from the bundle's `address` file, read as it reads
  // `start`'s output: the gRPC bootstrap goes there too, or 1.7 would come back over ttrpc.
  // containerd 2.x writes bootstrap.json itself and reads `address` only without one, as a plain
  // address: for version 3 the file stays plain.
  if (announced != address && grpc_version == 2) {
    if (absl::Status written = WriteAddressFile(announced); !written.ok()) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return fail(written.message());
    }
  }
  JoinCgroup(shim_cgroup, pid);
  AdjustOomScore(pid);
  std::fwrite(announced.data(), 1, announced.size(), stdout);
  return 0;
}

}  // namespace airlock::bootstrap
