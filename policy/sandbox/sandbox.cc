#include "policy/sandbox/sandbox.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "policy/duration_size.h"
#include "absl/strings/str_join.h"
#include "policy/net/in_netns.h"
#include "policy/net/listener_check.h"
#include "policy/net/names.h"
#include "policy/repo_path.h"
#include "policy/sandbox/cri_pod.h"
#include "policy/sandbox/uts_hostname.h"
#include "policy/sandbox/exec_rewrite.h"
#include "policy/sandbox/helper_mount_point.h"
#include "policy/sandbox/init_payload.h"
#include "policy/sandbox/leftovers.h"
#include "policy/sandbox/pod_netns_record.h"
#include "policy/sandbox/rootfs_seal.h"
#include "policy/sandbox/spec_rewrite.h"
#include "policy/sandbox/ipc_sweep.h"
#include "policy/sandbox/secret_sweep.h"
#include "policy/sandbox/setup_report.h"
#include "policy/seccomp/execution_filter.h"
#include "policy/seccomp/setup_filter.h"
#include "policy/setup_annotation.h"
#include "policy/source.h"
#include "shim/base/terminal_text.h"
#include "shim/base/errno_status.h"
#include "shim/base/files.h"
#include "shim/base/log.h"
#include "shim/task/rootfs.h"
#include "shim/task/runtime_options.h"

namespace airlock::sandbox {
namespace {

// Whether runc may set memory+swap here: cgroup v2 (runc skips a missing swap file), or v1 with swap
// accounting (memory.memsw.*; without it runc fails the container). Asked once per shim.
bool SwapLimitSupported() {
  static const bool supported = [] {
    struct stat st {};
    return stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0 ||
           stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", &st) == 0;
  }();
  return supported;
}


// The values the spec's environment gives the policy's secrets (the seal's sweep searches for them).
std::vector<Secret> SecretValues(const nlohmann::json& spec, const std::vector<std::string>& names) {
  std::vector<Secret> out;
  if (names.empty() || !spec.contains("process") || !spec["process"].is_object()) return out;
  const nlohmann::json& env = spec["process"].value("env", nlohmann::json::array());
  if (!env.is_array()) return out;
  for (const nlohmann::json& entry : env) {
    if (!entry.is_string()) continue;
    const std::string& text = entry.get_ref<const std::string&>();
    const size_t eq = text.find('=');
    if (eq == std::string::npos || eq + 1 == text.size()) continue;
    const std::string name = text.substr(0, eq);
    if (std::find(names.begin(), names.end(), name) != names.end()) out.push_back({name, text.substr(eq + 1)});
  }
  return out;
}

std::map<std::string, std::string> Annotations(const nlohmann::json& spec) {
  std::map<std::string, std::string> out;
  auto it = spec.find("annotations");
  if (it == spec.end() || !it->is_object()) return out;
  for (auto& [key, value] : it->items()) {
    if (value.is_string()) out[key] = value.get<std::string>();
  }
  return out;
}

// `uplink: pod`: the pod's netns, opened and checked, and recorded for a crash cleanup (our NAT
// table, veth end and ip_forward claim will live there) by the path that pins it for the pod's life.
absl::StatusOr<UniqueFd> BorrowPodNetns(const nlohmann::json& spec, const std::map<std::string, std::string>& annotations,
                                        const PrepareRequest& request, const std::string& record) {
  absl::StatusOr<UniqueFd> netns = OpenPodNetns(spec, annotations);
  if (!netns.ok()) return netns.status();
  std::string path = PinnedPodNetnsPath(request.bundle, annotations, netns->get());
  if (path.empty()) {
    log::Warn("sandbox ", request.id, ": no pinned path of the pod's network namespace; a crash cleanup reaches it "
              "only while the pod's sandbox container lives");
    path = SpecNetnsPath(spec);
  }
  auto pod = annotations.find(std::string(kCriSandboxIdAnnotation));
  if (absl::Status written =
          WritePodNetnsRecord(record, path, netns->get(), pod == annotations.end() ? "" : pod->second);
      !written.ok()) {
    return written;
  }
  return netns;
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  timespec ts = absl::ToTimespec(t);
  out->set_seconds(ts.tv_sec);
  out->set_nanos(static_cast<int32_t>(ts.tv_nsec));
}

}  // namespace

absl::string_view ToString(Phase phase) {
  switch (phase) {
    case Phase::kPassthrough: return "passthrough";
    case Phase::kSetup: return "setup";
    case Phase::kSealing: return "sealing";
    case Phase::kSealed: return "sealed";
    case Phase::kFailed: return "failed";
  }
  return "unknown";
}

absl::string_view ToString(SealTrigger trigger) {
  switch (trigger) {
    case SealTrigger::kSetupExit: return "setup-exit";
    case SealTrigger::kApi: return "api";
    case SealTrigger::kDeadline: return "deadline";
  }
  return "unknown";
}

std::string Sandbox::WorkspaceStage(const std::string& run_dir, const std::string& ns, const std::string& id) {
  return absl::StrCat(run_dir, "/workspaces/", net::SandboxName(ns, id));
}

absl::Status Sandbox::CleanupAfterCrash(const std::string& run_dir, const std::string& ns, const std::string& id) {
  std::string stage = WorkspaceStage(run_dir, ns, id);
  absl::Status status = task::UnmountAll(stage);  // whatever it says, the network is cleaned up too
  if (status.ok()) rmdir(stage.c_str());
  // An `uplink: pod` sandbox left its NAT table, veth end and ip_forward claim in the pod's netns.
  std::string pod_record = PodNetnsRecordPath(run_dir, ns, id);
  if (absl::StatusOr<UniqueFd> pod_netns = ReopenPodNetns(pod_record); pod_netns.ok()) {
    absl::Status pod = net::SandboxNetwork::CleanupNatIn(net::SandboxName(ns, id), pod_netns->get(), {.run_dir = run_dir});
    if (status.ok()) status = pod;
  } else if (!absl::IsNotFound(pod_netns.status()) && status.ok()) {
    status = pod_netns.status();
  }
  RemovePodNetnsRecord(pod_record);
  // The sandbox netns died with the container (the shim held it by fd); the host may still have a
  // nat uplink's nft table and ip_forward claim, and the record file.
  std::string record = absl::StrCat(run_dir, "/tasks/", ns, "/", id);
  absl::Status host = net::SandboxNetwork::Cleanup(net::SandboxName(ns, id), {.run_dir = run_dir, .persistent = false});
  if (status.ok()) status = host;
  unlink(record.c_str());
  rmdir(std::filesystem::path(record).parent_path().c_str());
  return status;
}

// ---------------------------------------------------------------------------------------------
// Prepare

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Prepare(const SandboxEnv& env, const PrepareRequest& request) {
  std::unique_ptr<Sandbox> sandbox(new Sandbox());
  Sandbox& s = *sandbox;
  s.env_ = env;
  s.id_ = request.id;
  s.bundle_ = request.bundle;
  s.record_path_ = absl::StrCat(env.run_dir, "/tasks/", env.ns, "/", request.id);

  absl::StatusOr<policy::HostConfig> host = policy::LoadHostConfig(env.host_config_path);
  if (!host.ok()) return host.status();

  std::ifstream spec_in(request.bundle + "/config.json");
  nlohmann::json spec = nlohmann::json::parse(spec_in, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object()) return absl::InvalidArgumentError("config.json of the bundle is not a JSON object");
  std::map<std::string, std::string> annotations = Annotations(spec);

  absl::StatusOr<policy::PolicySource> source =
      policy::ResolvePolicySource(task::RuntimeConfigPath(request.options), annotations, *host);
  if (!source.ok()) return source.status();
  if (source->kind == policy::PolicySource::Kind::kBuiltin) {
    s.loaded_ = policy::BuiltinPolicy();
  } else {
    absl::StatusOr<policy::LoadedPolicy> loaded = policy::LoadPolicyFile(source->path);
    if (!loaded.ok()) return loaded.status();
    s.loaded_ = *std::move(loaded);
  }
  s.policy_source_ = policy::Describe(*source);
  const policy::Policy& policy = s.loaded_.policy;
  s.created_ = absl::Now();
  s.rootfs_upper_ = request.rootfs_upper;
  s.secret_values_ = SecretValues(spec, policy.secrets);

  std::string audit_dir = policy.audit.dir.empty() ? host->audit_dir : policy.audit.dir;
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> audit = audit::AuditLog::Open(audit_dir, env.ns, request.id);
  if (!audit.ok()) return audit.status();
  s.audit_ = *std::move(audit);

  auto rejected = [&](absl::Status status) {
    s.audit_->Record("rejected", {{"reason", std::string(status.message())}, {"policy_source", s.policy_source_},
                                  {"policy_digest", s.loaded_.digest}});
    return status;
  };

  // A Kubernetes pod's sandbox ("pause") container runs as its spec says: it holds the pod's
  // namespaces, CNI's network among them (which `uplink: pod` lends the pod's containers for their
  // setup), and no task. The pod's other containers are the sandboxes, each with its own namespaces.
  const bool pod_sandbox = IsPodSandboxContainer(annotations, request.id);
  if (policy.mode == policy::PolicyMode::kPassthrough || pod_sandbox) {
    s.phase_ = Phase::kPassthrough;
    s.audit_->Record("created", {{"mode", pod_sandbox ? "pod-sandbox" : "passthrough"},
                                 {"policy_source", s.policy_source_},
                                 {"policy_digest", s.loaded_.digest}});
    return sandbox;
  }

  if (absl::Status helper = CheckHelperMountPoint(RootfsOf(spec, request.bundle)); !helper.ok()) {
    return rejected(helper);
  }

  // The repository: checked, and mounted from exactly the directory that was checked.
  auto repo_it = annotations.find(std::string(policy::kRepoAnnotation));
  std::string repo_source;
  if (repo_it != annotations.end()) {
    absl::StatusOr<policy::OpenedRepo> repo = policy::OpenRepoPath(repo_it->second, host->allowed_repo_roots);
    if (!repo.ok()) return rejected(repo.status());
    s.workspace_source_ = repo->path;
    // runc binds from inside the container's new mount namespace, where a path through an fd of
    // the host's namespace does not bind (EINVAL). So the checked directory (by fd: a symlink swapped
    // in after the check changes nothing) is bound onto a private staging point in the bundle first.
    // Outside the bundle: containerd removes bundles recursively, and must never reach into the
    // repository through a mount left behind.
    s.workspace_stage_ = WorkspaceStage(env.run_dir, env.ns, request.id);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(s.workspace_stage_).parent_path(), ec);
    if (mkdir(s.workspace_stage_.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoStatus(absl::StrCat("mkdir ", s.workspace_stage_));
    }
    std::string fd_path = absl::StrCat("/proc/self/fd/", repo->fd.get());
    if (mount(fd_path.c_str(), s.workspace_stage_.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return rejected(ErrnoStatus(absl::StrCat("bind the repository ", repo->path)));
    }
    s.workspace_staged_ = true;
    repo_source = s.workspace_stage_;
  } else if (policy.workspace.required) {
    return rejected(absl::FailedPreconditionError(absl::StrCat(
        "the airlock policy requires a repository: set the annotation ", policy::kRepoAnnotation,
        "=<host directory under an allowed root>")));
  }

  s.setup_command_ = policy.setup.command;
  s.setup_timeout_ = policy.setup.timeout;
  auto setup_it = annotations.find(std::string(policy::kSetupAnnotation));
  auto cache_it = annotations.find(std::string(policy::kSetupCacheAnnotation));
  if (cache_it != annotations.end()) {
    if (cache_it->second != "hit") {
      return rejected(absl::InvalidArgumentError(absl::StrCat("annotation ", policy::kSetupCacheAnnotation,
                                                              ": want \"hit\", not \"", EscapeForTerminal(cache_it->second, false), "\"")));
    }
    if (!policy.cache.enabled) {
      return rejected(absl::FailedPreconditionError(absl::StrCat("annotation ", policy::kSetupCacheAnnotation,
                                                                 ": the airlock policy has no cache: section")));
    }
    // Setup already ran when the entry was made; maintenance takes its place.
    s.setup_command_ = policy.cache.maintenance;
    s.setup_timeout_ = policy.cache.maintenance_timeout.value_or(policy.setup.timeout);
    setup_it = policy.setup.command.empty() ? annotations.find(std::string(policy::kMaintenanceAnnotation)) : annotations.end();
  }
  if (s.setup_command_.empty() && setup_it != annotations.end()) {
    absl::StatusOr<std::vector<std::string>> command = policy::ParseSetupAnnotation(setup_it->second);
    if (!command.ok()) return rejected(command.status());
    s.setup_command_ = *std::move(command);
  }

  if (access(env.init_binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("airlock-init not found at ", env.init_binary,
                                                      " (install it, or set AIRLOCK_INIT)"));
  }

  // The sandbox's own network namespace, held by the shim (nothing on the host's filesystem).
  net::SandboxNetworkOptions net_options{.run_dir = env.run_dir, .persistent = false};
  absl::StatusOr<std::unique_ptr<net::SandboxNetwork>> network =
      net::SandboxNetwork::Create(net::SandboxName(env.ns, request.id), net_options);
  if (!network.ok()) return rejected(network.status());
  s.network_ = *std::move(network);
  const policy::Uplink& uplink = policy.network.setup.uplink;
  UniqueFd outbound_netns;  // where the proxy's upstream connections leave from (none: the host)
  if (uplink.kind == policy::UplinkKind::kNetns && policy::UsesProxy(policy.network)) {
    outbound_netns.reset(open(uplink.netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!outbound_netns) return rejected(ErrnoStatus(absl::StrCat("open the uplink netns ", uplink.netns_path)));
  }
  if (uplink.kind != policy::UplinkKind::kNone && uplink.kind != policy::UplinkKind::kProxy) {
    net::UplinkConfig config;
    config.mode = uplink.kind == policy::UplinkKind::kNetns ? net::UplinkMode::kNetns : net::UplinkMode::kNat;
    config.upstream_netns_path = uplink.netns_path;
    config.pool = net::Ipv4Prefix{host->nat_pool.address, host->nat_pool.prefix_length};
    config.guard.drop = uplink.kind == policy::UplinkKind::kPod ? net::NodeLocalIpv4() : net::NonGlobalIpv4();
    for (const policy::Ipv4Cidr& range : host->nat_allow) config.guard.allow.push_back(policy::ToString(range));
    UniqueFd pod_netns;
    if (uplink.kind == policy::UplinkKind::kPod) {
      // Recorded before anything of ours is in there (Destroy removes the record if Create fails).
      s.pod_netns_record_ = PodNetnsRecordPath(env.run_dir, env.ns, request.id);
      absl::StatusOr<UniqueFd> borrowed = BorrowPodNetns(spec, annotations, request, s.pod_netns_record_);
      if (!borrowed.ok()) return rejected(borrowed.status());
      pod_netns = *std::move(borrowed);
      config.host_netns_fd = pod_netns.get();  // NAT there: the pod's address, the pod's rules
      if (policy::UsesProxy(policy.network)) outbound_netns.reset(fcntl(pod_netns.get(), F_DUPFD_CLOEXEC, 0));
    }
    absl::StatusOr<net::UplinkInfo> info = s.network_->AddUplink(config);
    if (!info.ok()) {
      return rejected(absl::Status(info.status().code(),
                                   absl::StrCat("setup uplink ", policy::ToString(uplink), ": ", info.status().message())));
    }
  }

  if (policy::UsesProxy(policy.network)) {
    if (absl::Status started = s.StartProxy(*host, std::move(outbound_netns)); !started.ok()) {
      return rejected(absl::Status(started.code(), absl::StrCat("airlock proxy: ", started.message())));
    }
  }

  absl::StatusOr<std::string> bpf =
      policy::BuildExecutionFilterBpf({.allow_debuggers = policy.seccomp.allow_debuggers});
  if (!bpf.ok()) return bpf.status();
  // The setup command's own filter, only when there is a setup command to run under it.
  std::string setup_bpf;
  if (!s.setup_command_.empty()) {
    absl::StatusOr<std::string> built = policy::BuildSetupFilterBpf(
        {.allow_mount = policy.seccomp.setup == policy::SetupSeccompMode::kAllowMount});
    if (!built.ok()) return built.status();
    setup_bpf = *std::move(built);
  }

  policy::RewriteInput input;
  input.policy = &policy;
  input.repo_source = repo_source;
  input.netns_path = s.network_->netns_path();
  input.init_binary = env.init_binary;
  input.setup_command = s.setup_command_;
  input.setup_timeout = s.setup_timeout_;
  input.swap_limit_supported = SwapLimitSupported();
  // The pod's hostname and sysctls: the sandbox leaves the pod's UTS, network and IPC namespaces.
  if (std::string uts = SpecNamespacePath(spec, "uts"); !uts.empty() && !policy::SpecNamesHostname(spec)) {
    absl::StatusOr<std::string> hostname = HostnameOfUtsNamespace(uts);
    if (!hostname.ok()) return rejected(hostname.status());
    input.shared_uts_hostname = *std::move(hostname);
  }
  absl::StatusOr<std::map<std::string, std::string>> sysctls = PodSysctls(request.bundle, annotations);
  if (!sysctls.ok()) return rejected(sysctls.status());
  input.pod_sysctls = *std::move(sysctls);
  absl::StatusOr<policy::RewriteOutput> rewritten = policy::RewriteSpec(spec, input);
  if (!rewritten.ok()) return rejected(rewritten.status());
  // airlock-init's config and the two filters travel as a sealed memfd: no file per sandbox.
  absl::StatusOr<UniqueFd> payload = CreateInitPayload(rewritten->init_config.dump(), *bpf, setup_bpf);
  if (!payload.ok()) return rejected(payload.status());
  s.payload_.reset(payload->release());
  if (absl::Status written = RewriteFileInPlace(request.bundle + "/config.json", rewritten->spec.dump());
      !written.ok()) {
    return written;
  }

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return ErrnoStatus("socketpair");
  s.channel_.reset(pair[0]);
  s.child_fd_.reset(pair[1]);

  nlohmann::json uplink_info = policy::ToString(uplink);
  if (s.network_->uplink()) {
    uplink_info = {{"mode", policy::ToString(uplink)},
                   {"sandbox_address", net::FormatIpv4(s.network_->uplink()->addresses.sandbox)},
                   {"peer_address", net::FormatIpv4(s.network_->uplink()->addresses.outer)}};
  }
  s.audit_->Record("created", {{"mode", "airlock"},
                               {"policy_source", s.policy_source_},
                               {"policy_digest", s.loaded_.digest},
                               {"workspace", {{"source", s.workspace_source_}, {"target", policy.workspace.target}}},
                               {"uplink", uplink_info},
                               {"setup", s.setup_command_},
                               {"secrets", policy.secrets},
                               {"spec_changes", rewritten->notes}});
  return sandbox;
}

Sandbox::~Sandbox() {
  Destroy();
  ForgetSecretValues();  // a sandbox that never sealed
}

// ---------------------------------------------------------------------------------------------
// Created, messages, deadline

void Sandbox::Created(pid_t init_pid) {
  {
    std::lock_guard lock(mu_);
    init_pid_ = init_pid;
  }
  WriteRecord();
  if (phase() == Phase::kPassthrough) return;
  child_fd_.reset();  // runc passed it on; the helper holds the only other end now
  int fd = channel_.get();
  env_.reactor->Post([this, fd] {
    {
      std::lock_guard lock(mu_);
      if (destroyed_) return;
    }
    if (env_.reactor->Add(fd, EPOLLIN, [this](uint32_t) { OnMessage(); }).ok()) channel_watched_ = true;
    absl::Duration timeout = setup_timeout_;
    deadline_timer_ = env_.reactor->RunAfter(timeout, [this] {
      deadline_timer_ = 0;
      if (phase() != Phase::kSetup) return;
      absl::Time now = absl::Now();
      SealOnPool(SealTrigger::kDeadline, now);
    });
  });
  audit_->Record("init-created", {{"pid", init_pid}});
}

void Sandbox::OnMessage() {
  char buf[16384];  // the setup battery's report is a few KiB
  ssize_t n = recv(channel_.get(), buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    // The helper exec'd the entrypoint (it closes its end) or died.
    env_.reactor->Remove(channel_.get());
    channel_watched_ = false;
    return;
  }
  absl::Time received = absl::Now();
  std::string message(buf, std::min(static_cast<size_t>(n), sizeof buf));
  if (absl::StartsWith(message, kSetupFilterMessage)) {
    absl::StatusOr<nlohmann::json> probes = static_cast<size_t>(n) > sizeof buf
                                                ? absl::InvalidArgumentError("setup filter report: oversized")
                                                : ParseSetupFilterReport(message.substr(kSetupFilterMessage.size()));
    if (!probes.ok()) {
      audit_->Record("failure", {{"reason", std::string(probes.status().message())}});
      return;
    }
    {
      std::lock_guard lock(mu_);
      if (!setup_probes_.is_null()) return;  // the first report stands
      setup_probes_ = *probes;
    }
    bool held = std::all_of(probes->begin(), probes->end(),
                            [](const nlohmann::json& p) { return p["result"] == "held" || p["result"] == "info"; });
    audit_->Record("setup-filter", {{"held", held}, {"probes", *probes}});
    return;
  }
  if (absl::StartsWith(message, "SETUP_START ")) {
    {
      std::lock_guard lock(mu_);
      setup_ran_ = true;
    }
    audit_->Record("setup-start", {{"command", setup_command_}});
    return;
  }
  if (absl::StartsWith(message, "SETUP_EXIT ")) {
    int code = -1;
    (void)absl::SimpleAtoi(message.substr(11), &code);
    bool ran;
    {
      std::lock_guard lock(mu_);
      setup_exit_code_ = code;
      ran = setup_ran_;
    }
    audit_->Record("setup-exit", {{"code", code}, {"ran", ran}});
    if (code == 0) {
      SealOnPool(SealTrigger::kSetupExit, received);
      return;
    }
    // A setup the seal killed is followed by SEALED from the seal; one that failed by itself ends
    // the task with its code, and the entrypoint never runs.
    std::lock_guard lock(mu_);
    if (phase_ == Phase::kSetup) {
      phase_ = Phase::kFailed;
      failure_ = absl::StrCat("setup exited with ", code, ": the entrypoint never runs");
      SendToInit(absl::StrCat("EXIT ", std::min(std::max(code, 0), 255)));
    }
    return;
  }
  audit_->Record("failure", {{"reason", "unexpected message from airlock-init"}, {"message", message.substr(0, 64)}});
}

void Sandbox::SealOnPool(SealTrigger trigger, absl::Time triggered_at) {
  {
    std::lock_guard lock(mu_);
    if (destroyed_) return;
    ++seals_queued_;
  }
  env_.pool->Submit([this, trigger, triggered_at] {
    (void)Seal(trigger, triggered_at);
    // The last touch of this object: Destroy waits for the count to drop before it returns.
    std::lock_guard lock(mu_);
    --seals_queued_;
    seals_done_.notify_all();
  });
}

Phase Sandbox::phase() const {
  std::lock_guard lock(mu_);
  return phase_;
}

// ---------------------------------------------------------------------------------------------
// The seal

absl::StatusOr<airlock::v1::SandboxStatus> Sandbox::Seal(SealTrigger trigger, absl::Time triggered_at) {
  std::lock_guard seal_lock(seal_mu_);
  bool already_sealed = false;
  {
    std::lock_guard lock(mu_);
    if (phase_ == Phase::kPassthrough) {
      return absl::FailedPreconditionError(absl::StrCat("sandbox ", id_, " runs a passthrough policy: nothing to seal"));
    }
    if (destroyed_) return absl::FailedPreconditionError(absl::StrCat("sandbox ", id_, " is destroyed"));
    already_sealed = phase_ == Phase::kSealed;
  }
  if (already_sealed) return Status();  // one-way: sealing again changes nothing
  {
    std::lock_guard lock(mu_);
    if (phase_ == Phase::kFailed) return absl::FailedPreconditionError(absl::StrCat("sandbox failed: ", failure_));
    if (init_pid_ == 0 || init_exited_) {
      return absl::FailedPreconditionError(absl::StrCat("sandbox ", id_, " has no running init to seal"));
    }
    phase_ = Phase::kSealing;
    trigger_ = trigger;
  }
  absl::Status sealed = SealSteps(trigger, triggered_at);
  if (!sealed.ok()) {
    Fail(std::string(sealed.message()));
    return sealed;
  }
  ArmExecutionDeadline();
  // The entrypoint is running by now: a nat uplink's nft table and ip_forward claim go after it.
  if (std::vector<std::string> errors = network_->ReleaseHostState(); !errors.empty()) {
    audit_->Record("uplink-cleanup", {{"errors", errors}});
    log::Warn("sandbox ", id_, ": uplink host-side cleanup: ", absl::StrJoin(errors, "; "));
  }
  return Status();
}

absl::Status Sandbox::SealSteps(SealTrigger trigger, absl::Time triggered_at) {
  const policy::Policy& policy = loaded_.policy;
  pid_t init;
  {
    std::lock_guard lock(mu_);
    init = init_pid_;
  }
  // Step timings for the audit: where a slow seal spent its time.
  absl::Time steps_start = absl::Now();
  // The uplink's deletion goes first, on its own thread: under load it waits for the kernel's rtnl
  // lock, and the leftovers are killed meanwhile. The netns is read back only after they are dead,
  // so nothing of setup can add a link behind the verification (unless the policy keeps setup's
  // processes: setup.keep_processes).
  network_->BeginSeal();
  // 1. Nothing started with network crosses into the execution phase.
  int killed = 0;
  if (!policy.setup.keep_processes) {
    absl::StatusOr<cgroups::CgroupLocation> cgroup =
        env_.cgroup_of ? env_.cgroup_of(id_) : absl::NotFoundError("no cgroup record");
    if (!cgroup.ok()) cgroup = cgroups::ResolveCgroups(init);  // the service could not tell
    if (!cgroup.ok()) return absl::Status(cgroup.status().code(), absl::StrCat("kill setup leftovers: ", cgroup.status().message()));
    absl::StatusOr<int> result = KillAllButInit(init, *cgroup);
    if (!result.ok()) return absl::Status(result.status().code(), absl::StrCat("kill setup leftovers: ", result.status().message()));
    killed = *result;
  }
  // 2. The network: uplink gone, only loopback left, verified.
  absl::Time leftovers_done = absl::Now();
  net::SealReport report = network_->Seal();
  absl::Time verified_at = absl::Now();
  absl::Duration rootfs_time;
  std::vector<std::string> findings;
  for (const auto& l : report.check.links) findings.push_back("link " + l);
  for (const auto& a : report.check.addresses) findings.push_back("address " + a);
  for (const auto& r : report.check.routes) findings.push_back("route " + r);
  for (const auto& v : report.check.violations) findings.push_back("VIOLATION " + v);
  for (const auto& e : report.errors) findings.push_back("error " + e);
  if (!report.verified) {
    std::lock_guard lock(mu_);
    findings_ = findings;
    return absl::InternalError(absl::StrCat("seal verification failed: ", report.ToString()));
  }
  if (absl::Status proxied = SealProxy(init, findings); !proxied.ok()) {
    std::lock_guard lock(mu_);
    findings_ = findings;
    return proxied;
  }
  // 3. What setup left on disk: its secrets' values searched for everywhere it could write, the
  // tmpfs the policy does not name emptied (before the root is read-only: a scrub may remove there).
  absl::Time sweep_start = absl::Now();
  // The container's root, from the host's view: both the sweep and the remount work through it.
  UniqueFd root(open(absl::StrCat("/proc/", init, "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return ErrnoStatus("open the container's root");
  if (absl::Status swept = SweepSecrets(init, root.get()); !swept.ok()) return swept;
  verified_at = absl::Now();
  absl::Duration sweep_time = verified_at - sweep_start;
  // 4. The filesystem: the root read-only from now on (the workspace and tmpfs are other mounts).
  if (policy.filesystem.rootfs.setup == policy::RootfsMode::kWritable) {
    absl::Time rootfs_start = verified_at;
    if (absl::Status ro = RemountRootReadonly(init, root.get()); !ro.ok()) return ro;
    verified_at = absl::Now();
    rootfs_time = verified_at - rootfs_start;
  }
  // 5. Only now may the entrypoint run.
  SendToInit("SEALED");
  absl::Duration latency = verified_at - triggered_at;
  {
    std::lock_guard lock(mu_);
    phase_ = Phase::kSealed;
    sealed_at_ = verified_at;
    seal_latency_ = latency;
    verified_ = true;
    findings_ = std::move(findings);
  }
  audit_->Record("seal", {{"trigger", std::string(ToString(trigger))},
                          {"verified", true},
                          {"latency_us", absl::ToInt64Microseconds(latency)},
                          {"queued_us", absl::ToInt64Microseconds(steps_start - triggered_at)},
                          {"leftovers_us", absl::ToInt64Microseconds(leftovers_done - steps_start)},
                          {"network_us", absl::ToInt64Microseconds(report.to_verified)},
                          {"sweep_us", absl::ToInt64Microseconds(sweep_time)},
                          {"rootfs_us", absl::ToInt64Microseconds(rootfs_time)},
                          {"leftovers_killed", killed},
                          {"rootfs", "readonly"},
                          {"findings", findings_}});
  log::Info("sandbox ", id_, " sealed (", ToString(trigger), ") in ", absl::FormatDuration(latency));
  // The sandbox runs sealed from now on: hand back the free heap pages the setup phase took.
  malloc_trim(0);
  return absl::OkStatus();
}

absl::Status Sandbox::SealProxy(pid_t init, std::vector<std::string>& findings) {
  if (!proxy_) return absl::OkStatus();
  if (loaded_.policy.network.execution != policy::ExecutionNetwork::kProxy) {
    // Setup's proxy ends with setup: the listener goes, and with it every connection.
    RunOnReactor([this] { proxy_->Shutdown(); });
    findings.push_back("proxy closed (setup only)");
    return absl::OkStatus();
  }
  RunOnReactor([this] { proxy_->EnterExecution(); });
  net::ListenerCheck check = net::CheckOnlyListener(init, proxy::kProxyPort, proxy_->listener_inode());
  findings.push_back(check.verified ? check.finding : "VIOLATION " + check.finding);
  if (!check.verified) return absl::InternalError(absl::StrCat("seal verification failed: ", check.finding));
  return absl::OkStatus();
}

absl::Status Sandbox::StartProxy(const policy::HostConfig& host, UniqueFd outbound_netns) {
  const policy::Network& network = loaded_.policy.network;
  absl::StatusOr<UniqueFd> listener = proxy::ListenInNetns(network_->netns_fd(), proxy::kProxyPort);
  if (!listener.ok()) return listener.status();
  std::shared_ptr<const proxy::Resolver> resolver;
  if (host.proxy.hosts_file.empty()) {
    resolver = proxy::SystemResolver();
  } else {
    absl::StatusOr<std::unique_ptr<proxy::Resolver>> file = proxy::HostsFileResolver(host.proxy.hosts_file);
    if (!file.ok()) return file.status();
    resolver = *std::move(file);
  }
  // The connecting side's own addresses are never a destination (the host's services, the pod's).
  absl::StatusOr<std::vector<proxy::Endpoint>> local =
      outbound_netns ? net::MakeInNetns<std::vector<proxy::Endpoint>>(outbound_netns.get(), proxy::LocalAddresses)
                     : proxy::LocalAddresses();
  if (!local.ok()) return local.status();
  std::vector<std::string> allow;
  for (const policy::Ipv4Cidr& range : host.proxy.allow) allow.push_back(policy::ToString(range));
  absl::StatusOr<proxy::AddressGuard> guard = proxy::AddressGuard::Make(std::move(allow), *std::move(local));
  if (!guard.ok()) return guard.status();
  proxy::ProxyOptions options;
  options.reactor = env_.reactor;
  options.pool = env_.pool;
  options.listener = *std::move(listener);
  options.outbound_netns = std::move(outbound_netns);
  options.resolver = std::move(resolver);
  options.guard = *std::move(guard);
  options.setup_rules = proxy::ProxyRules::ForSetup(network);
  options.execution_rules = proxy::ProxyRules::ForExecution(network);
  options.limits = network.proxy.limits;
  options.audit = [audit = audit_.get()](nlohmann::json fields) { audit->Record("proxy", std::move(fields)); };
  proxy_ = proxy::ProxyServer::Start(std::move(options));
  return absl::OkStatus();
}

void Sandbox::RunOnReactor(const std::function<void()>& fn) {
  if (env_.reactor == nullptr || env_.reactor->InReactorThread()) {
    fn();
    return;
  }
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  env_.reactor->Post([&] {
    fn();
    std::lock_guard lock(done_mu);
    done = true;
    done_cv.notify_all();
  });
  std::unique_lock lock(done_mu);
  done_cv.wait_for(lock, std::chrono::seconds(5), [&] { return done; });
}

absl::StatusOr<SweepResult> Sandbox::SweepPlaces(pid_t init, int container_root, bool scrub) {
  const policy::Policy& policy = loaded_.policy;
  std::vector<std::string> named;
  for (const policy::TmpfsMount& m : policy.filesystem.tmpfs) named.push_back(m.path);
  // ctime is kept with the kernel's coarse clock: a second of slack.
  absl::StatusOr<std::vector<SweepPlace>> places =
      ContainerSweepPlaces(init, policy.filesystem.rootfs.setup == policy::RootfsMode::kWritable, rootfs_upper_,
                           workspace_staged_ ? policy.workspace.target : "", named, created_ - absl::Seconds(1),
                           container_root);
  if (!places.ok()) return places.status();
  return SweepForSecrets(*places, secret_values_, scrub);
}

absl::Status Sandbox::SweepSecrets(pid_t init, int container_root) {
  const policy::Policy& policy = loaded_.policy;
  const bool scrub = policy.setup.leftover_secrets == policy::LeftoverSecrets::kScrub;
  absl::StatusOr<SweepResult> result = SweepPlaces(init, container_root, scrub);
  ForgetSecretValues();
  // SysV IPC objects outlive setup's processes in the container's IPC namespace: all removed.
  IpcSweepResult ipc;
  if (result.ok()) {
    absl::StatusOr<IpcSweepResult> removed = RemoveSysvIpc(init);
    if (removed.ok()) ipc = *removed;
    else result = removed.status();
  }
  if (!result.ok()) {
    audit_->Record("secret-sweep", {{"completed", false}, {"reason", std::string(result.status().message())}});
    return absl::Status(result.status().code(),
                        absl::StrCat("the secret sweep could not finish: ", result.status().message()));
  }
  audit_->Record("secret-sweep", {{"completed", true},
                                  {"action", std::string(policy::ToString(policy.setup.leftover_secrets))},
                                  {"found", result->found},
                                  {"removed", result->removed},
                                  {"emptied", result->emptied},
                                  {"files_read", result->files_read},
                                  {"bytes_read", result->bytes_read},
                                  {"entries", result->entries},
                                  {"ipc_removed", {{"shm", ipc.shm}, {"msg", ipc.msg}, {"sem", ipc.sem}}}});
  if (!result->found.empty() && !scrub) {
    constexpr size_t kShown = 10;
    std::vector<std::string> shown(result->found.begin(),
                                   result->found.begin() + static_cast<long>(std::min(kShown, result->found.size())));
    return absl::FailedPreconditionError(absl::StrCat(
        "setup left secret values on disk (leftover_secrets: fail): ", absl::StrJoin(shown, "; "),
        result->found.size() > kShown ? absl::StrCat("; and ", result->found.size() - kShown, " more (audit log)") : ""));
  }
  return absl::OkStatus();
}

void Sandbox::ForgetSecretValues() {
  for (Secret& s : secret_values_) explicit_bzero(s.value.data(), s.value.size());
  secret_values_.clear();
}

void Sandbox::Fail(const std::string& reason) {
  pid_t init;
  {
    std::lock_guard lock(mu_);
    phase_ = Phase::kFailed;
    failure_ = reason;
    init = init_exited_ ? 0 : init_pid_;
  }
  // Fail closed: the entrypoint must never run on an unverified seal.
  SendToInit("ABORT " + reason.substr(0, 200));
  if (init > 0) ::kill(init, SIGKILL);
  audit_->Record("failure", {{"reason", reason}, {"action", "task killed"}});
  log::Error("sandbox ", id_, " failed closed: ", reason);
}

void Sandbox::SendToInit(const std::string& message) {
  if (!channel_) return;
  if (send(channel_.get(), message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
    log::Warn("sandbox ", id_, ": airlock-init did not take \"", message.substr(0, 16), "\": ", strerror(errno));
  }
}

// ---------------------------------------------------------------------------------------------
// Exec, exit, status, destroy

absl::StatusOr<UniqueFd> Sandbox::DupPayload() const {
  UniqueFd payload(fcntl(payload_.get(), F_DUPFD_CLOEXEC, 0));
  if (!payload) return ErrnoStatus("dup airlock-init's payload");
  return payload;
}

absl::StatusOr<UniqueFd> Sandbox::PayloadForExec() {
  std::lock_guard seal_lock(seal_mu_);  // Destroy closes it under this lock
  {
    std::lock_guard lock(mu_);
    if (destroyed_) return absl::FailedPreconditionError(absl::StrCat("sandbox ", id_, " is destroyed"));
  }
  return DupPayload();
}

std::vector<int> Sandbox::InitFds() const {
  if (!child_fd_) return {};
  return {child_fd_.get(), payload_.get()};
}

absl::StatusOr<task::ExecRewrite> Sandbox::RewriteExec(const std::string& spec_json) {
  if (phase() == Phase::kPassthrough) return task::ExecRewrite{.spec_json = spec_json};
  std::lock_guard seal_lock(seal_mu_);  // an exec never slips in while the seal is under way
  Phase now = phase();
  if (now == Phase::kFailed) {
    return absl::PermissionDeniedError(absl::StrCat("sandbox ", id_, " failed closed; no exec: ", failure_));
  }
  const bool sealed = now == Phase::kSealed;
  absl::StatusOr<std::string> rewritten = RewriteExecSpec(spec_json, loaded_.policy, sealed, policy::kInitPath);
  if (!rewritten.ok()) return rewritten.status();
  task::ExecRewrite out{.spec_json = *std::move(rewritten)};
  if (sealed) {
    absl::StatusOr<UniqueFd> payload = DupPayload();  // seal_mu_ held
    if (!payload.ok()) return payload.status();
    out.preserved_fds.push_back(*std::move(payload));
  }
  audit_->Record("exec", {{"phase", std::string(ToString(now))}});
  return out;
}

void Sandbox::ArmExecutionDeadline() {
  absl::Duration timeout = loaded_.policy.execution.timeout;
  if (timeout == absl::InfiniteDuration()) return;
  env_.reactor->Post([this, timeout] {
    {
      std::lock_guard lock(mu_);
      if (destroyed_ || init_exited_) return;
    }
    execution_timer_ = env_.reactor->RunAfter(timeout, [this, timeout] {
      execution_timer_ = 0;
      pid_t init;
      {
        std::lock_guard lock(mu_);
        if (destroyed_ || init_exited_ || init_pid_ == 0) return;
        init = init_pid_;
        execution_deadline_passed_ = true;
      }
      // The container's PID 1: its pid namespace, and so every process of the sandbox, dies with
      // it. Not reaped yet (InitExited has not run), so the pid is still the container's.
      ::kill(init, SIGKILL);
      audit_->Record("execution-deadline", {{"timeout_s", absl::ToInt64Seconds(timeout)}, {"killed_pid", init}});
      log::Warn("sandbox ", id_, ": the execution deadline (", absl::FormatDuration(timeout), ") passed: container killed");
    });
  });
}

void Sandbox::InitExited(int status) {
  {
    std::lock_guard lock(mu_);
    init_exited_ = true;
  }
  if (deadline_timer_ != 0) {
    env_.reactor->CancelTimer(deadline_timer_);
    deadline_timer_ = 0;
  }
  if (execution_timer_ != 0) {
    env_.reactor->CancelTimer(execution_timer_);
    execution_timer_ = 0;
  }
  audit_->Record("exit", {{"status", status}, {"phase", std::string(ToString(phase()))}});
}

airlock::v1::SandboxStatus Sandbox::Status() const {
  airlock::v1::SandboxStatus status;
  std::lock_guard lock(mu_);
  status.set_id(id_);
  status.set_namespace_(env_.ns);
  status.set_phase(std::string(ToString(phase_)));
  status.set_policy_source(policy_source_);
  status.set_policy_digest(loaded_.digest);
  if (trigger_) status.set_seal_trigger(std::string(ToString(*trigger_)));
  if (phase_ == Phase::kSealed) {
    SetTimestamp(sealed_at_, status.mutable_sealed_at());
    status.set_seal_latency_ns(absl::ToInt64Nanoseconds(seal_latency_));
  }
  status.set_verified(verified_);
  for (const auto& f : findings_) status.add_seal_findings(f);
  status.set_workspace_source(workspace_source_);
  status.set_workspace_target(loaded_.policy.workspace.target);
  status.set_uplink(policy::ToString(loaded_.policy.network.setup.uplink));
  if (proxy_) {
    proxy::ProxyCounters counters = proxy_->Counters();
    status.set_proxy(absl::StrCat("127.0.0.1:", proxy::kProxyPort, ", the shim's socket (inode ", proxy_->listener_inode(),
                                  "), ", phase_ == Phase::kSealed && loaded_.policy.network.execution !=
                                                                         policy::ExecutionNetwork::kProxy
                                             ? "closed at the seal"
                                             : "serving"));
    status.set_proxy_allowed(counters.allowed);
    status.set_proxy_refused(counters.refused);
    status.set_proxy_bytes_up(counters.bytes_up);
    status.set_proxy_bytes_down(counters.bytes_down);
    for (const std::string& h : counters.refused_hosts) status.add_proxy_refused_hosts(h);
  }
  status.set_setup_exit_code(setup_exit_code_);
  status.set_setup_ran(setup_ran_);
  status.set_failure(failure_);
  status.set_init_pid(static_cast<uint32_t>(init_pid_));
  status.set_execution_deadline_passed(execution_deadline_passed_);
  const policy::Resources& r = loaded_.policy.resources;
  status.set_limits(absl::StrCat("pids ", r.pids, ", memory ", policy::HumanByteSize(r.memory_bytes), ", memory+swap ",
                                 policy::HumanByteSize(r.memory_swap_bytes), ", cpu ", r.cpu_millis, "m, execution deadline ",
                                 loaded_.policy.execution.timeout == absl::InfiniteDuration()
                                     ? std::string("none")
                                     : policy::FormatGoDuration(loaded_.policy.execution.timeout)));
  return status;
}

nlohmann::json Sandbox::SetupProbes() const {
  std::lock_guard lock(mu_);
  return SetupProbesForVerify(setup_probes_, !setup_command_.empty(), setup_ran_);
}

std::vector<std::string> Sandbox::ProbeArgs() const {
  const policy::Policy& policy = loaded_.policy;
  const std::string init(policy::kInitPath);
  std::vector<std::string> args = {init, "exec", "--", init, "probe", "--json", "--expect-phase", "sealed"};
  if (!workspace_source_.empty()) args.insert(args.end(), {"--workspace", policy.workspace.target});
  for (const auto& secret : policy.secrets) args.insert(args.end(), {"--secret", secret});
  for (const auto& cap : policy.capabilities) args.insert(args.end(), {"--cap", cap});
  if (network_ && network_->uplink()) {
    args.insert(args.end(), {"--peer", net::FormatIpv4(network_->uplink()->addresses.outer) + ":80"});
  }
  if (policy.network.execution == policy::ExecutionNetwork::kProxy) {  // Prepare made the proxy or failed
    std::vector<std::string> proxy = ProxyProbeArgs(policy.network);
    args.insert(args.end(), proxy.begin(), proxy.end());
  }
  return args;
}

std::vector<std::string> ProxyProbeArgs(const policy::Network& network) {
  const policy::Proxy& proxy = network.proxy;
  const proxy::ProxyRules rules = proxy::ProxyRules::ForExecution(network);
  // An allowed host: an exact entry, else a name under a "*." entry, else the preset's first.
  std::string allowed;
  for (const std::string& pattern : rules.patterns) {
    if (!absl::StartsWith(pattern, "*.")) {
      allowed = pattern;
      break;
    }
  }
  if (allowed.empty()) {
    for (const std::string& pattern : rules.patterns) {
      allowed = absl::StrCat("airlock-probe", pattern.substr(1));
      break;
    }
  }
  if (allowed.empty()) allowed = "example.com";  // preset all
  // A refused host: a name the rules do not match, or (preset all) an unlisted address.
  std::string refused = "airlock-probe.invalid";
  if (!rules.RefuseHost(refused)) refused = "192.0.2.1";
  if (!rules.RefuseHost(refused)) refused = "192.0.2.2";
  const bool has_80 = absl::c_linear_search(proxy.ports, uint16_t{80});
  std::vector<std::string> args = {"--proxy-allowed",
                                   absl::StrCat(allowed, ":", has_80 ? uint16_t{80} : proxy.ports.front()),
                                   "--proxy-refused", refused};
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
    if (rules.RefuseMethod(method)) {
      args.insert(args.end(), {"--proxy-refused-method", method});
      break;
    }
  }
  if (absl::c_linear_search(proxy.ports, uint16_t{443})) args.insert(args.end(), {"--proxy-tls-port", "443"});
  return args;
}

void Sandbox::WriteRecord() {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(record_path_).parent_path(), ec);
  std::string address;
  {
    std::ifstream in(bundle_ + "/address");
    std::getline(in, address);
  }
  if (absl::Status written = WriteFileAtomically(record_path_, address, 0600); !written.ok()) {
    log::Warn("sandbox ", id_, ": ", written.message());
  }
}

void Sandbox::RemoveRecord() {
  unlink(record_path_.c_str());
  if (!pod_netns_record_.empty()) RemovePodNetnsRecord(pod_netns_record_);
  // The namespace's directory goes with its last sandbox.
  rmdir(std::filesystem::path(record_path_).parent_path().c_str());
}

void Sandbox::Destroy() {
  {
    std::lock_guard lock(mu_);
    if (destroyed_) return;
    destroyed_ = true;
  }
  // Reactor registrations belong to the reactor thread; wait for it so nothing fires on a dead object.
  auto unregister = [this] {
    if (channel_watched_) env_.reactor->Remove(channel_.get());
    channel_watched_ = false;
    if (deadline_timer_ != 0) env_.reactor->CancelTimer(deadline_timer_);
    deadline_timer_ = 0;
    if (execution_timer_ != 0) env_.reactor->CancelTimer(execution_timer_);
    execution_timer_ = 0;
    if (proxy_) proxy_->Shutdown();
  };
  if (env_.reactor != nullptr) RunOnReactor(unregister);
  {
    // A seal queued on the pool runs (and finds the sandbox destroyed) before this object can go.
    std::unique_lock lock(mu_);
    seals_done_.wait_for(lock, std::chrono::seconds(30), [&] { return seals_queued_ == 0; });
  }
  std::lock_guard seal_lock(seal_mu_);  // a seal under way finishes with the channel and network it started on
  channel_.reset();
  child_fd_.reset();
  payload_.reset();
  if (workspace_staged_) {
    if (absl::Status unmounted = task::UnmountAll(workspace_stage_); !unmounted.ok()) {
      log::Warn("sandbox ", id_, ": ", unmounted.message());
    }
    workspace_staged_ = false;
  }
  if (!workspace_stage_.empty()) rmdir(workspace_stage_.c_str());
  {
    // Shut down on the reactor thread above. Status() reads its counters under mu_.
    std::lock_guard lock(mu_);
    proxy_.reset();
  }
  if (network_) {
    if (absl::Status removed = network_->Remove(); !removed.ok()) {
      log::Warn("sandbox ", id_, ": network cleanup: ", removed.message());
    }
    network_.reset();
  }
  RemoveRecord();
  if (audit_) audit_->Record("destroyed", {});
}

}  // namespace airlock::sandbox
