// The OCI runtime driver: runs `runc` (or a runc-compatible binary such as crun) for one shim.
// Every call is a short-lived child with a bounded run time; failures carry runc's own error,
// read from its JSON log, the way containerd's runc shim reports them.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shim/base/subprocess.h"

namespace airlock::runc {

// Where containerd's runc shim keeps runc's state when the runtime options name no Root.
inline constexpr char kDefaultStateParent[] = "/run/containerd/runc";

// runc's --root for a containerd namespace: <parent>/<namespace>, as containerd's runc shim makes it.
inline std::string StateRoot(const std::string& parent, const std::string& ns) { return parent + "/" + ns; }

struct Config {
  std::string binary = "runc";  // a name looked up in PATH, or a path
  std::string root;              // --root (state dir); per containerd namespace (StateRoot)
  bool systemd_cgroup = false;
  bool no_pivot_root = false;
  bool no_new_keyring = false;
  bool debug = false;
  uint32_t io_uid = 0;  // owner of the processes' stdio pipes (the shim's, not runc's business)
  uint32_t io_gid = 0;
};

// The fds a new process gets as 0, 1, 2 (-1 means /dev/null), plus fds kept open from 3 upwards
// (`--preserve-fds`).
struct ProcessFds {
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  std::vector<int> preserved;
};

class Runc {
 public:
  // `log_path`: runc's --log file (JSON), normally <bundle>/log.json.
  Runc(Config config, std::string log_path);

  absl::Status Create(const std::string& id, const std::string& bundle, const std::string& pid_file,
                      const std::string& console_socket, const ProcessFds& fds);
  // `init_pid` and `poststart_hooks` (the spec has some) choose the way: runc's exec fifo read here
  // (exec_fifo.h), or a `runc start` process.
  absl::Status Start(const std::string& id, pid_t init_pid, bool poststart_hooks);
  absl::Status Exec(const std::string& id, const std::string& process_json_path, const std::string& pid_file,
                    const std::string& console_socket, const ProcessFds& fds);
  // Runs a process in the container in the foreground and collects its output (the shim's own
  // probes; not an exec containerd knows about). The result's status is the process's exit code.
  absl::StatusOr<ChildResult> ExecAndWait(const std::string& id, const std::string& process_json_path,
                                          absl::Duration timeout, const std::vector<int>& preserved = {});
  absl::Status Kill(const std::string& id, int signal, bool all);
  // `force` kills a still-running container first. A container runc does not know is not an error.
  // The state root goes too once empty, when it is one of ours (under /run/airlock/).
  absl::Status Delete(const std::string& id, bool force);
  // runc (and crun) keep a container's state in <root>/<id>: without it runc knows no such
  // container (deleted, e.g. by `runc delete` behind the shim's back). False when unknown.
  bool StateMissing(const std::string& id) const;
  absl::Status Pause(const std::string& id);
  absl::Status Resume(const std::string& id);
  absl::Status Update(const std::string& id, const std::string& resources_json_path);
  absl::StatusOr<std::vector<pid_t>> Ps(const std::string& id);

  const Config& config() const { return config_; }

 private:
  std::vector<std::string> BaseArgs() const;
  // Runs runc with `args`; on failure the status names `what` and carries runc's message.
  absl::StatusOr<std::string> Call(const std::string& what, std::vector<std::string> args, const ProcessFds* fds,
                                   absl::Duration timeout);
  std::string LastLoggedError() const;
  bool FifoStartMatches();  // asked once per instance

  Config config_;
  std::string log_path_;
  std::optional<bool> fifo_start_matches_;
};

// Reads a pid file written by runc (--pid-file).
absl::StatusOr<pid_t> ReadPidFile(const std::string& path);

}  // namespace airlock::runc
