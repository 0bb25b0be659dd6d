// The real static airlock-init binary, driven outside a container: a sealed memfd built as the
// shim builds it is its payload (fd 4; fd 3 in exec mode), a SOCK_SEQPACKET socketpair plays the
// shim on fd 3, a temp dir is the entrypoint's cwd.
#include <catch2/catch.hpp>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/sandbox/init_payload.h"
#include "policy/seccomp/execution_filter.h"
#include "policy/seccomp/setup_filter.h"

namespace {

const std::string kInitBinary = std::string(AIRLOCK_BINARY_DIR) + "/bin/airlock-init";
const std::string kProbe = std::string(AIRLOCK_BINARY_DIR) + "/bin/airlock_probe";
constexpr int kTimeoutMs = 20000;

// What the shim would hand the helper (config, execution and setup filters), and a temp dir for
// the entrypoint's cwd, removed at the end.
class AirlockDir {
 public:
  AirlockDir() {
    char dir_template[] = "/tmp/airlock-init-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    path_ = dir_template;
    auto bpf = airlock::policy::BuildExecutionFilterBpf({});
    REQUIRE(bpf.ok());
    filter_ = *bpf;
    auto setup_bpf = airlock::policy::BuildSetupFilterBpf({});
    REQUIRE(setup_bpf.ok());
    setup_filter_ = *setup_bpf;
  }
  ~AirlockDir() { std::filesystem::remove_all(path_); }

  const std::string& path() const { return path_; }

  void WriteRawConfig(const std::string& text) { config_ = text; }
  void DropFilter() { filter_.clear(); }
  void DropSetupFilter() { setup_filter_.clear(); }
  void WithoutPayload() { payload_ = false; }

  // The payload as the shim makes it (sealed memfd), or -1 for a run without one. Caller closes.
  int Payload() const {
    if (!payload_) return -1;
    if (!filter_.empty()) {
      absl::StatusOr<airlock::UniqueFd> fd = airlock::sandbox::CreateInitPayload(config_, filter_, setup_filter_);
      REQUIRE(fd.ok());
      return fd->release();
    }
    // CreateInitPayload is not asked to build a broken one: seal the bytes here.
    std::string bytes = airlock::sandbox::EncodeInitPayload(config_, filter_, setup_filter_);
    int fd = memfd_create("payload", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    REQUIRE(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK) == 0);
    return fd;
  }
  // Entrypoint = the probe; secret NPM_TOKEN; cwd = this dir.
  void WriteConfig(const nlohmann::json& setup) {
    nlohmann::json config = {
        {"setup", setup},
        {"secrets", {"NPM_TOKEN", "GITHUB_TOKEN"}},
        {"entrypoint",
         {{"args", {kProbe, "report"}},
          {"env", {"PATH=/usr/bin:/bin", "NPM_TOKEN=s3cret", "GITHUB_TOKEN=gh", "KEEP=yes"}},
          {"cwd", path_}}},
    };
    WriteRawConfig(config.dump());
  }

 private:
  std::string path_;
  std::string config_;
  std::string filter_;
  std::string setup_filter_;
  bool payload_ = true;
};

// One run of the helper: its stdout+stderr in a pipe, the shim's end of fd 3.
class InitRun {
 public:
  InitRun(const AirlockDir& dir, std::vector<std::string> args, std::vector<std::string> env = {},
          bool with_shim_socket = true, bool new_pid_namespace = false) {
    // The payload's fd: 4 for the init (3 is the shim's socket), 3 for `exec`.
    const bool exec_mode = !args.empty() && args[0] == "exec";
    const int payload_target = exec_mode ? 3 : 4;
    int payload = dir.Payload();
    args.insert(args.begin(), kInitBinary);
    bool has_path = false;
    for (const auto& e : env) has_path = has_path || e.rfind("PATH=", 0) == 0;
    if (!has_path) env.push_back("PATH=/usr/bin:/bin");
    int sv[2] = {-1, -1};
    if (with_shim_socket) REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    int out[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    // A raw clone into a new pid namespace makes the helper PID 1 there, as in a container.
    pid_ = new_pid_namespace ? static_cast<pid_t>(syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0)) : fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      // As runc would start it: default signal mask, stdio, the shim's socket as fd 3.
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      // Every source above the targets first: a source that is a later target (or dup2'd onto
      // itself, keeping FD_CLOEXEC) would be lost.
      auto high = [](int fd) { return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 64); };
      int devnull = high(open("/dev/null", O_RDONLY | O_CLOEXEC));
      int output = high(out[1]);
      int socket_end = with_shim_socket ? high(sv[1]) : -1;
      int payload_fd = high(payload);
      dup2(devnull, 0);
      dup2(output, 1);
      dup2(output, 2);
      if (with_shim_socket) {
        dup2(socket_end, 3);
      } else if (!exec_mode) {
        dup2(devnull, 3);  // something that is not a socket
      }
      if (payload_fd >= 0) dup2(payload_fd, payload_target);
      execve(argv[0], argv.data(), envp.data());
      _exit(126);
    }
    close(out[1]);
    if (payload >= 0) close(payload);
    output_fd_ = out[0];
    if (with_shim_socket) {
      close(sv[1]);
      shim_fd_ = sv[0];
    }
  }

  ~InitRun() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (shim_fd_ >= 0) close(shim_fd_);
    if (output_fd_ >= 0) close(output_fd_);
  }

  pid_t pid() const { return pid_; }

  // The next message from the helper, or "<eof>" / "<timeout>". The setup command's process
  // reports its filter ("SETUP_FILTER ...", in any order with SETUP_START): kept aside.
  std::string Receive() {
    while (true) {
      pollfd p{shim_fd_, POLLIN, 0};
      if (poll(&p, 1, kTimeoutMs) != 1) return "<timeout>";
      char buf[16384];
      ssize_t n = recv(shim_fd_, buf, sizeof buf, 0);
      if (n <= 0) return "<eof>";
      std::string message(buf, static_cast<size_t>(n));
      if (message.rfind("SETUP_FILTER ", 0) != 0) return message;
      setup_reports_.push_back(message.substr(13));
    }
  }

  const std::vector<std::string>& setup_reports() const { return setup_reports_; }

  void Send(const std::string& message) {
    REQUIRE(send(shim_fd_, message.data(), message.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(message.size()));
  }

  void CloseShim() {
    close(shim_fd_);
    shim_fd_ = -1;
  }

  // Reads output until `needle` appears (or EOF / timeout).
  bool WaitForOutput(const std::string& needle) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (output_.find(needle) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline || !ReadSomeOutput(200)) return false;
    }
    return true;
  }

  // Collects all output and the exit code (128+signal when killed).
  int Wait() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (std::chrono::steady_clock::now() < deadline && ReadSomeOutput(200)) {
    }
    int status = 0;
    for (int i = 0; i < kTimeoutMs / 50; ++i) {
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("airlock-init did not exit");
    return -1;
  }

  const std::string& output() const { return output_; }

 private:
  // False at EOF.
  bool ReadSomeOutput(int timeout_ms) {
    pollfd p{output_fd_, POLLIN, 0};
    int n = poll(&p, 1, timeout_ms);
    if (n == 0) return true;
    char buf[4096];
    ssize_t got = read(output_fd_, buf, sizeof buf);
    if (got <= 0) return false;
    output_.append(buf, static_cast<size_t>(got));
    return true;
  }

  pid_t pid_ = -1;
  int shim_fd_ = -1;
  int output_fd_ = -1;
  std::string output_;
  std::vector<std::string> setup_reports_;
};

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Live or zombie children of `pid`, from /proc.
int ChildCount(pid_t pid) {
  int count = 0;
  DIR* proc = opendir("/proc");
  REQUIRE(proc != nullptr);
  while (dirent* e = readdir(proc)) {
    std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
    size_t close_paren = line.rfind(')');
    if (close_paren == std::string::npos) continue;
    char state;
    int ppid;
    if (sscanf(line.c_str() + close_paren + 1, " %c %d", &state, &ppid) == 2 && ppid == pid) ++count;
  }
  closedir(proc);
  return count;
}

void CheckSealedEntrypointOutput(const std::string& out, const std::string& cwd) {
  CHECK(Contains(out, "env:KEEP=yes\n"));
  CHECK(Contains(out, "env:PATH=/usr/bin:/bin\n"));
  CHECK(!Contains(out, "NPM_TOKEN"));
  CHECK(!Contains(out, "GITHUB_TOKEN"));
  CHECK(Contains(out, "cwd=" + cwd + "\n"));
  CHECK(Contains(out, "seccomp=2\n"));
  CHECK(Contains(out, "fd3=closed\n"));
  CHECK(Contains(out, "fd4=closed\n"));
  CHECK(Contains(out, "unshare_net=EPERM\n"));
}

}  // namespace

TEST_CASE("airlock-init is a static executable", "[init]") {
  std::ifstream file(kInitBinary, std::ios::binary);
  REQUIRE(file.good());
  Elf64_Ehdr header{};
  file.read(reinterpret_cast<char*>(&header), sizeof header);
  REQUIRE(std::memcmp(header.e_ident, ELFMAG, SELFMAG) == 0);
  bool has_interp = false, has_dynamic = false;
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr ph{};
    file.seekg(static_cast<std::streamoff>(header.e_phoff + i * header.e_phentsize));
    file.read(reinterpret_cast<char*>(&ph), sizeof ph);
    has_interp = has_interp || ph.p_type == PT_INTERP;
    has_dynamic = has_dynamic || ph.p_type == PT_DYNAMIC;
  }
  CHECK(!has_interp);
  CHECK(!has_dynamic);

  if (access("/usr/bin/ldd", X_OK) == 0) {
    FILE* ldd = popen(("/usr/bin/ldd " + kInitBinary + " 2>&1").c_str(), "r");
    REQUIRE(ldd != nullptr);
    std::string out;
    char buf[256];
    while (fgets(buf, sizeof buf, ldd) != nullptr) out += buf;
    pclose(ldd);
    CHECK(Contains(out, "not a dynamic executable"));
  }
}

TEST_CASE("airlock-init: setup succeeds, the seal runs the entrypoint filtered and without secrets", "[init]") {
  AirlockDir dir;
  dir.WriteConfig(nlohmann::json{
      {"command",
       {"sh", "-c",
        "echo setup-saw=$NPM_TOKEN in $PWD; if [ -e /proc/$$/fd/3 ]; then echo setup-fd3=open; "
        "else echo setup-fd3=closed; fi"}},
      {"timeout_ms", 60000}});
  InitRun run(dir, {});
  std::string start = run.Receive();
  CHECK(start.rfind("SETUP_START ", 0) == 0);
  CHECK(std::stoi(start.substr(12)) > 0);
  CHECK(run.Receive() == "SETUP_EXIT 0");
  // Nothing runs before the seal.
  CHECK(!Contains(run.output(), "env:"));
  run.Send("SEALED");
  CHECK(run.Wait() == 0);
  INFO(run.output());
  CHECK(Contains(run.output(), "setup-saw=s3cret in " + dir.path() + "\n"));
  // The shim's socket never reaches setup.
  CHECK(Contains(run.output(), "setup-fd3=closed\n"));
  CheckSealedEntrypointOutput(run.output(), dir.path());
}

TEST_CASE("airlock-init: setup runs under the setup filter, the helper itself stays unfiltered", "[init]") {
  AirlockDir dir;
  // The setup command shows its own seccomp state and that of the helper, its parent.
  dir.WriteConfig(nlohmann::json{
      {"command",
       {"sh", "-c",
        "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | sed 's/^/setup-/'; "
        "grep '^Seccomp:' /proc/$PPID/status | sed 's/^/helper-/'"}}});
  InitRun run(dir, {});
  CHECK(run.Receive().rfind("SETUP_START ", 0) == 0);
  CHECK(run.Receive() == "SETUP_EXIT 0");
  run.Send("SEALED");
  CHECK(run.Wait() == 0);
  INFO(run.output());
  CHECK(Contains(run.output(), "setup-Seccomp:\t2\n"));
  CHECK(Contains(run.output(), "setup-NoNewPrivs:\t1\n"));
  CHECK(Contains(run.output(), "helper-Seccomp:\t0\n"));
  // The entrypoint still gets the execution filter.
  CheckSealedEntrypointOutput(run.output(), dir.path());

  // The report the setup command's process sent from under its filter, before the exec.
  REQUIRE(run.setup_reports().size() == 1);
  nlohmann::json report = nlohmann::json::parse(run.setup_reports()[0], nullptr, false);
  INFO(run.setup_reports()[0]);
  REQUIRE(report.is_object());
  CHECK(report["held"] == true);
  std::vector<std::string> names;
  for (const auto& p : report["probes"]) names.push_back(p["name"]);
  CHECK(std::find(names.begin(), names.end(), "setup.socket.vsock-denied") != names.end());
  CHECK(std::find(names.begin(), names.end(), "setup.ns.user-denied") != names.end());
  CHECK(std::find(names.begin(), names.end(), "setup.mount-denied") != names.end());
}

TEST_CASE("airlock-init: a setup command without its filter never runs", "[init]") {
  AirlockDir dir;
  dir.WriteConfig(nlohmann::json{{"command", {"sh", "-c", "echo setup-ran"}}});
  dir.DropSetupFilter();
  InitRun run(dir, {});
  CHECK(run.Wait() == 1);
  INFO(run.output());
  CHECK(Contains(run.output(), "airlock-init: setup filter: missing"));
  CHECK(!Contains(run.output(), "setup-ran"));
}

TEST_CASE("airlock-init: no setup reports SETUP_EXIT 0 at once", "[init]") {
  AirlockDir dir;
  dir.WriteConfig(nullptr);
  InitRun run(dir, {});
  CHECK(run.Receive() == "SETUP_EXIT 0");
  run.Send("SEALED\n");
  CHECK(run.Wait() == 0);
  INFO(run.output());
  CheckSealedEntrypointOutput(run.output(), dir.path());
}

TEST_CASE("airlock-init: a failed setup exits with its code and never runs the entrypoint", "[init]") {
  AirlockDir dir;
  SECTION("exit code") {
    dir.WriteConfig(nlohmann::json{{"command", {"sh", "-c", "exit 7"}}});
    InitRun run(dir, {});
    CHECK(run.Receive().rfind("SETUP_START ", 0) == 0);
    CHECK(run.Receive() == "SETUP_EXIT 7");
    run.Send("EXIT 7");  // the shim's verdict: a setup that failed on its own
    CHECK(run.Wait() == 7);
    CHECK(!Contains(run.output(), "env:"));
    CHECK(Contains(run.output(), "airlock-init: setup command sh failed with 7"));
  }
  SECTION("killed by a signal") {
    dir.WriteConfig(nlohmann::json{{"command", {"sh", "-c", "kill -KILL $$"}}});
    InitRun run(dir, {});
    CHECK(run.Receive().rfind("SETUP_START ", 0) == 0);
    CHECK(run.Receive() == "SETUP_EXIT 137");
    run.Send("EXIT 137");  // the shim's verdict: a setup that failed on its own
    CHECK(run.Wait() == 137);
    CHECK(!Contains(run.output(), "env:"));
  }
  SECTION("command not found") {
    dir.WriteConfig(nlohmann::json{{"command", {"no-such-setup-command"}}});
    InitRun run(dir, {});
    CHECK(run.Receive().rfind("SETUP_START ", 0) == 0);
    CHECK(run.Receive() == "SETUP_EXIT 127");
    run.Send("EXIT 127");  // the shim's verdict: a setup that failed on its own
    CHECK(run.Wait() == 127);
    CHECK(Contains(run.output(), "airlock-init: setup: exec no-such-setup-command: No such file or directory"));
  }
}

TEST_CASE("airlock-init: a setup killed by the seal is followed by the entrypoint", "[init]") {
  AirlockDir dir;
  dir.WriteConfig(nlohmann::json{{"command", {"sh", "-c", "echo ready; sleep 60"}}});
  InitRun run(dir, {});
  std::string start = run.Receive();
  REQUIRE(start.rfind("SETUP_START ", 0) == 0);
  REQUIRE(run.WaitForOutput("ready"));
  // The shim's seal kills every setup process, then says SEALED: the helper must wait for it.
  REQUIRE(kill(std::stoi(start.substr(12)), SIGKILL) == 0);
  CHECK(run.Receive() == "SETUP_EXIT 137");
  run.Send("SEALED");
  CHECK(run.Wait() == 0);
  CheckSealedEntrypointOutput(run.output(), dir.path());
}

TEST_CASE("airlock-init: a malformed EXIT fails closed", "[init]") {
  AirlockDir dir;
  dir.WriteConfig(nlohmann::json{{"command", {"sh", "-c", "exit 3"}}});
  InitRun run(dir, {});
  CHECK(run.Receive().rfind("SETUP_START ", 0) == 0);
  CHECK(run.Receive() == "SETUP_EXIT 3");
  run.Send("EXIT 999");
  CHECK(run.Wait() == 1);
  CHECK(!Contains(run.output(), "env:"));
}

TEST_CASE("airlock-init: losing the shim before the seal fails closed", "[init]") {
  AirlockDir dir;
  dir.WriteConfig(nullptr);
  InitRun run(dir, {});
  CHECK(run.Receive() == "SETUP_EXIT 0");
  run.CloseShim();
  CHECK(run.Wait() == 1);
  CHECK(!Contains(run.output(), "env:"));
  CHECK(Contains(run.output(), "airlock-init: the shim closed the connection before the seal"));
}

TEST_CASE("airlock-init: ABORT fails closed", "[init]") {
  AirlockDir dir;
  SECTION("after setup") {
    dir.WriteConfig(nullptr);
    InitRun run(dir, {});
    CHECK(run.Receive() == "SETUP_EXIT 0");
    run.Send("ABORT seal verification failed");
    CHECK(run.Wait() == 128 + SIGKILL);  // as if the shim's kill came first
    CHECK(!Contains(run.output(), "env:"));
    CHECK(Contains(run.output(), "airlock-init: aborted by the shim: seal verification failed"));
  }
  SECTION("during setup, which is killed") {
    dir.WriteConfig(nlohmann::json{{"command", {"sleep", "60"}}});
    InitRun run(dir, {});
    CHECK(run.Receive().rfind("SETUP_START ", 0) == 0);
    run.Send("ABORT deadline");
    CHECK(run.Wait() == 128 + SIGKILL);  // as if the shim's kill came first
    CHECK(!Contains(run.output(), "env:"));
    CHECK(ChildCount(run.pid()) == 0);
  }
  SECTION("an unknown message") {
    dir.WriteConfig(nullptr);
    InitRun run(dir, {});
    CHECK(run.Receive() == "SETUP_EXIT 0");
    run.Send("SEALED please");
    CHECK(run.Wait() == 1);
    CHECK(!Contains(run.output(), "env:"));
    CHECK(Contains(run.output(), "airlock-init: unexpected message from the shim"));
  }
}

TEST_CASE("airlock-init: a seal during setup kills setup, then runs the entrypoint", "[init]") {
  AirlockDir dir;
  dir.WriteConfig(nlohmann::json{{"command", {"sh", "-c", "echo setup-running; exec sleep 60"}}});
  InitRun run(dir, {});
  CHECK(run.Receive().rfind("SETUP_START ", 0) == 0);
  REQUIRE(run.WaitForOutput("setup-running"));
  run.Send("SEALED");
  CHECK(run.Wait() == 0);
  INFO(run.output());
  CheckSealedEntrypointOutput(run.output(), dir.path());
}

TEST_CASE("airlock-init: forwards SIGTERM to setup", "[init]") {
  AirlockDir dir;
  dir.WriteConfig(nlohmann::json{
      {"command", {"sh", "-c", "sleep 60 & p=$!; trap 'kill $p; echo got-term; exit 42' TERM; echo ready; wait $p"}}});
  InitRun run(dir, {});
  CHECK(run.Receive().rfind("SETUP_START ", 0) == 0);
  REQUIRE(run.WaitForOutput("ready"));
  REQUIRE(kill(run.pid(), SIGTERM) == 0);
  CHECK(run.Receive() == "SETUP_EXIT 42");
  run.Send("EXIT 42");
  CHECK(run.Wait() == 42);
  CHECK(Contains(run.output(), "got-term"));
  CHECK(!Contains(run.output(), "env:"));
}

TEST_CASE("airlock-init: SIGTERM while waiting for the seal ends the helper", "[init]") {
  AirlockDir dir;
  dir.WriteConfig(nullptr);
  InitRun run(dir, {});
  CHECK(run.Receive() == "SETUP_EXIT 0");
  REQUIRE(kill(run.pid(), SIGTERM) == 0);
  CHECK(run.Wait() == 128 + SIGTERM);
  CHECK(!Contains(run.output(), "env:"));
}

TEST_CASE("airlock-init as PID 1: signals from inside the container cannot end it", "[init]") {
  if (geteuid() != 0) {
    WARN("needs root for a pid namespace");
    return;
  }
  AirlockDir dir;
  // Setup signals PID 1 while it runs (not forwarded back to it) and from a leftover afterwards.
  dir.WriteConfig(nlohmann::json{
      {"command",
       {"sh", "-c",
        "kill -TERM 1; kill -INT 1; echo signalled-init; (sleep 0.2; kill -TERM 1; echo late-signal-sent) & exit 0"}}});
  InitRun run(dir, {}, {}, true, /*new_pid_namespace=*/true);
  CHECK(run.Receive().rfind("SETUP_START ", 0) == 0);
  CHECK(run.Receive() == "SETUP_EXIT 0");
  REQUIRE(run.WaitForOutput("late-signal-sent"));
  CHECK(Contains(run.output(), "signalled-init"));
  run.Send("SEALED");
  CHECK(run.Wait() == 0);
  INFO(run.output());
  CheckSealedEntrypointOutput(run.output(), dir.path());
}

TEST_CASE("airlock-init as PID 1: the shim's SIGTERM ends it before the seal", "[init]") {
  if (geteuid() != 0) {
    WARN("needs root for a pid namespace");
    return;
  }
  AirlockDir dir;
  dir.WriteConfig(nullptr);
  InitRun run(dir, {}, {}, true, /*new_pid_namespace=*/true);
  CHECK(run.Receive() == "SETUP_EXIT 0");
  REQUIRE(kill(run.pid(), SIGTERM) == 0);
  CHECK(run.Wait() == 128 + SIGTERM);
  CHECK(!Contains(run.output(), "env:"));
}

TEST_CASE("airlock-init: reaps the orphans setup leaves behind", "[init]") {
  AirlockDir dir;
  // The inner shell exits at once; its `sleep` is orphaned to the helper and exits shortly after.
  dir.WriteConfig(nlohmann::json{{"command", {"sh", "-c", "sh -c 'sleep 0.3 &'; exit 0"}}});
  InitRun run(dir, {});
  CHECK(run.Receive().rfind("SETUP_START ", 0) == 0);
  CHECK(run.Receive() == "SETUP_EXIT 0");
  int children = -1;
  for (int i = 0; i < 200 && children != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    children = ChildCount(run.pid());
  }
  CHECK(children == 0);
  run.Send("SEALED");
  CHECK(run.Wait() == 0);
}

TEST_CASE("airlock-init exec mode filters, drops secrets and execs", "[init]") {
  AirlockDir dir;
  dir.WriteConfig(nullptr);
  SECTION("runs the command") {
    // The probe is found through PATH, as execvp would.
    InitRun run(dir, {"exec", "--", "airlock_probe", "report"},
                {"PATH=" + std::string(AIRLOCK_BINARY_DIR) + "/bin:/usr/bin:/bin", "NPM_TOKEN=s3cret", "KEEP=yes",
                 "GITHUB_TOKEN=gh"},
                false);
    CHECK(run.Wait() == 0);
    INFO(run.output());
    CHECK(Contains(run.output(), "env:KEEP=yes\n"));
    CHECK(!Contains(run.output(), "NPM_TOKEN"));
    CHECK(!Contains(run.output(), "GITHUB_TOKEN"));
    CHECK(Contains(run.output(), "seccomp=2\n"));
    CHECK(Contains(run.output(), "fd3=closed\n"));  // the payload went with the helper
    CHECK(Contains(run.output(), "unshare_net=EPERM\n"));
  }
  SECTION("no payload on fd 3: nothing runs") {
    dir.WithoutPayload();
    InitRun run(dir, {"exec", "--", "airlock_probe", "report"}, {}, false);
    CHECK(run.Wait() == 1);
    CHECK(Contains(run.output(), "airlock-init: fd 3 is not the shim's payload"));
    CHECK(!Contains(run.output(), "seccomp="));
  }
  SECTION("usage errors") {
    InitRun run(dir, {"exec", "airlock_probe"}, {}, false);
    CHECK(run.Wait() == 2);
    CHECK(Contains(run.output(), "airlock-init: usage:"));
  }
  SECTION("command not found") {
    InitRun run(dir, {"exec", "--", "no-such-command"}, {}, false);
    CHECK(run.Wait() == 127);
    CHECK(Contains(run.output(), "airlock-init: exec no-such-command: No such file or directory"));
  }
}

TEST_CASE("airlock-init: a broken airlock fails before anything runs", "[init]") {
  AirlockDir dir;
  SECTION("bad config") {
    dir.WriteRawConfig(std::string(R"({"entrypoint": {"args": ["x"]}, "bogus": 1})"));
    InitRun run(dir, {});
    CHECK(run.Receive() == "<eof>");
    CHECK(run.Wait() == 1);
    CHECK(Contains(run.output(), "airlock-init: config: unknown key \"bogus\"\n"));
  }
  SECTION("no filter") {
    dir.WriteConfig(nullptr);
    dir.DropFilter();
    InitRun run(dir, {});
    CHECK(run.Receive() == "<eof>");
    CHECK(run.Wait() == 1);
    CHECK(Contains(run.output(), "airlock-init: execution filter: not a seccomp BPF program (0 bytes)\n"));
  }
  SECTION("no payload") {
    dir.WriteConfig(nullptr);
    dir.WithoutPayload();
    InitRun run(dir, {});
    CHECK(run.Receive() == "<eof>");
    CHECK(run.Wait() == 1);
    CHECK(Contains(run.output(), "airlock-init: fd 4 is not the shim's payload (Bad file descriptor)\n"));
  }
  SECTION("fd 3 is not a socket") {
    dir.WriteConfig(nullptr);
    InitRun run(dir, {}, {}, false);
    CHECK(run.Wait() == 1);
    CHECK(Contains(run.output(), "airlock-init: fd 3 is not the shim's socket\n"));
  }
  SECTION("entrypoint not found") {
    dir.WriteRawConfig(
        std::string(R"({"entrypoint": {"args": ["no-such-entrypoint"], "env": ["PATH=/nonexistent"]}})"));
    InitRun run(dir, {});
    CHECK(run.Receive() == "SETUP_EXIT 0");
    run.Send("SEALED");
    CHECK(run.Wait() == 127);
    CHECK(Contains(run.output(), "airlock-init: exec no-such-entrypoint: No such file or directory\n"));
  }
  SECTION("unexpected arguments") {
    dir.WriteConfig(nullptr);
    InitRun run(dir, {"init"});
    CHECK(run.Wait() == 2);
    CHECK(Contains(run.output(), "airlock-init: usage:"));
  }
}
