#include "shim/runc/runc.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "shim/base/errno_status.h"
#include "shim/base/log.h"
#include "shim/base/subprocess.h"
#include "shim/runc/exec_fifo.h"
#include "shim/runc/runc_version.h"

namespace airlock::runc {
namespace {

constexpr absl::Duration kCreateTimeout = absl::Minutes(2);
constexpr absl::Duration kCallTimeout = absl::Seconds(60);
// Host-wide: `runc --version` per runc binary, asked once (runc_version.h).
constexpr char kVersionCacheDir[] = "/run/airlock/runc-version";

bool Contains(absl::string_view haystack, absl::string_view needle) {
  return haystack.find(needle) != absl::string_view::npos;
}

// runc's wording for "no such container" across versions.
bool IsNotExist(absl::string_view message) {
  return Contains(message, "does not exist") || Contains(message, "not exist") ||
         Contains(message, "container not found");
}

}  // namespace

Runc::Runc(Config config, std::string log_path) : config_(std::move(config)), log_path_(std::move(log_path)) {}

std::vector<std::string> Runc::BaseArgs() const {
  std::vector<std::string> args = {config_.binary};
  if (!config_.root.empty()) args.insert(args.end(), {"--root", config_.root});
  if (!log_path_.empty()) args.insert(args.end(), {"--log", log_path_, "--log-format", "json"});
  if (config_.systemd_cgroup) args.push_back("--systemd-cgroup");
  if (config_.debug) args.push_back("--debug");
  return args;
}

std::string Runc::LastLoggedError() const {
  std::ifstream in(log_path_);
  std::string line, last;
  while (std::getline(in, line)) {
    nlohmann::json entry = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (entry.is_object() && entry.value("level", "") == "error" && entry.contains("msg") && entry["msg"].is_string()) {
      last = entry["msg"].get<std::string>();
    }
  }
  return last;
}

absl::StatusOr<std::string> Runc::Call(const std::string& what, std::vector<std::string> args, const ProcessFds* fds,
                                       absl::Duration timeout) {
  std::vector<std::string> argv = BaseArgs();
  argv.insert(argv.end(), args.begin(), args.end());
  SpawnOptions options{.argv = std::move(argv)};
  if (fds != nullptr) {
    if (fds->stdin_fd >= 0) options.fds.emplace_back(0, fds->stdin_fd);
    if (fds->stdout_fd >= 0) options.fds.emplace_back(1, fds->stdout_fd);
    if (fds->stderr_fd >= 0) options.fds.emplace_back(2, fds->stderr_fd);
    for (size_t i = 0; i < fds->preserved.size(); ++i) options.fds.emplace_back(3 + static_cast<int>(i), fds->preserved[i]);
  } else {
    options.capture_stdout = true;
    options.capture_stderr = true;
  }
  absl::StatusOr<ChildResult> result = Run(options, timeout);
  if (!result.ok()) return absl::Status(result.status().code(), absl::StrCat("runc ", what, ": ", result.status().message()));
  if (result->exit.status == 0) return std::move(result->out);

  // Prefer runc's own words: its log, then its stderr.
  std::string message = LastLoggedError();
  if (message.empty()) message = std::string(absl::StripAsciiWhitespace(result->err));
  if (message.empty()) message = absl::StrCat("exit status ", result->exit.status);
  std::string text = absl::StrCat("OCI runtime ", what, " failed: ", message);
  if (IsNotExist(message)) return absl::NotFoundError(text);
  return absl::UnknownError(text);
}

absl::Status Runc::Create(const std::string& id, const std::string& bundle, const std::string& pid_file,
                          const std::string& console_socket, const ProcessFds& fds) {
  std::vector<std::string> args = {"create", "--bundle", bundle, "--pid-file", pid_file};
  if (!console_socket.empty()) args.insert(args.end(), {"--console-socket", console_socket});
  if (config_.no_pivot_root) args.push_back("--no-pivot");
  if (config_.no_new_keyring) args.push_back("--no-new-keyring");
  if (!fds.preserved.empty()) args.insert(args.end(), {"--preserve-fds", std::to_string(fds.preserved.size())});
  args.push_back(id);
  return Call("create", std::move(args), &fds, kCreateTimeout).status();
}

bool Runc::FifoStartMatches() {
  if (!fifo_start_matches_.has_value()) {
    // runc only, and a runc whose `start` is known: another runtime's state dir may look alike and
    // mean more (crun runs poststart hooks in `start`).
    fifo_start_matches_ = std::filesystem::path(config_.binary).filename() == "runc" &&
                          ExecFifoStartSupported(config_.binary, kVersionCacheDir);
  }
  return *fifo_start_matches_;
}

absl::Status Runc::Start(const std::string& id, pid_t init_pid, bool poststart_hooks) {
  if (!poststart_hooks && !config_.root.empty() && FifoStartMatches()) {
    absl::StatusOr<FifoStart> started = StartThroughExecFifo(absl::StrCat(config_.root, "/", id), init_pid, kCallTimeout);
    if (!started.ok()) return absl::Status(started.status().code(), absl::StrCat("OCI runtime start failed: ", started.status().message()));
    if (*started == FifoStart::kStarted) return absl::OkStatus();
  }
  return Call("start", {"start", id}, nullptr, kCallTimeout).status();
}

absl::Status Runc::Exec(const std::string& id, const std::string& process_json_path, const std::string& pid_file,
                        const std::string& console_socket, const ProcessFds& fds) {
  std::vector<std::string> args = {"exec", "--process", process_json_path, "--detach", "--pid-file", pid_file};
  if (!console_socket.empty()) args.insert(args.end(), {"--console-socket", console_socket});
  if (!fds.preserved.empty()) args.insert(args.end(), {"--preserve-fds", std::to_string(fds.preserved.size())});
  args.push_back(id);
  return Call("exec", std::move(args), &fds, kCreateTimeout).status();
}

absl::StatusOr<ChildResult> Runc::ExecAndWait(const std::string& id, const std::string& process_json_path,
                                               absl::Duration timeout, const std::vector<int>& preserved) {
  std::vector<std::string> argv = BaseArgs();
  argv.insert(argv.end(), {"exec", "--process", process_json_path});
  if (!preserved.empty()) argv.insert(argv.end(), {"--preserve-fds", std::to_string(preserved.size())});
  argv.push_back(id);
  SpawnOptions options{.argv = std::move(argv), .capture_stdout = true, .capture_stderr = true};
  for (size_t i = 0; i < preserved.size(); ++i) options.fds.emplace_back(3 + static_cast<int>(i), preserved[i]);
  return Run(options, timeout);
}

absl::Status Runc::Kill(const std::string& id, int signal, bool all) {
  std::vector<std::string> args = {"kill"};
  if (all) args.push_back("--all");
  args.insert(args.end(), {id, std::to_string(signal)});
  return Call("kill", std::move(args), nullptr, kCallTimeout).status();
}

absl::Status Runc::Delete(const std::string& id, bool force) {
  absl::Status status;
  // Without state runc would only say there is no such container. containerd runs the shim's
  // `delete` after every task, when the container is long gone, so this spares a runc process
  // (about 10 ms) on every task's cleanup.
  if (StateMissing(id)) {
    status = absl::OkStatus();
  } else {
    std::vector<std::string> args = {"delete"};
    if (force) args.push_back("--force");
    args.push_back(id);
    status = Call("delete", std::move(args), nullptr, kCallTimeout).status();
    if (absl::IsNotFound(status)) status = absl::OkStatus();
  }
  // State of containers made before runc's state moved to containerd's layout: the namespace's
  // directory under /run/airlock goes with its last container. In containerd's layout it stays,
  // as containerd's runc shim leaves it (another shim of the namespace may be creating in it).
  if (status.ok() && absl::StartsWith(config_.root, "/run/airlock/")) rmdir(config_.root.c_str());
  return status;
}

bool Runc::StateMissing(const std::string& id) const {
  struct stat st;
  return !config_.root.empty() && lstat(absl::StrCat(config_.root, "/", id).c_str(), &st) != 0 && errno == ENOENT;
}

absl::Status Runc::Pause(const std::string& id) { return Call("pause", {"pause", id}, nullptr, kCallTimeout).status(); }

absl::Status Runc::Resume(const std::string& id) {
  return Call("resume", {"resume", id}, nullptr, kCallTimeout).status();
}

absl::Status Runc::Update(const std::string& id, const std::string& resources_json_path) {
  return Call("update", {"update", "--resources", resources_json_path, id}, nullptr, kCallTimeout).status();
}

absl::StatusOr<std::vector<pid_t>> Runc::Ps(const std::string& id) {
  absl::StatusOr<std::string> out = Call("ps", {"ps", "--format", "json", id}, nullptr, kCallTimeout);
  if (!out.ok()) return out.status();
  nlohmann::json pids = nlohmann::json::parse(*out, nullptr, false);
  if (pids.is_null()) return std::vector<pid_t>{};
  if (!pids.is_array()) return absl::InternalError("runc ps: unexpected output");
  std::vector<pid_t> result;
  for (const auto& p : pids) {
    if (p.is_number_integer()) result.push_back(p.get<pid_t>());
  }
  return result;
}

absl::StatusOr<pid_t> ReadPidFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return ErrnoStatus(absl::StrCat("read pid file ", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &pid) || pid <= 0) {
    return absl::InternalError(absl::StrCat("bad pid file ", path, ": '", text, "'"));
  }
  return static_cast<pid_t>(pid);
}

}  // namespace airlock::runc
