#include "cmd/airlock/run/run_flow.h"

#include <fcntl.h>
#include <sys/mount.h>
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
#include "cmd/airlock/cache/setup_cache.h"
#include "cmd/airlock/containerd/connection.h"
#include "cmd/airlock/containerd/image_resolver.h"
#include "cmd/airlock/control_client.h"
#include "cmd/airlock/run/audit_excerpt.h"
#include "shim/base/fs_beneath.h"
#include "cmd/airlock/run/interrupt.h"
#include "cmd/airlock/run/leftovers.h"
#include "cmd/airlock/run/oci_spec.h"
#include "cmd/airlock/run/reporter.h"
#include "cmd/airlock/run/run_policy.h"
#include "cmd/airlock/run/run_summary.h"
#include "cmd/airlock/run/sandbox_session.h"
#include "policy/sandbox/secret_scan.h"
#include "shim/base/terminal_text.h"
#include "cmd/airlock/run/workspace.h"
#include "cmd/airlock/sandbox_args.h"
#include "cmd/airlock/sandbox_view.h"
#include "policy/duration_size.h"
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
// The check runs in a sandbox of its own: container <id>-check, workspace <task dir>/check.
constexpr char kCheckSuffix[] = "-check";
constexpr size_t kPatchScanChunk = 1 << 20;

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

// The exit code a change-set error stands for (WalkChanges' status codes).
RunExit ExitForChanges(const absl::Status& s) {
  if (absl::IsPermissionDenied(s)) return RunExit::kRefused;
  if (absl::IsResourceExhausted(s)) return RunExit::kLimit;
  return RunExit::kChanges;
}

const char* PhaseForChanges(const absl::Status& s) {
  if (absl::IsPermissionDenied(s)) return "refused";
  if (absl::IsResourceExhausted(s)) return "limit";
  return "changes";
}

// What the change set left out, one line each (never the bytes of a name holding a secret).
std::vector<std::string> LeftOutLines(const ChangeSet& c) {
  std::vector<std::string> lines = c.left_out;
  for (const SkippedEntry& e : c.skipped) {
    lines.push_back(absl::StrCat(e.name_hidden ? e.path : QuotePathInList(e.path), " (", e.kind, ": not a file)"));
  }
  return lines;
}

// Everything one run holds; the steps below fill it in order.
class Run {
 public:
  explicit Run(const RunArgs& args) : args_(args), started_(absl::Now()), reporter_(args.json, started_) {}

  RunExit Execute();

 private:
  // One sandbox of the run: the agent's, and (with --check) the check's, each from the same image,
  // policy and setup, each with a workspace of its own.
  struct Box {
    std::string id;
    std::string dir;                  // the workspace
    std::string io_dir;
    std::string setup_phase, seal_phase;
    bool is_agent = true;
    PhaseRecord* setup = nullptr;
    std::optional<Workspace> workspace;
    std::unique_ptr<SandboxSession> session;
    std::vector<std::string> destroy_problems;
    bool stopped = false;
    bool mounted = false;  // `dir` is our tmpfs
    bool from_cache = false;  // `dir` is an overlay on the setup cache's entry (`cached` holds it)
    std::unique_ptr<cache::CachedWorkspace> cached;
  };

  RunExit Fail(RunExit code, const std::string& message) {
    if (exit_ == RunExit::kOk || code == RunExit::kCleanup) summary_.failure = message;
    exit_ = CombineExit(exit_, code);
    return exit_;
  }
  bool Interrupted() const { return watcher_ && watcher_->signal() != 0; }

  // Step 0: inputs. Nothing is created before all of them are fine.
  bool CheckInputs();
  // The private repository, then per sandbox: workspace, container, setup and seal.
  bool MakeRunRepository();
  // The policy's setup cache: the key, and hit, miss or stale (the first line about the sandbox).
  bool ConsultCache();
  // After a verified seal of a miss: the entry is written (or why not is said).
  void WriteCache(Box& box);
  // The setup command as the key and the report see it.
  std::string SetupCommand() const;
  std::string MaintenanceCommand() const;
  bool PrepareBox(Box& box);
  bool SetupAndSeal(Box& box);
  // The agent in its sandbox; then that sandbox is destroyed and checked gone before anything of
  // its workspace is read.
  void RunAgent();
  // An exec of `process` in `box` as phase `record.name`, recorded there; nullopt when it could not
  // run or was interrupted (already reported, and the run failed with `failure` or as interrupted).
  std::optional<ProcessOutcome> ExecPhase(Box& box, PhaseRecord& record, const ProcessSpec& process, RunExit failure);
  bool StopBox(Box& box, bool verify_now);
  // The change set of the agent's workspace: walk, limits, store, scan, commit, patch.
  bool Collect();
  // The check, in a fresh sandbox whose workspace is made to hold exactly the change set's tree.
  void RunCheck();
  // The branch; then the end.
  void Publish();
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
  ChangeLimits limits_;
  SourceRepo repo_;
  ChosenPolicy policy_;
  std::string id_, branch_, work_dir_, task_dir_;
  std::unique_ptr<containerd::Connection> connection_;
  containerd::ResolvedImage image_;
  std::string snapshotter_;
  Owner user_;
  std::unique_ptr<RunRepository> run_repo_;
  std::vector<std::string> container_env_;
  PhaseRecord setup_{"setup"}, agent_{"agent"}, check_setup_{"check-setup"}, check_{"check"};
  Box agent_box_, check_box_;
  std::optional<ChangeSet> changes_;
  std::string patch_tmp_;  // written, scanned, then moved to its place
  std::unique_ptr<cache::SetupCache> cache_;
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
  agent_box_.id = id_;
  agent_box_.setup_phase = "setup";
  agent_box_.seal_phase = "seal";
  agent_box_.setup = &setup_;
  check_box_.id = id_ + kCheckSuffix;
  check_box_.setup_phase = "check-setup";
  check_box_.seal_phase = "check-seal";
  check_box_.is_agent = false;
  check_box_.setup = &check_setup_;
  if (MakeRunRepository() && ConsultCache() && PrepareBox(agent_box_) && SetupAndSeal(agent_box_)) RunAgent();
  bool clean = StopBox(agent_box_, /*verify_now=*/true);
  if (!clean && agent_.ran) {
    summary_.changes_note = "not collected: the agent's sandbox was not completely destroyed";
    Fail(RunExit::kCleanup, "the agent's sandbox was not completely destroyed: its workspace is not read");
  }
  if (clean && agent_.ran && !Interrupted() && Collect()) RunCheck();
  StopBox(check_box_, false);
  Publish();
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
  // The check's sandbox is <id>-check: both must be valid container ids.
  if (!cli::IsValidIdentifier(id_) || !cli::IsValidIdentifier(id_ + kCheckSuffix)) {
    return Fail(RunExit::kBadInput, absl::StrCat("--id ", id_, ": letters and digits joined by . _ - (at most 70)")), false;
  }
  summary_.id = id_;
  branch_ = "airlock/" + id_;
  if (absl::Status s = CheckBranchAbsent(repo_, branch_); !s.ok()) return Fail(RunExit::kBadInput, std::string(s.message())), false;

  limits_.max_files = args_.max_files.value_or(host_.run_limits.max_files);
  limits_.max_file_size = args_.max_file_size.value_or(host_.run_limits.max_file_size);
  limits_.max_total_size = args_.max_total_size.value_or(host_.run_limits.max_total_size);

  absl::StatusOr<ChosenPolicy> policy = ChooseRunPolicy(args_.policy, host_, args_.secrets, args_.internet);
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
  user_ = Owner{user->first, user->second};
  if (Interrupted()) return Fail(RunExit::kInterrupted, "interrupted before anything was created"), false;
  return true;
}

bool Run::MakeRunRepository() {
  reporter_.Text(absl::StrCat("airlock run ", id_, ": ", EscapeForTerminal(JoinArgv(args_.agent), false), "\n"));
  reporter_.Phase("task", PhaseState::kInfo,
                  absl::StrCat(id_, " | image ", image_.name, " | policy: ", policy_.description),
                  {{"id", id_}, {"image", image_.name}, {"policy", policy_.description}, {"namespace", connection_->name_space()}});
  task_dir_ = absl::StrCat(work_dir_, "/", id_);
  if (absl::Status s = MakeDirs(work_dir_); !s.ok()) return Fail(RunExit::kInternal, std::string(s.message())), false;
  if (mkdir(task_dir_.c_str(), 0700) != 0) {
    task_dir_.clear();  // not ours: never removed
    return Fail(RunExit::kBadInput, absl::StrCat("task directory ", work_dir_, "/", id_, ": ", strerror(errno))), false;
  }
  absl::StatusOr<std::unique_ptr<RunRepository>> run_repo = RunRepository::Create(repo_, task_dir_ + "/git");
  if (!run_repo.ok()) return Fail(RunExit::kInternal, absl::StrCat("private repository: ", run_repo.status().message())), false;
  run_repo_ = *std::move(run_repo);
  if (policy_.builtin) {
    policy_.path = task_dir_ + "/policy.yaml";
    std::ofstream out(policy_.path);
    out << policy_.builtin_yaml;
    if (!out) return Fail(RunExit::kInternal, absl::StrCat("cannot write ", policy_.path)), false;
  }
  std::vector<std::string> image_env = image_.config.env.empty() ? std::vector<std::string>{kDefaultPath} : image_.config.env;
  std::vector<std::string> secret_env;
  for (const Secret& s : secrets_) secret_env.push_back(s.name + "=" + s.value);
  container_env_ = MergeEnv(image_env, secret_env);
  return true;
}

std::string Run::SetupCommand() const {
  return !args_.setup.empty() ? args_.setup : JoinArgv(policy_.policy.setup.command);
}

bool Run::ConsultCache() {
  const policy::Cache& wanted = policy_.policy.cache;
  if (!wanted.enabled || args_.no_cache) {
    if (!args_.maintenance.empty() && !args_.no_cache) {
      return Fail(RunExit::kBadInput, "--maintenance: the policy has no setup cache (cache:)"), false;
    }
    return true;
  }
  if (!args_.maintenance.empty() && !wanted.maintenance.empty()) {
    return Fail(RunExit::kBadInput, "--maintenance: the policy's cache.maintenance decides the maintenance command"), false;
  }
  if (!args_.maintenance.empty() && !policy_.policy.setup.command.empty()) {
    return Fail(RunExit::kBadInput, "--maintenance: the policy's setup.command decides setup, and so maintenance "
                                    "(set cache.maintenance in the policy)"), false;
  }
  absl::StatusOr<cache::RepositoryIdentity> identity = cache::IdentifyRepository(repo_);
  if (!identity.ok()) return Fail(RunExit::kInternal, absl::StrCat("setup cache: ", identity.status().message())), false;
  cache::KeyInputs inputs;
  inputs.image_name = image_.name;
  inputs.image_digest = image_.manifest_digest;
  inputs.chain_id = image_.chain_id;
  inputs.snapshotter = snapshotter_;
  inputs.policy_digest = cache::PolicyDigest(policy_.policy);
  inputs.setup_command = SetupCommand();
  inputs.repository = *std::move(identity);
  inputs.key_files = cache::KeyFilesAt(run_repo_->base(), wanted.key_files);
  absl::StatusOr<std::unique_ptr<cache::SetupCache>> consulted = cache::SetupCache::Consult(
      *connection_, snapshotter_, id_, std::move(inputs), wanted.ttl, host_.cache.max_bytes);
  if (!consulted.ok()) {
    if (Interrupted() || absl::IsCancelled(consulted.status())) return Fail(RunExit::kInterrupted, "interrupted"), false;
    return Fail(RunExit::kContainerd, std::string(consulted.status().message())), false;
  }
  cache_ = *std::move(consulted);
  summary_.cache = RunSummary::Cache{cache_->key(), cache::ToString(cache_->verdict()), cache_->why(), ""};
  std::string then = cache_->verdict() == cache::Verdict::kHit
                         ? absl::StrCat("; setup is skipped",
                                        MaintenanceCommand().empty() ? "" : absl::StrCat(", maintenance `", MaintenanceCommand(), "` runs instead"))
                         : cache_->may_write() ? "; setup runs, and the entry is written at the seal" : "; setup runs";
  reporter_.Phase("cache", PhaseState::kInfo,
                  absl::StrCat(cache::ToString(cache_->verdict()), ": ", cache_->why(), then, " (key ", cache_->key(), ")"),
                  {{"verdict", cache::ToString(cache_->verdict())}, {"key", cache_->key()}, {"why", cache_->why()},
                   {"inputs", cache::KeyInputsJson(cache_->inputs())}});
  return true;
}

std::string Run::MaintenanceCommand() const {
  if (!policy_.policy.cache.maintenance.empty()) return JoinArgv(policy_.policy.cache.maintenance);
  return args_.maintenance;
}

void Run::WriteCache(Box& box) {
  if (!cache_ || !box.is_agent || cache_->verdict() == cache::Verdict::kHit) return;
  if (!cache_->may_write()) {
    summary_.cache->written = "not written (" + cache_->why() + ")";
    return;
  }
  absl::StatusOr<cache::CaptureResult> written =
      cache_->Capture(box.dir, run_repo_->base(), box.id, box.session->rootfs(), secrets_, user_,
                      absl::StrCat("setup `", SetupCommand(), "` of ", repo_.toplevel, " at ", Short(repo_.head_commit)));
  if (!written.ok()) {
    std::string why = absl::StrCat("not written: ", written.status().message());
    summary_.cache->written = why;
    reporter_.Phase("cache", absl::IsFailedPrecondition(written.status()) ? PhaseState::kInfo : PhaseState::kFailed, why);
    return;
  }
  summary_.cache->written = written->summary;
  std::string evicted = written->evicted.empty() ? "" : absl::StrCat("; evicted: ", absl::StrJoin(written->evicted, ", "));
  reporter_.Phase("cache", PhaseState::kOk, written->summary + evicted);
}

bool Run::PrepareBox(Box& box) {
  if (Interrupted()) return Fail(RunExit::kInterrupted, "interrupted"), false;
  box.dir = absl::StrCat(task_dir_, "/", box.is_agent ? "repo" : "check");
  box.io_dir = absl::StrCat(task_dir_, "/", box.is_agent ? "io" : "check-io");
  // The workspace is a tmpfs of the policy's size: a sandbox that fills it gets ENOSPC, the host's
  // disk never fills (resources.workspace).
  const uint64_t size = policy_.policy.resources.workspace_bytes;
  if (mkdir(box.dir.c_str(), 0755) != 0) return Fail(RunExit::kInternal, absl::StrCat("mkdir ", box.dir, ": ", strerror(errno))), false;
  // The agent's sandbox on a hit; the check's whenever the entry exists (a hit, or the agent's
  // setup just wrote it): the same setup result, without running setup again.
  if (cache_ && cache_->usable()) {
    // The entry's files below, the new HEAD and the sandbox's writes in a tmpfs above.
    const std::string layer = absl::StrCat(task_dir_, "/", box.is_agent ? "repo" : "check", "-layer");
    if (mkdir(layer.c_str(), 0700) != 0) return Fail(RunExit::kInternal, absl::StrCat("mkdir ", layer, ": ", strerror(errno))), false;
    absl::StatusOr<std::unique_ptr<cache::CachedWorkspace>> laid =
        cache_->LayWorkspace(box.id, box.dir, layer, size, user_, run_repo_->base());
    if (laid.ok()) {
      box.cached = *std::move(laid);
      box.from_cache = true;
      if (absl::Status s = box.is_agent ? cache_->NoteHit() : absl::OkStatus(); !s.ok()) {
        reporter_.Phase("cache", PhaseState::kInfo, absl::StrCat("the entry's hit count was not updated: ", s.message()));
      }
    } else if (absl::IsFailedPrecondition(laid.status()) && !box.is_agent) {
      reporter_.Phase("cache", PhaseState::kInfo,
                      absl::StrCat("the check's sandbox runs setup: ", laid.status().message()));
    } else if (absl::IsFailedPrecondition(laid.status())) {
      cache_->DemoteToMiss(absl::StrCat("the entry cannot be used: ", laid.status().message()));
      summary_.cache->verdict = cache::ToString(cache_->verdict());
      summary_.cache->why = cache_->why();
      summary_.cache->written = "not written (the entry exists)";
      reporter_.Phase("cache", PhaseState::kInfo, absl::StrCat("miss after all: ", cache_->why(), "; setup runs"));
    } else {
      return Fail(RunExit::kSandbox, absl::StrCat("setup cache: ", laid.status().message())), false;
    }
  }
  if (!box.from_cache) {
    std::string options = absl::StrCat("size=", size, ",mode=0755,uid=", user_.uid, ",gid=", user_.gid);
    if (mount(kWorkspaceTmpfsSource, box.dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      return Fail(RunExit::kSandbox, absl::StrCat("the workspace's tmpfs (", policy::HumanByteSize(size), ") at ", box.dir,
                                                  ": ", strerror(errno), " (airlock run mounts it as root)")),
             false;
    }
    box.mounted = true;
  }
  absl::StatusOr<Workspace> workspace = Workspace::Create(*run_repo_, box.dir, user_, /*over_cache=*/box.from_cache);
  if (!workspace.ok()) return Fail(RunExit::kInternal, absl::StrCat("workspace: ", workspace.status().message())), false;
  box.workspace = *std::move(workspace);
  absl::StatusOr<std::string> checked = policy::ResolveRepoPath(box.dir, host_.allowed_repo_roots);
  if (!checked.ok()) {
    return Fail(RunExit::kBadInput, absl::StrCat("the workspace ", box.dir, " would be refused by the shim: ",
                                                 checked.status().message())), false;
  }
  if (absl::Status s = MakeDirs(box.io_dir); !s.ok()) return Fail(RunExit::kInternal, std::string(s.message())), false;
  if (box.is_agent) {
    reporter_.Phase("workspace", PhaseState::kOk,
                    absl::StrCat(box.dir, " from ", Short(repo_.head_commit), " (", repo_.head_name, ") of ", repo_.toplevel,
                                 ", written by airlock (no .git), a tmpfs of ", policy::HumanByteSize(size),
                                 box.from_cache ? " over the cache entry's untracked files (read-only below)" : ""),
                    {{"workspace", box.dir}, {"base", repo_.head_commit}});
  }
  ContainerSpec spec;
  spec.id = box.id;
  spec.name_space = connection_->name_space();
  spec.process = {kIdleCommand, container_env_, policy_.policy.workspace.target, user_.uid, user_.gid};
  spec.annotations[std::string(policy::kRepoAnnotation)] = box.dir;
  if (box.from_cache) {
    spec.annotations[std::string(policy::kSetupCacheAnnotation)] = "hit";
    if (!args_.maintenance.empty()) spec.annotations[std::string(policy::kMaintenanceAnnotation)] = args_.maintenance;
  } else if (!args_.setup.empty()) {
    spec.annotations[std::string(policy::kSetupAnnotation)] = args_.setup;
  }

  SandboxPlan plan;
  plan.id = box.id;
  plan.snapshotter = snapshotter_;
  plan.image_name = image_.name;
  plan.chain_id = box.from_cache ? cache_->rootfs_parent() : image_.chain_id;
  plan.policy_path = policy_.path;
  plan.spec_json = BuildSpecJson(spec);
  plan.io_dir = box.io_dir;
  plan.runc_state_parent = host_.runtime_root;
  if (box.mounted) plan.own_mounts.push_back(box.dir);
  if (box.cached) plan.own_mounts = box.cached->mount_points();
  plan.setup_phase = box.setup_phase;
  if (policy_.policy.network.setup.uplink.kind == policy::UplinkKind::kNetns) {
    plan.upstream_netns = policy_.policy.network.setup.uplink.netns_path;
  }
  plan.labels = {{"airlock.dev/run", id_}, {"airlock.dev/source", repo_.toplevel}};
  box.session = std::make_unique<SandboxSession>(*connection_, reporter_, std::move(plan));
  const std::string phase = box.is_agent ? "sandbox" : "check-sandbox";
  absl::Status created = box.session->Create();
  if (created.ok()) created = box.session->Start();
  if (!created.ok()) {
    if (Interrupted() || absl::IsCancelled(created)) return Fail(RunExit::kInterrupted, "interrupted"), false;
    reporter_.Phase(phase, PhaseState::kFailed, std::string(created.message()));
    return Fail(RunExit::kSandbox, std::string(created.message())), false;
  }
  reporter_.Phase(phase, PhaseState::kOk,
                  absl::StrCat("container ", box.id, " started: runtime ", kAirlockRuntime, ", snapshot on ",
                               box.from_cache ? "the cache entry's rootfs" : Short(image_.chain_id.substr(7)), " (",
                               snapshotter_, "), lease ", box.session->traces().lease),
                  {{"runtime", kAirlockRuntime}, {"snapshotter", snapshotter_}, {"lease", box.session->traces().lease}});
  return true;
}

bool Run::SetupAndSeal(Box& box) {
  PhaseRecord& setup_ = *box.setup;
  const std::string& setup_phase = box.setup_phase;
  const std::string& seal_phase = box.seal_phase;
  const policy::Policy& p = policy_.policy;
  std::string setup_command = box.from_cache ? MaintenanceCommand() : SetupCommand();
  std::string uplink = policy::ToString(p.network.setup.uplink);
  if (!setup_command.empty()) {
    reporter_.Phase(setup_phase, PhaseState::kStart,
                    absl::StrCat(box.from_cache ? "maintenance: running `" : "running `", setup_command,
                                 "` with network (uplink ", uplink, "), timeout ",
                                 absl::FormatDuration(p.setup.timeout),
                                 secrets_.empty() ? "" : absl::StrCat(", secrets ", absl::StrJoin(args_.secrets, ", "))));
  } else {
    setup_.note = box.from_cache ? "skipped: started from the setup cache's entry" : "none (no setup command)";
  }
  absl::Time setup_started = absl::Now();
  SealWait wait = box.session->WaitSealed(p.setup.timeout + absl::Seconds(60));
  const airlock::v1::SandboxStatus& st = wait.status;
  setup_.ran = st.setup_ran();
  setup_.duration = absl::Now() - setup_started;
  if (st.setup_ran() && (st.phase() == "sealed" || st.phase() == "failed" || wait.init_exit)) {
    setup_.exit_code = st.setup_exit_code();
  }
  reporter_.FlushOutput(setup_phase);
  switch (wait.result) {
    case SealWait::Result::kSealed:
      break;
    case SealWait::Result::kInterrupted:
      return Fail(RunExit::kInterrupted, "interrupted during setup"), false;
    case SealWait::Result::kSetupFailed: {
      int code = wait.init_exit ? static_cast<int>(*wait.init_exit) : st.setup_exit_code();
      setup_.exit_code = st.setup_exit_code();
      reporter_.Phase(setup_phase, PhaseState::kFailed, absl::StrCat("exit ", code, " in ", FormatSeconds(setup_.duration),
                                                                   ": the agent does not run"),
                      {{"exit_code", code}});
      return Fail(RunExit::kSetup, absl::StrCat("setup failed with exit code ", code)), false;
    }
    case SealWait::Result::kSetupTimedOut:
      reporter_.Phase(setup_phase, PhaseState::kFailed,
                      absl::StrCat("did not finish within ", absl::FormatDuration(p.setup.timeout),
                                   ": the deadline sealed the sandbox and killed it; the agent does not run"));
      return Fail(RunExit::kSetup, "setup did not finish before its timeout"), false;
    case SealWait::Result::kExited: {
      std::string why = absl::StrCat("the container exited (", wait.init_exit ? absl::StrCat("status ", *wait.init_exit) : "?",
                                     ") before the seal", wait.message.empty() ? "" : ": " + wait.message);
      bool setup_failed = st.setup_ran() && st.setup_exit_code() != 0;
      reporter_.Phase(setup_failed ? setup_phase : seal_phase, PhaseState::kFailed, why);
      return Fail(setup_failed ? RunExit::kSetup : RunExit::kSeal, why), false;
    }
    default: {
      std::string why = wait.message.empty() ? std::string("the seal could not be verified") : wait.message;
      reporter_.Phase(seal_phase, PhaseState::kFailed, absl::StrCat(why, ": the agent does not run"));
      return Fail(RunExit::kSeal, why), false;
    }
  }
  if (setup_.ran) {
    reporter_.Phase(setup_phase, PhaseState::kOk, absl::StrCat("exit ", st.setup_exit_code(), " in ", FormatSeconds(setup_.duration)),
                    {{"exit_code", st.setup_exit_code()}, {"duration_s", absl::ToDoubleSeconds(setup_.duration)}});
  }
  std::string seal_summary = cli::SealSummary(st);
  std::vector<std::string> seal_findings(st.seal_findings().begin(), st.seal_findings().end());
  if (box.is_agent) {
    summary_.seal = seal_summary;
    summary_.seal_findings = seal_findings;
  }
  // The probe battery, run inside the sandbox as the agent would run: the agent starts only when
  // every promise holds.
  absl::StatusOr<airlock::v1::VerifyResponse> verify = box.session->Verify();
  if (!verify.ok()) {
    if (Interrupted()) return Fail(RunExit::kInterrupted, "interrupted during the seal"), false;
    reporter_.Phase(seal_phase, PhaseState::kFailed, absl::StrCat(seal_summary, "; probes could not run: ", verify.status().message()));
    return Fail(RunExit::kSeal, absl::StrCat("verification: ", verify.status().message())), false;
  }
  std::vector<std::string> broken;
  for (const airlock::v1::Probe& probe : verify->probes()) {
    if (probe.result() != "held" && probe.result() != "info") broken.push_back(probe.name() + " " + probe.result());
  }
  nlohmann::json probes = cli::VerifyJson(*verify)["probes"];
  if (!cli::VerifyHeld(*verify)) {
    std::string why = broken.empty() ? "no probes ran" : absl::StrJoin(broken, ", ");
    reporter_.Phase(seal_phase, PhaseState::kFailed, absl::StrCat(seal_summary, "; airlock does NOT hold: ", why), {{"probes", probes}});
    return Fail(RunExit::kSeal, absl::StrCat("the airlock does not hold: ", why)), false;
  }
  if (box.is_agent) {
    summary_.verification = absl::StrCat(verify->probes_size(), " probes held inside the sandbox (network, sockets, namespaces, "
                                         "mounts, read-only rootfs, capabilities, secrets gone, seccomp)");
  }
  std::string findings = absl::StrCat("; netns: ", NetnsFindingsSummary(seal_findings));
  reporter_.Phase(seal_phase, PhaseState::kOk,
                  absl::StrCat(seal_summary, "; ", verify->probes_size(), " probes held", findings),
                  {{"trigger", st.seal_trigger()}, {"verified", st.verified()}, {"seal_latency_ns", st.seal_latency_ns()},
                   {"findings", seal_findings}, {"probes", probes}});
  // Sealed and verified, the agent not started: the only moment a cache entry is written.
  WriteCache(box);
  return true;
}

void Run::RunAgent() {
  if (Interrupted()) return void(Fail(RunExit::kInterrupted, "interrupted"));
  if (std::optional<uint32_t> exited = agent_box_.session->init_exit()) {
    std::string why = absl::StrCat("the container's own process (`", JoinArgv(kIdleCommand), "`) exited with ", *exited,
                                   " right after the seal: the image needs `sleep` to keep the sandbox open");
    reporter_.Phase("agent", PhaseState::kFailed, why);
    return void(Fail(RunExit::kSandbox, why));
  }
  ProcessSpec process{args_.agent, EnvWithout(container_env_, args_.secrets), policy_.policy.workspace.target, user_.uid,
                      user_.gid};
  reporter_.Phase("agent", PhaseState::kStart, absl::StrCat("running `", JoinArgv(args_.agent), "` sealed, in ",
                                                            policy_.policy.workspace.target));
  std::optional<ProcessOutcome> agent = ExecPhase(agent_box_, agent_, process, RunExit::kAgent);
  if (!agent) return;
  if (agent->timed_out) {
    check_.note = args_.check.empty() ? "" : "skipped: the agent timed out";
    return;
  }
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
}

std::optional<ProcessOutcome> Run::ExecPhase(Box& box, PhaseRecord& record, const ProcessSpec& process, RunExit failure) {
  absl::StatusOr<ProcessOutcome> outcome = box.session->Exec(record.name, record.name, BuildProcessJson(process),
                                                              args_.timeout.value_or(absl::InfiniteDuration()));
  if (!outcome.ok()) {
    if (Interrupted() || absl::IsCancelled(outcome.status())) {
      record.note = "interrupted";
      Fail(RunExit::kInterrupted, absl::StrCat("interrupted during the ", record.name));
      return std::nullopt;
    }
    reporter_.Phase(record.name, PhaseState::kFailed, std::string(outcome.status().message()));
    Fail(failure, std::string(outcome.status().message()));
    return std::nullopt;
  }
  record.ran = true;
  record.exit_code = static_cast<int>(outcome->exit_code);
  record.duration = outcome->duration;
  // Its deadline (--timeout), or the policy's execution deadline that the shim enforces.
  if (!outcome->timed_out && outcome->exit_code != 0 && box.session->ExecutionDeadlinePassed()) outcome->timed_out = true;
  if (outcome->timed_out) {
    record.note = "timed out";
    std::string why = args_.timeout && outcome->duration >= *args_.timeout
                          ? absl::StrCat("did not end within --timeout ", absl::FormatDuration(*args_.timeout))
                          : std::string("the policy's execution deadline passed");
    reporter_.Phase(record.name, PhaseState::kFailed,
                    absl::StrCat(why, " (after ", FormatSeconds(outcome->duration), "): its sandbox was stopped"),
                    {{"timed_out", true}, {"duration_s", absl::ToDoubleSeconds(outcome->duration)}});
    Fail(RunExit::kTimeout, absl::StrCat("the ", record.name, " ", why));
  }
  return *outcome;
}

bool Run::StopBox(Box& box, bool verify_now) {
  if (!box.session || box.stopped) return true;
  box.stopped = true;
  const std::string phase = box.is_agent ? "stop" : "check-stop";
  if (box.is_agent && box.session->created()) {
    std::vector<std::string> lines = box.session->AuditLines();
    summary_.audit_excerpt = AuditExcerpt(lines, kAuditExcerptLines);
    if (policy::UsesProxy(policy_.policy.network)) summary_.internet = TallyProxy(lines, /*after_verify=*/true);
  }
  if (box.is_agent) {
    std::string audit_dir = policy_.policy.audit.dir.empty() ? host_.audit_dir : policy_.policy.audit.dir;
    summary_.audit_path = absl::StrCat(audit_dir, "/", connection_->name_space(), "/", id_, ".jsonl");
  }
  // Every process of the sandbox dies with it (its pid namespace and cgroup), before anything of
  // its workspace is read: a daemon the agent left cannot touch the change set or the check.
  box.destroy_problems = box.session->Destroy();
  std::vector<std::string> left;
  if (verify_now && box.destroy_problems.empty()) {
    SandboxTraces traces = box.session->traces();
    left = WaitForNoLeftovers(*connection_, traces, absl::Seconds(10));
  }
  if (!box.destroy_problems.empty() || !left.empty()) {
    std::vector<std::string> all = box.destroy_problems;
    all.insert(all.end(), left.begin(), left.end());
    reporter_.Phase(phase, PhaseState::kFailed, absl::StrJoin(all, "; "));
    return false;
  }
  reporter_.Phase(phase, PhaseState::kOk,
                  verify_now ? "container killed, every process of it gone (checked); task, container, snapshot and lease deleted"
                             : "container killed; task, container, snapshot and lease deleted");
  return true;
}

bool Run::Collect() {
  std::string message = absl::StrCat("airlock run ", id_, "\n\nAgent: ", JoinArgv(args_.agent), "\nImage: ", image_.name,
                                     "\nBase: ", repo_.head_commit, "\nPolicy: ", policy_.description,
                                     "\nSetup exit: ", setup_.exit_code ? std::to_string(*setup_.exit_code) : "-",
                                     "\nAgent exit: ", agent_.exit_code ? std::to_string(*agent_.exit_code) : "-",
                                     args_.check.empty() ? "" : absl::StrCat("\nCheck: ", args_.check),
                                     "\n");
  SecretScanner scanner(secrets_);
  absl::StatusOr<ChangeSet> changes = agent_box_.workspace->Collect(limits_, scanner, message, branch_);
  if (!changes.ok()) {
    RunExit code = ExitForChanges(changes.status());
    std::string why(changes.status().message());
    if (code == RunExit::kLimit) why += ": nothing was written (raise the limit with the flag named to allow it)";
    if (code == RunExit::kRefused) why += "; nothing was written";
    reporter_.Phase(PhaseForChanges(changes.status()), PhaseState::kFailed, why);
    summary_.changes_note = code == RunExit::kChanges ? "the change set could not be collected" : "refused: " + why;
    Fail(code, code == RunExit::kChanges ? absl::StrCat("change set: ", why) : why);
    return false;
  }
  changes_ = *std::move(changes);
  summary_.files = changes_->files;
  summary_.left_out = LeftOutLines(*changes_);
  std::vector<std::string> left_out_shown(summary_.left_out.begin(),
                                          summary_.left_out.begin() + std::min<size_t>(summary_.left_out.size(), 8));
  if (summary_.left_out.size() > left_out_shown.size()) {
    left_out_shown.push_back(absl::StrCat("... and ", summary_.left_out.size() - left_out_shown.size(), " more"));
  }
  const std::string left_out = summary_.left_out.empty() ? "" : absl::StrCat("; left out: ", absl::StrJoin(left_out_shown, ", "));
  if (changes_->commit.empty()) {
    summary_.changes_note = "the agent changed nothing";
    reporter_.Phase("changes", PhaseState::kOk, absl::StrCat("no changes: no branch, no patch", left_out),
                    {{"files", nlohmann::json::array()}, {"left_out", summary_.left_out}});
    if (!args_.check.empty() && agent_.exit_code == 0) check_.note = "skipped: the agent changed nothing";
    return false;
  }
  summary_.tree = changes_->tree;
  if (!changes_->leaks.empty()) {
    std::vector<std::string> words;
    for (const SecretFinding& leak : changes_->leaks) words.push_back(absl::StrCat("secret ", leak.secret, " in ", leak.where));
    summary_.leaks = changes_->leaks;
    summary_.changes_note = "blocked: a secret's value is in the change set";
    reporter_.Phase("scan", PhaseState::kFailed, absl::StrCat("LEAK: ", absl::StrJoin(words, "; "), ": branch and patch blocked"));
    if (!args_.check.empty()) check_.note = "skipped: a secret leaked";
    Fail(RunExit::kSecretLeak, absl::StrCat("blocked: ", absl::StrJoin(words, "; ")));
    return false;
  }
  // The patch, streamed from the private repository into the task directory; then read back and
  // scanned as a whole (the commit message and whatever else it carries).
  patch_tmp_ = task_dir_ + "/review.patch";
  absl::StatusOr<PatchStats> stats = WriteReviewPatch(*run_repo_, changes_->commit, patch_tmp_);
  if (!stats.ok()) {
    patch_tmp_.clear();
    reporter_.Phase("changes", PhaseState::kFailed, absl::StrCat("patch: ", stats.status().message()));
    Fail(RunExit::kChanges, absl::StrCat("patch: ", stats.status().message()));
    return false;
  }
  summary_.insertions = stats->insertions;
  summary_.deletions = stats->deletions;
  {
    SecretScanner patch_scan(secrets_);
    UniqueFd fd(open(patch_tmp_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return Fail(RunExit::kChanges, absl::StrCat("patch: open: ", strerror(errno))), false;
    patch_scan.BeginFile("the patch");
    std::string buf(kPatchScanChunk, '\0');
    for (;;) {
      ssize_t got = read(fd.get(), buf.data(), buf.size());
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return Fail(RunExit::kChanges, absl::StrCat("patch: read: ", strerror(errno))), false;
      if (got == 0) break;
      patch_scan.Feed(absl::string_view(buf.data(), static_cast<size_t>(got)));
    }
    patch_scan.EndFile();
    summary_.leaks = patch_scan.findings();
  }
  std::vector<std::string> file_lines = FileLines(changes_->files, 8);
  reporter_.Phase("changes", PhaseState::kOk,
                  absl::StrCat(changes_->files.size(), " file(s) changed (+", stats->insertions, " -", stats->deletions,
                               ", ", changes_->bytes, " bytes): ", absl::StrJoin(file_lines, ", "), "; tree ",
                               Short(changes_->tree), left_out),
                  {{"files", SummaryJson(summary_)["files"]}, {"insertions", stats->insertions},
                   {"deletions", stats->deletions}, {"tree", changes_->tree}, {"commit", changes_->commit},
                   {"left_out", summary_.left_out}});
  if (!summary_.leaks.empty()) {
    summary_.changes_note = "blocked: a secret's value is in the change set";
    reporter_.Phase("scan", PhaseState::kFailed, absl::StrCat("LEAK: secret ", summary_.leaks[0].secret, " in the patch: branch and patch blocked"));
    if (!args_.check.empty()) check_.note = "skipped: a secret leaked";
    Fail(RunExit::kSecretLeak, absl::StrCat("blocked: secret ", summary_.leaks[0].secret, " in the patch"));
    return false;
  }
  reporter_.Phase("scan", PhaseState::kOk,
                  secrets_.empty() ? "no secrets were given: nothing to look for"
                                   : absl::StrCat("no secret value in the change set (", secrets_.size(),
                                                  " secret(s) checked in every changed file, name and the patch)"));
  return agent_.exit_code == 0 && !args_.check.empty();
}

void Run::RunCheck() {
  if (Interrupted()) return;
  reporter_.Phase("check", PhaseState::kInfo,
                  absl::StrCat("the change set is fixed (tree ", Short(changes_->tree),
                               "): the check runs in a fresh sandbox (same image, policy and setup) on exactly that tree"));
  if (!PrepareBox(check_box_) || !SetupAndSeal(check_box_)) {
    check_.note = "did not run: its sandbox failed";
    return;
  }
  // Setup ran on the base, as the agent's did; now the workspace takes exactly the change set
  // (setup's ignored installs stay), proven by a second walk.
  absl::StatusOr<size_t> reset = check_box_.workspace->ResetTo(changes_->tree, limits_);
  if (!reset.ok()) {
    reporter_.Phase("check", PhaseState::kFailed, absl::StrCat("the check's workspace: ", reset.status().message()));
    Fail(RunExit::kCheck, absl::StrCat("the check's workspace could not be made to hold tree ", Short(changes_->tree), ": ",
                                       reset.status().message()));
    return;
  }
  summary_.check_tree = changes_->tree;
  ProcessSpec process{{"sh", "-c", args_.check}, EnvWithout(container_env_, args_.secrets), policy_.policy.workspace.target,
                      user_.uid, user_.gid};
  reporter_.Phase("check", PhaseState::kStart,
                  absl::StrCat("running `", args_.check, "` sealed, on tree ", Short(changes_->tree), " (", *reset,
                               " path(s) set after setup)"),
                  {{"tree", changes_->tree}});
  std::optional<ProcessOutcome> check = ExecPhase(check_box_, check_, process, RunExit::kCheck);
  if (!check || check->timed_out) return;
  if (check->exit_code != 0) {
    reporter_.Phase("check", PhaseState::kFailed,
                    absl::StrCat("exit ", check->exit_code, " in ", FormatSeconds(check->duration), " on tree ",
                                 Short(changes_->tree)),
                    {{"exit_code", check->exit_code}, {"tree", changes_->tree}});
    Fail(RunExit::kCheck, absl::StrCat("the check exited with ", check->exit_code));
    return;
  }
  reporter_.Phase("check", PhaseState::kOk,
                  absl::StrCat("exit 0 in ", FormatSeconds(check->duration), " on tree ", Short(changes_->tree),
                               ", the branch's tree"),
                  {{"exit_code", 0}, {"duration_s", absl::ToDoubleSeconds(check->duration)}, {"tree", changes_->tree}});
}

void Run::Publish() {
  auto drop_patch = [&] {
    if (patch_tmp_.empty()) return;
    unlink(patch_tmp_.c_str());
    patch_tmp_.clear();
  };
  if (!changes_ || changes_->commit.empty() || patch_tmp_.empty() || !summary_.leaks.empty() || Interrupted() ||
      (exit_ != RunExit::kOk && exit_ != RunExit::kCheck && exit_ != RunExit::kAgent && exit_ != RunExit::kTimeout)) {
    drop_patch();
    return;
  }
  std::string patch_path = absl::StrCat(work_dir_, "/", id_, ".patch");
  if (rename(patch_tmp_.c_str(), patch_path.c_str()) != 0) {
    Fail(RunExit::kChanges, absl::StrCat("cannot move the patch to ", patch_path, ": ", strerror(errno)));
    drop_patch();
    return;
  }
  patch_tmp_.clear();
  summary_.patch_path = patch_path;
  if (agent_.exit_code != 0) {  // ran, and failed
    summary_.changes_note = agent_.note == "timed out" ? "the agent timed out" : "the agent failed";
    reporter_.Phase("review", PhaseState::kInfo, absl::StrCat("no branch (the agent failed); patch kept: ", patch_path),
                    {{"patch", patch_path}});
    return;
  }
  if (absl::Status s = PublishBranch(repo_, *run_repo_, branch_); !s.ok()) {
    reporter_.Phase("review", PhaseState::kFailed, std::string(s.message()));
    Fail(RunExit::kChanges, absl::StrCat("branch: ", s.message()));
    return;
  }
  summary_.branch = branch_;
  summary_.commit = changes_->commit;
  reporter_.Phase("review", PhaseState::kOk,
                  absl::StrCat("branch ", branch_, " (commit ", Short(changes_->commit), ", tree ", Short(changes_->tree),
                               ") in ", repo_.toplevel, "; patch ", patch_path),
                  {{"branch", branch_}, {"commit", changes_->commit}, {"tree", changes_->tree}, {"patch", patch_path}});
}

void Run::DestroyAndVerify() {
  std::vector<std::string> problems;
  for (Box* box : {&agent_box_, &check_box_}) problems.insert(problems.end(), box->destroy_problems.begin(), box->destroy_problems.end());
  run_repo_.reset();
  for (Box* box : {&agent_box_, &check_box_}) {
    box->workspace.reset();  // its fd on the directory goes first
    if (box->cached) {
      std::vector<std::string> released = box->cached->Release();
      problems.insert(problems.end(), released.begin(), released.end());
      box->cached.reset();
      box->from_cache = false;
    }
    if (!box->mounted) continue;
    // Busy only if something of a sandbox still holds it: then detached, and said.
    if (umount2(box->dir.c_str(), 0) != 0) {
      int err = errno;
      if (umount2(box->dir.c_str(), MNT_DETACH) != 0) {
        problems.push_back(absl::StrCat("unmount ", box->dir, ": ", strerror(errno)));
        continue;
      }
      problems.push_back(absl::StrCat("the workspace ", box->dir, " was still busy (", strerror(err), "): detached"));
    }
    box->mounted = false;
  }
  if (!task_dir_.empty()) {
    // The workspaces hold whatever the sandboxes made (any depth): removed with a bounded number
    // of fds, never following a symlink.
    UniqueFd parent(open(work_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    absl::Status removed = parent ? RemoveEntry(parent.get(), id_) : absl::InternalError(strerror(errno));
    if (!removed.ok()) problems.push_back(absl::StrCat("remove ", task_dir_, ": ", removed.message()));
  }
  if (!agent_box_.session) return;
  std::vector<std::string> checked;
  for (Box* box : {&agent_box_, &check_box_}) {
    if (!box->session) continue;
    SandboxTraces traces = box->session->traces();
    traces.paths.push_back(task_dir_);
    traces.own_tmpfs_mounts.clear();  // unmounted above: now one would be a leftover
    checked.push_back(CheckedPlaces(traces));
    std::vector<std::string> left = WaitForNoLeftovers(*connection_, traces, absl::Seconds(10));
    summary_.leftovers.insert(summary_.leftovers.end(), left.begin(), left.end());
  }
  summary_.checked = checked.front();
  summary_.leftovers.insert(summary_.leftovers.end(), problems.begin(), problems.end());
  summary_.destroyed = true;
  std::string which = check_box_.session ? "both sandboxes destroyed" : "destroyed";
  if (summary_.leftovers.empty()) {
    reporter_.Phase("destroy", PhaseState::kOk, absl::StrCat(which, ", nothing left (checked: ", summary_.checked, ")"),
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
  if (summary_.cache && summary_.cache->verdict != "hit" && summary_.cache->written.empty()) {
    summary_.cache->written = "not written: the sandbox never reached a verified seal";
  }
  summary_.phases = {setup_, agent_};
  if (!args_.check.empty()) {
    if (check_setup_.ran || check_.ran) summary_.phases.push_back(check_setup_);
    summary_.phases.push_back(check_);
  }
  if (!agent_.ran && summary_.phases[1].note.empty()) summary_.phases[1].note = "did not run";
  if (!args_.check.empty() && !check_.ran && summary_.phases.back().note.empty()) summary_.phases.back().note = "did not run";
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
