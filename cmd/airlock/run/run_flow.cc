#include "cmd/airlock/run/run_flow.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cmd/airlock/containerd/connection.h"
#include "cmd/airlock/containerd/image_resolver.h"
#include "cmd/airlock/control_client.h"
#include "cmd/airlock/run/audit_excerpt.h"
#include "cmd/airlock/run/interrupt.h"
#include "cmd/airlock/run/leftovers.h"
#include "cmd/airlock/run/oci_spec.h"
#include "cmd/airlock/run/reporter.h"
#include "cmd/airlock/run/run_policy.h"
#include "cmd/airlock/run/run_summary.h"
#include "cmd/airlock/run/sandbox_session.h"
#include "cmd/airlock/run/secret_scan.h"
#include "cmd/airlock/run/workspace.h"
#include "cmd/airlock/sandbox_args.h"
#include "cmd/airlock/sandbox_view.h"
#include "policy/load.h"
#include "policy/repo_path.h"
#include "policy/source.h"

namespace airlock::run {
namespace {

constexpr char kDefaultPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// The container's own process between the seal and the end: it only keeps the sandbox open
// for the agent and the check, which run as execs.
const std::vector<std::string> kIdleCommand = {"sleep", "2147483647"};
constexpr size_t kAuditExcerptLines = 14;

std::string Short(const std::string& commit) { return commit.substr(0, 12); }

std::string NewTaskId() {
  unsigned char random[3] = {0, 0, 0};
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t ignored = read(fd, random, sizeof random);
    (void)ignored;
    close(fd);
  }
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%02x%02x%02x", random[0], random[1], random[2]);
  return absl::StrCat("run-", absl::FormatTime("%Y%m%d-%H%M%S", absl::Now(), absl::UTCTimeZone()), "-", suffix);
}

absl::Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir ", path, ": ", ec.message()));
  return absl::OkStatus();
}

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::vector<std::string> words;
  for (const std::string& a : argv) {
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`;&|<>(){}*?!#~") == std::string::npos;
    words.push_back(plain ? a : "'" + a + "'");
  }
  return absl::StrJoin(words, " ");
}

std::string FormatSeconds(absl::Duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2fs", absl::ToDoubleSeconds(d));
  return text;
}

// lchown of `root` and everything under it (symlinks themselves, never their targets).
absl::Status ChownTree(const std::string& root, uint32_t uid, uint32_t gid) {
  if (lchown(root.c_str(), uid, gid) != 0) return absl::InternalError(absl::StrCat("chown ", root, ": ", strerror(errno)));
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec); !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    if (lchown(it->path().c_str(), uid, gid) != 0) {
      return absl::InternalError(absl::StrCat("chown ", it->path().string(), ": ", strerror(errno)));
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("chown ", root, ": ", ec.message()));
  return absl::OkStatus();
}

// Everything one run holds; the steps below fill it in order.
class Run {
 public:
  explicit Run(const RunArgs& args) : args_(args), started_(absl::Now()), reporter_(args.json, started_) {}

  RunExit Execute();

 private:
  RunExit Fail(RunExit code, const std::string& message) {
    if (exit_ == RunExit::kOk || code == RunExit::kCleanup) summary_.failure = message;
    exit_ = CombineExit(exit_, code);
    return exit_;
  }
  bool Interrupted() const { return watcher_ && watcher_->signal() != 0; }

  // Step 0: inputs. Nothing is created before all of them are fine.
  bool CheckInputs();
  // Steps 1-4.
  bool MakeWorkspace();
  bool CreateSandbox();
  bool SetupAndSeal();
  void RunAgentAndCheck();
  // Step 5 and the end.
  void StopSandbox();
  void Review();
  void DestroyAndVerify();
  void Finish();

  const RunArgs& args_;
  const absl::Time started_;
  Reporter reporter_;
  RunExit exit_ = RunExit::kOk;
  RunSummary summary_;
  std::unique_ptr<InterruptWatcher> watcher_;

  std::vector<Secret> secrets_;
  policy::HostConfig host_;
  SourceRepo repo_;
  ChosenPolicy policy_;
  std::string id_, branch_, work_dir_, task_dir_;
  std::unique_ptr<containerd::Connection> connection_;
  containerd::ResolvedImage image_;
  std::string snapshotter_;
  std::pair<uint32_t, uint32_t> user_{0, 0};
  std::optional<Workspace> workspace_;
  std::unique_ptr<SandboxSession> sandbox_;
  std::vector<std::string> container_env_;
  PhaseRecord setup_{"setup"}, agent_{"agent"}, check_{"check"};
  std::vector<std::string> destroy_problems_;
};

RunExit Run::Execute() {
  absl::StatusOr<std::unique_ptr<InterruptWatcher>> watcher = InterruptWatcher::Start([this](int signal) {
    const char* name = sigabbrev_np(signal);
    reporter_.Error(absl::StrCat("interrupted by SIG", name != nullptr ? name : std::to_string(signal),
                                 ": destroying the sandbox (nothing is kept)"));
    if (connection_) connection_->canceller().Cancel();
  });
  if (!watcher.ok()) {
    reporter_.Error(std::string(watcher.status().message()));
    return RunExit::kInternal;
  }
  watcher_ = *std::move(watcher);
  if (!CheckInputs()) {
    if (Interrupted()) {
      exit_ = RunExit::kInterrupted;
      summary_.failure = "interrupted before anything was created";
    }
    // Nothing was created: the message is the whole answer (JSON: and a summary for machines).
    reporter_.Error(summary_.failure);
    if (args_.json) {
      reporter_.Summary({{"id", id_}, {"exit_code", static_cast<int>(exit_)}, {"failed_phase", InfoOf(exit_).name},
                         {"failure", summary_.failure}, {"created", false}},
                        "");
    }
    return exit_;
  }
  if (MakeWorkspace() && CreateSandbox() && SetupAndSeal()) RunAgentAndCheck();
  StopSandbox();
  Review();
  DestroyAndVerify();
  Finish();
  return exit_;
}

bool Run::CheckInputs() {
  for (const std::string& name : args_.secrets) {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr || value[0] == '\0') {
      Fail(RunExit::kBadInput, absl::StrCat("--secret ", name, ": ", name, " is not set in this environment"));
      return false;
    }
    secrets_.push_back({name, value});
  }
  std::vector<std::pair<std::string, std::string>> redactions;
  for (const Secret& s : secrets_) redactions.emplace_back(s.name, s.value);
  reporter_.SetRedactions(std::move(redactions));

  const std::string host_path = HostConfigPath();
  absl::StatusOr<policy::HostConfig> host = policy::LoadHostConfig(host_path);
  if (!host.ok()) return Fail(RunExit::kBadInput, absl::StrCat("host config: ", host.status().message())), false;
  host_ = *std::move(host);

  absl::StatusOr<SourceRepo> repo = InspectRepo(args_.repo);
  if (!repo.ok()) return Fail(RunExit::kBadInput, std::string(repo.status().message())), false;
  repo_ = *std::move(repo);
  summary_.repo = repo_.toplevel;
  summary_.base = absl::StrCat(Short(repo_.head_commit), " (", repo_.head_name, ")");
  absl::StatusOr<std::vector<std::string>> dirty = UncommittedPaths(repo_);
  if (!dirty.ok()) return Fail(RunExit::kBadInput, std::string(dirty.status().message())), false;
  if (!dirty->empty() && !args_.allow_dirty) {
    std::vector<std::string> shown(dirty->begin(), dirty->begin() + std::min<size_t>(dirty->size(), 5));
    std::string more = dirty->size() > shown.size() ? absl::StrCat(", and ", dirty->size() - shown.size(), " more") : "";
    Fail(RunExit::kBadInput,
         absl::StrCat("repository ", repo_.toplevel, " has uncommitted changes (", absl::StrJoin(shown, ", "), more,
                      "): the sandbox starts from HEAD ", Short(repo_.head_commit),
                      " and would not see them; commit or stash them, or pass --allow-dirty"));
    return false;
  }

  id_ = args_.id.empty() ? NewTaskId() : args_.id;
  if (!cli::IsValidIdentifier(id_)) {
    return Fail(RunExit::kBadInput, absl::StrCat("--id ", id_, ": letters and digits joined by . _ - (at most 76)")), false;
  }
  summary_.id = id_;
  branch_ = "airlock/" + id_;
  if (absl::Status s = CheckBranchAbsent(repo_, branch_); !s.ok()) return Fail(RunExit::kBadInput, std::string(s.message())), false;

  absl::StatusOr<ChosenPolicy> policy = ChooseRunPolicy(args_.policy, host_, args_.secrets);
  if (!policy.ok()) return Fail(RunExit::kBadInput, std::string(policy.status().message())), false;
  policy_ = *std::move(policy);
  summary_.policy = policy_.description;

  if (!args_.work_dir.empty()) {
    work_dir_ = args_.work_dir;
  } else if (!host_.allowed_repo_roots.empty()) {
    work_dir_ = host_.allowed_repo_roots.front() + "/airlock-run";
  } else {
    Fail(RunExit::kBadInput, absl::StrCat("the host config (", host_path,
                                          ") allows no repository roots (allowed_repo_roots), so no workspace can be "
                                          "mounted; add one, or pass --work-dir under one"));
    return false;
  }
  if (work_dir_.front() != '/') {
    char* cwd = getcwd(nullptr, 0);
    work_dir_ = absl::StrCat(cwd != nullptr ? cwd : "", "/", work_dir_);
    free(cwd);
  }
  // The workspace will be <work dir>/<id>/repo: it must pass the shim's check.
  bool under_root = false;
  for (const std::string& root : host_.allowed_repo_roots) {
    under_root = under_root || (work_dir_.rfind(root + "/", 0) == 0) || work_dir_ == root;
  }
  if (!under_root) {
    Fail(RunExit::kBadInput, absl::StrCat("--work-dir ", work_dir_, " is not under an allowed repository root of the host config (",
                                          absl::StrJoin(host_.allowed_repo_roots, ", "), ")"));
    return false;
  }

  std::string address = args_.address.empty() ? containerd::DefaultAddress() : args_.address;
  std::string name_space = args_.name_space.empty() ? containerd::DefaultNamespace() : args_.name_space;
  if (!cli::IsValidIdentifier(name_space)) return Fail(RunExit::kBadInput, absl::StrCat("--namespace ", name_space, ": not a valid name")), false;
  absl::StatusOr<std::unique_ptr<containerd::Connection>> connection = containerd::Connection::Open(address, name_space);
  if (!connection.ok()) return Fail(RunExit::kContainerd, std::string(connection.status().message())), false;
  connection_ = *std::move(connection);
  if (Interrupted()) connection_->canceller().Cancel();
  absl::StatusOr<containerd::api::version::VersionResponse> version = containerd::GetVersion(*connection_);
  if (!version.ok()) {
    return Fail(RunExit::kContainerd, absl::StrCat("containerd at ", address, " does not answer: ", version.status().message())), false;
  }
  absl::StatusOr<containerd::ResolvedImage> image = containerd::ResolveImage(*connection_, args_.image, containerd::HostPlatform());
  if (!image.ok()) return Fail(RunExit::kContainerd, std::string(image.status().message())), false;
  image_ = *std::move(image);
  summary_.image = image_.name;
  const char* env_snapshotter = std::getenv("CONTAINERD_SNAPSHOTTER");
  snapshotter_ = !args_.snapshotter.empty() ? args_.snapshotter
                 : (env_snapshotter != nullptr && env_snapshotter[0] != '\0') ? env_snapshotter : "overlayfs";
  if (absl::Status s = containerd::CheckUnpacked(*connection_, image_, snapshotter_); !s.ok()) {
    return Fail(RunExit::kContainerd, std::string(s.message())), false;
  }
  absl::StatusOr<std::pair<uint32_t, uint32_t>> user = ParseImageUser(image_.config.user);
  if (!user.ok()) return Fail(RunExit::kBadInput, std::string(user.status().message())), false;
  user_ = *user;
  if (Interrupted()) return Fail(RunExit::kInterrupted, "interrupted before anything was created"), false;
  return true;
}

bool Run::MakeWorkspace() {
  reporter_.Text(absl::StrCat("airlock run ", id_, ": ", JoinArgv(args_.agent), "\n"));
  reporter_.Phase("task", PhaseState::kInfo,
                  absl::StrCat(id_, " | image ", image_.name, " | policy: ", policy_.description),
                  {{"id", id_}, {"image", image_.name}, {"policy", policy_.description}, {"namespace", connection_->name_space()}});
  task_dir_ = absl::StrCat(work_dir_, "/", id_);
  if (absl::Status s = MakeDirs(work_dir_); !s.ok()) return Fail(RunExit::kInternal, std::string(s.message())), false;
  if (mkdir(task_dir_.c_str(), 0700) != 0) {
    task_dir_.clear();  // not ours: never removed
    return Fail(RunExit::kBadInput, absl::StrCat("task directory ", work_dir_, "/", id_, ": ", strerror(errno))), false;
  }
  absl::StatusOr<Workspace> workspace = Workspace::Create(repo_, task_dir_, branch_);
  if (!workspace.ok()) return Fail(RunExit::kInternal, absl::StrCat("workspace: ", workspace.status().message())), false;
  workspace_ = *std::move(workspace);
  if (user_.first != 0) {
    // The image's user must be able to edit its workspace.
    if (absl::Status s = ChownTree(workspace_->dir(), user_.first, user_.second); !s.ok()) {
      return Fail(RunExit::kInternal, std::string(s.message())), false;
    }
  }
  absl::StatusOr<std::string> checked = policy::ResolveRepoPath(workspace_->dir(), host_.allowed_repo_roots);
  if (!checked.ok()) {
    return Fail(RunExit::kBadInput, absl::StrCat("the workspace ", workspace_->dir(), " would be refused by the shim: ",
                                                 checked.status().message())), false;
  }
  if (policy_.builtin) {
    policy_.path = task_dir_ + "/policy.yaml";
    std::ofstream out(policy_.path);
    out << policy_.builtin_yaml;
    if (!out) return Fail(RunExit::kInternal, absl::StrCat("cannot write ", policy_.path)), false;
  }
  if (absl::Status s = MakeDirs(task_dir_ + "/io"); !s.ok()) return Fail(RunExit::kInternal, std::string(s.message())), false;
  reporter_.Phase("workspace", PhaseState::kOk,
                  absl::StrCat(workspace_->dir(), " from ", Short(repo_.head_commit), " (", repo_.head_name, ") of ",
                               repo_.toplevel),
                  {{"workspace", workspace_->dir()}, {"base", repo_.head_commit}});
  return true;
}

bool Run::CreateSandbox() {
  if (Interrupted()) return Fail(RunExit::kInterrupted, "interrupted"), false;
  std::vector<std::string> image_env = image_.config.env.empty() ? std::vector<std::string>{kDefaultPath} : image_.config.env;
  std::vector<std::string> secret_env;
  for (const Secret& s : secrets_) secret_env.push_back(s.name + "=" + s.value);
  container_env_ = MergeEnv(image_env, secret_env);
  ContainerSpec spec;
  spec.id = id_;
  spec.name_space = connection_->name_space();
  spec.process = {kIdleCommand, container_env_, policy_.policy.workspace.target, user_.first, user_.second};
  spec.annotations[std::string(policy::kRepoAnnotation)] = workspace_->dir();
  if (!args_.setup.empty()) spec.annotations[std::string(policy::kSetupAnnotation)] = args_.setup;

  SandboxPlan plan;
  plan.id = id_;
  plan.snapshotter = snapshotter_;
  plan.image_name = image_.name;
  plan.chain_id = image_.chain_id;
  plan.policy_path = policy_.path;
  plan.spec_json = BuildSpecJson(spec);
  plan.io_dir = task_dir_ + "/io";
  if (policy_.policy.network.setup.uplink.kind == policy::UplinkKind::kNetns) {
    plan.upstream_netns = policy_.policy.network.setup.uplink.netns_path;
  }
  plan.labels = {{"airlock.dev/run", id_}, {"airlock.dev/source", repo_.toplevel}};
  sandbox_ = std::make_unique<SandboxSession>(*connection_, reporter_, std::move(plan));
  absl::Status created = sandbox_->Create();
  if (created.ok()) created = sandbox_->Start();
  if (!created.ok()) {
    if (Interrupted() || absl::IsCancelled(created)) return Fail(RunExit::kInterrupted, "interrupted"), false;
    reporter_.Phase("sandbox", PhaseState::kFailed, std::string(created.message()));
    return Fail(RunExit::kSandbox, std::string(created.message())), false;
  }
  reporter_.Phase("sandbox", PhaseState::kOk,
                  absl::StrCat("container ", id_, " started: runtime ", kAirlockRuntime, ", snapshot on ",
                               Short(image_.chain_id.substr(7)), " (", snapshotter_, "), lease ", sandbox_->traces().lease),
                  {{"runtime", kAirlockRuntime}, {"snapshotter", snapshotter_}, {"lease", sandbox_->traces().lease}});
  return true;
}

bool Run::SetupAndSeal() {
  const policy::Policy& p = policy_.policy;
  std::string setup_command = !args_.setup.empty() ? args_.setup : JoinArgv(p.setup.command);
  std::string uplink = policy::ToString(p.network.setup.uplink);
  if (!setup_command.empty()) {
    reporter_.Phase("setup", PhaseState::kStart,
                    absl::StrCat("running `", setup_command, "` with network (uplink ", uplink, "), timeout ",
                                 absl::FormatDuration(p.setup.timeout),
                                 secrets_.empty() ? "" : absl::StrCat(", secrets ", absl::StrJoin(args_.secrets, ", "))));
  } else {
    setup_.note = "none (no setup command)";
  }
  absl::Time setup_started = absl::Now();
  SealWait wait = sandbox_->WaitSealed(p.setup.timeout + absl::Seconds(60));
  const airlock::v1::SandboxStatus& st = wait.status;
  setup_.ran = st.setup_ran();
  setup_.duration = absl::Now() - setup_started;
  if (st.setup_ran() && (st.phase() == "sealed" || st.phase() == "failed" || wait.init_exit)) {
    setup_.exit_code = st.setup_exit_code();
  }
  reporter_.FlushOutput("setup");
  switch (wait.result) {
    case SealWait::Result::kSealed:
      break;
    case SealWait::Result::kInterrupted:
      return Fail(RunExit::kInterrupted, "interrupted during setup"), false;
    case SealWait::Result::kSetupFailed: {
      int code = wait.init_exit ? static_cast<int>(*wait.init_exit) : st.setup_exit_code();
      setup_.exit_code = st.setup_exit_code();
      reporter_.Phase("setup", PhaseState::kFailed, absl::StrCat("exit ", code, " in ", FormatSeconds(setup_.duration),
                                                                   ": the agent does not run"),
                      {{"exit_code", code}});
      return Fail(RunExit::kSetup, absl::StrCat("setup failed with exit code ", code)), false;
    }
    case SealWait::Result::kSetupTimedOut:
      reporter_.Phase("setup", PhaseState::kFailed,
                      absl::StrCat("did not finish within ", absl::FormatDuration(p.setup.timeout),
                                   ": the deadline sealed the sandbox and killed it; the agent does not run"));
      return Fail(RunExit::kSetup, "setup did not finish before its timeout"), false;
    case SealWait::Result::kExited: {
      std::string why = absl::StrCat("the container exited (", wait.init_exit ? absl::StrCat("status ", *wait.init_exit) : "?",
                                     ") before the seal", wait.message.empty() ? "" : ": " + wait.message);
      bool setup_failed = st.setup_ran() && st.setup_exit_code() != 0;
      reporter_.Phase(setup_failed ? "setup" : "seal", PhaseState::kFailed, why);
      return Fail(setup_failed ? RunExit::kSetup : RunExit::kSeal, why), false;
    }
    default: {
      std::string why = wait.message.empty() ? std::string("the seal could not be verified") : wait.message;
      reporter_.Phase("seal", PhaseState::kFailed, absl::StrCat(why, ": the agent does not run"));
      return Fail(RunExit::kSeal, why), false;
    }
  }
  if (setup_.ran) {
    reporter_.Phase("setup", PhaseState::kOk, absl::StrCat("exit ", st.setup_exit_code(), " in ", FormatSeconds(setup_.duration)),
                    {{"exit_code", st.setup_exit_code()}, {"duration_s", absl::ToDoubleSeconds(setup_.duration)}});
  }
  summary_.seal = cli::SealSummary(st);
  summary_.seal_findings.assign(st.seal_findings().begin(), st.seal_findings().end());
  // The probe battery, run inside the sandbox as the agent would run: the agent starts only when
  // every promise holds.
  absl::StatusOr<airlock::v1::VerifyResponse> verify = sandbox_->Verify();
  if (!verify.ok()) {
    if (Interrupted()) return Fail(RunExit::kInterrupted, "interrupted during the seal"), false;
    reporter_.Phase("seal", PhaseState::kFailed, absl::StrCat(summary_.seal, "; probes could not run: ", verify.status().message()));
    return Fail(RunExit::kSeal, absl::StrCat("verification: ", verify.status().message())), false;
  }
  std::vector<std::string> broken;
  for (const airlock::v1::Probe& probe : verify->probes()) {
    if (probe.result() != "held" && probe.result() != "info") broken.push_back(probe.name() + " " + probe.result());
  }
  nlohmann::json probes = cli::VerifyJson(*verify)["probes"];
  if (!cli::VerifyHeld(*verify)) {
    std::string why = broken.empty() ? "no probes ran" : absl::StrJoin(broken, ", ");
    reporter_.Phase("seal", PhaseState::kFailed, absl::StrCat(summary_.seal, "; airlock does NOT hold: ", why), {{"probes", probes}});
    return Fail(RunExit::kSeal, absl::StrCat("the airlock does not hold: ", why)), false;
  }
  summary_.verification = absl::StrCat(verify->probes_size(), " probes held inside the sandbox (network, sockets, namespaces, "
                                       "mounts, read-only rootfs, capabilities, secrets gone, seccomp)");
  std::string findings = absl::StrCat("; netns: ", NetnsFindingsSummary(summary_.seal_findings));
  reporter_.Phase("seal", PhaseState::kOk,
                  absl::StrCat(summary_.seal, "; ", verify->probes_size(), " probes held", findings),
                  {{"trigger", st.seal_trigger()}, {"verified", st.verified()}, {"seal_latency_ns", st.seal_latency_ns()},
                   {"findings", summary_.seal_findings}, {"probes", probes}});
  return true;
}

void Run::RunAgentAndCheck() {
  if (Interrupted()) return void(Fail(RunExit::kInterrupted, "interrupted"));
  if (std::optional<uint32_t> exited = sandbox_->init_exit()) {
    std::string why = absl::StrCat("the container's own process (`", JoinArgv(kIdleCommand), "`) exited with ", *exited,
                                   " right after the seal: the image needs `sleep` to keep the sandbox open");
    reporter_.Phase("agent", PhaseState::kFailed, why);
    return void(Fail(RunExit::kSandbox, why));
  }
  ProcessSpec process{args_.agent, EnvWithout(container_env_, args_.secrets), policy_.policy.workspace.target, user_.first,
                      user_.second};
  reporter_.Phase("agent", PhaseState::kStart, absl::StrCat("running `", JoinArgv(args_.agent), "` sealed, in ",
                                                            policy_.policy.workspace.target));
  absl::StatusOr<ProcessOutcome> agent = sandbox_->Exec("agent", "agent", BuildProcessJson(process));
  if (!agent.ok()) {
    if (Interrupted() || absl::IsCancelled(agent.status())) {
      agent_.note = "interrupted";
      return void(Fail(RunExit::kInterrupted, "interrupted during the agent"));
    }
    reporter_.Phase("agent", PhaseState::kFailed, std::string(agent.status().message()));
    return void(Fail(RunExit::kAgent, std::string(agent.status().message())));
  }
  agent_.ran = true;
  agent_.exit_code = static_cast<int>(agent->exit_code);
  agent_.duration = agent->duration;
  if (agent->exit_code != 0) {
    reporter_.Phase("agent", PhaseState::kFailed,
                    absl::StrCat("exit ", agent->exit_code, " in ", FormatSeconds(agent->duration),
                                 ": no branch; the patch is kept for inspection"),
                    {{"exit_code", agent->exit_code}});
    check_.note = args_.check.empty() ? "" : "skipped: the agent failed";
    return void(Fail(RunExit::kAgent, absl::StrCat("the agent exited with ", agent->exit_code)));
  }
  reporter_.Phase("agent", PhaseState::kOk, absl::StrCat("exit 0 in ", FormatSeconds(agent->duration)),
                  {{"exit_code", 0}, {"duration_s", absl::ToDoubleSeconds(agent->duration)}});
  if (args_.check.empty()) return;
  process.args = {"sh", "-c", args_.check};
  reporter_.Phase("check", PhaseState::kStart, absl::StrCat("running `", args_.check, "` in the same sealed sandbox"));
  absl::StatusOr<ProcessOutcome> check = sandbox_->Exec("check", "check", BuildProcessJson(process));
  if (!check.ok()) {
    if (Interrupted() || absl::IsCancelled(check.status())) {
      check_.note = "interrupted";
      return void(Fail(RunExit::kInterrupted, "interrupted during the check"));
    }
    reporter_.Phase("check", PhaseState::kFailed, std::string(check.status().message()));
    return void(Fail(RunExit::kCheck, std::string(check.status().message())));
  }
  check_.ran = true;
  check_.exit_code = static_cast<int>(check->exit_code);
  check_.duration = check->duration;
  if (check->exit_code != 0) {
    reporter_.Phase("check", PhaseState::kFailed, absl::StrCat("exit ", check->exit_code, " in ", FormatSeconds(check->duration)),
                    {{"exit_code", check->exit_code}});
    Fail(RunExit::kCheck, absl::StrCat("the check exited with ", check->exit_code));
    return;
  }
  reporter_.Phase("check", PhaseState::kOk, absl::StrCat("exit 0 in ", FormatSeconds(check->duration)),
                  {{"exit_code", 0}, {"duration_s", absl::ToDoubleSeconds(check->duration)}});
}

void Run::StopSandbox() {
  if (!sandbox_) return;
  if (sandbox_->created()) summary_.audit_excerpt = AuditExcerpt(sandbox_->AuditLines(), kAuditExcerptLines);
  std::string audit_dir = policy_.policy.audit.dir.empty() ? host_.audit_dir : policy_.policy.audit.dir;
  summary_.audit_path = absl::StrCat(audit_dir, "/", connection_->name_space(), "/", id_, ".jsonl");
  // Nothing may write into the workspace while the change set is read: the container goes first.
  destroy_problems_ = sandbox_->Destroy();
  reporter_.Phase("stop", destroy_problems_.empty() ? PhaseState::kOk : PhaseState::kFailed,
                  destroy_problems_.empty() ? "container killed; task, container, snapshot and lease deleted"
                                            : absl::StrJoin(destroy_problems_, "; "));
}

void Run::Review() {
  if (!workspace_ || !agent_.ran || Interrupted()) return;
  std::string message = absl::StrCat("airlock run ", id_, "\n\nAgent: ", JoinArgv(args_.agent), "\nImage: ", image_.name,
                                     "\nBase: ", repo_.head_commit, "\nPolicy: ", policy_.description,
                                     "\nSetup exit: ", setup_.exit_code ? std::to_string(*setup_.exit_code) : "-",
                                     "\nAgent exit: ", agent_.exit_code ? std::to_string(*agent_.exit_code) : "-",
                                     "\nCheck exit: ", check_.exit_code ? std::to_string(*check_.exit_code) : "-", "\n");
  absl::StatusOr<ChangeSet> changes = workspace_->Collect(message);
  if (!changes.ok()) {
    reporter_.Phase("changes", PhaseState::kFailed, std::string(changes.status().message()));
    Fail(RunExit::kChanges, absl::StrCat("change set: ", changes.status().message()));
    return;
  }
  summary_.files = changes->files;
  summary_.insertions = changes->insertions;
  summary_.deletions = changes->deletions;
  if (changes->commit.empty()) {
    summary_.changes_note = "the agent changed nothing";
    reporter_.Phase("changes", PhaseState::kOk, "no changes: no branch, no patch", {{"files", nlohmann::json::array()}});
    return;
  }
  std::vector<std::string> file_lines = FileLines(changes->files, 8);
  reporter_.Phase("changes", PhaseState::kOk,
                  absl::StrCat(changes->files.size(), " file(s) changed (+", changes->insertions, " -", changes->deletions,
                               "): ", absl::StrJoin(file_lines, ", ")),
                  {{"files", SummaryJson(summary_)["files"]}, {"insertions", changes->insertions},
                   {"deletions", changes->deletions}});
  // Scan every new blob, every path and the patch for the secrets' values.
  std::vector<ScanInput> inputs;
  for (const ChangedFile& file : changes->files) {
    ScanInput input{file.path, ""};
    if (!file.new_blob.empty() && file.new_mode != "160000") {
      absl::StatusOr<std::string> bytes = workspace_->BlobBytes(file.new_blob);
      if (!bytes.ok()) {
        reporter_.Phase("scan", PhaseState::kFailed, std::string(bytes.status().message()));
        Fail(RunExit::kChanges, absl::StrCat("secret scan: ", bytes.status().message()));
        return;
      }
      input.content = *std::move(bytes);
    }
    inputs.push_back(std::move(input));
  }
  summary_.leaks = ScanForSecrets(secrets_, inputs, changes->patch);
  if (!summary_.leaks.empty()) {
    std::vector<std::string> words;
    for (const SecretFinding& leak : summary_.leaks) words.push_back(absl::StrCat("secret ", leak.secret, " in ", leak.where));
    summary_.changes_note = "blocked: a secret's value is in the change set";
    reporter_.Phase("scan", PhaseState::kFailed,
                    absl::StrCat("LEAK: ", absl::StrJoin(words, "; "), ": branch and patch blocked"));
    Fail(RunExit::kSecretLeak, absl::StrCat("blocked: ", absl::StrJoin(words, "; ")));
    return;
  }
  reporter_.Phase("scan", PhaseState::kOk,
                  secrets_.empty() ? "no secrets were given: nothing to look for"
                                   : absl::StrCat("no secret value in the change set (", secrets_.size(), " secret(s) checked)"));
  if (Interrupted()) return;
  std::string patch_path = absl::StrCat(work_dir_, "/", id_, ".patch");
  {
    std::ofstream out(patch_path, std::ios::binary | std::ios::trunc);
    out << changes->patch;
    if (!out) {
      Fail(RunExit::kChanges, absl::StrCat("cannot write ", patch_path));
      return;
    }
  }
  summary_.patch_path = patch_path;
  if (agent_.exit_code != 0) {  // ran (checked on entry), and failed
    summary_.changes_note = "the agent failed";
    reporter_.Phase("review", PhaseState::kInfo, absl::StrCat("no branch (the agent failed); patch kept: ", patch_path),
                    {{"patch", patch_path}});
    return;
  }
  if (Interrupted()) {
    std::error_code ec;
    std::filesystem::remove(patch_path, ec);
    summary_.patch_path.clear();
    return;
  }
  if (absl::Status s = PublishBranch(repo_, *workspace_, branch_); !s.ok()) {
    reporter_.Phase("review", PhaseState::kFailed, std::string(s.message()));
    Fail(RunExit::kChanges, absl::StrCat("branch: ", s.message()));
    return;
  }
  summary_.branch = branch_;
  summary_.commit = changes->commit;
  reporter_.Phase("review", PhaseState::kOk,
                  absl::StrCat("branch ", branch_, " (commit ", Short(changes->commit), ") in ", repo_.toplevel, "; patch ",
                               patch_path),
                  {{"branch", branch_}, {"commit", changes->commit}, {"patch", patch_path}});
}

void Run::DestroyAndVerify() {
  if (!task_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(task_dir_, ec);
    if (ec) destroy_problems_.push_back(absl::StrCat("remove ", task_dir_, ": ", ec.message()));
  }
  if (!sandbox_) return;
  SandboxTraces traces = sandbox_->traces();
  traces.paths.push_back(task_dir_);
  summary_.checked = CheckedPlaces(traces);
  summary_.leftovers = WaitForNoLeftovers(*connection_, traces, absl::Seconds(10));
  summary_.leftovers.insert(summary_.leftovers.end(), destroy_problems_.begin(), destroy_problems_.end());
  summary_.destroyed = true;
  if (summary_.leftovers.empty()) {
    reporter_.Phase("destroy", PhaseState::kOk, absl::StrCat("destroyed, nothing left (checked: ", summary_.checked, ")"),
                    {{"leftovers", nlohmann::json::array()}});
  } else {
    reporter_.Phase("destroy", PhaseState::kFailed,
                    absl::StrCat("NOT everything is gone: ", absl::StrJoin(summary_.leftovers, "; ")),
                    {{"leftovers", summary_.leftovers}});
    Fail(RunExit::kCleanup, absl::StrCat(summary_.leftovers.size(), " thing(s) left after the destroy"));
  }
}

void Run::Finish() {
  if (Interrupted()) Fail(RunExit::kInterrupted, "interrupted");
  summary_.phases = {setup_, agent_, check_};
  if (args_.check.empty()) summary_.phases.pop_back();
  if (!agent_.ran && summary_.phases[1].note.empty()) summary_.phases[1].note = "did not run";
  if (summary_.phases.size() > 2 && !check_.ran && summary_.phases[2].note.empty()) summary_.phases[2].note = "did not run";
  if (summary_.changes_note.empty() && summary_.branch.empty()) summary_.changes_note = "the run did not get that far";
  summary_.exit = exit_;
  summary_.total = absl::Now() - started_;
  reporter_.Summary(SummaryJson(summary_), SummaryText(summary_));
  if (exit_ != RunExit::kOk) {
    reporter_.Error(absl::StrCat(summary_.failure, " (exit ", static_cast<int>(exit_), ": ", InfoOf(exit_).name, ")"));
  }
}

}  // namespace

RunExit RunTask(const RunArgs& args) {
  Run run(args);
  return run.Execute();
}

}  // namespace airlock::run
