#include "policy/sandbox/sandbox_manager.h"

#include <unistd.h>

#include <climits>
#include <fstream>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "airlock/v1/control.pb.h"
#include "nlohmann/json.hpp"
#include "shim/base/log.h"
#include "shim/runc/runc.h"
#include "shim/task/runtime_options.h"

namespace airlock::sandbox {
namespace {

absl::Status NoSandbox(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("no airlock sandbox ", id, " in this shim"));
}

}  // namespace

std::string FindInitBinary() {
  if (const char* path = std::getenv("AIRLOCK_INIT"); path != nullptr && *path != '\0') return path;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    std::filesystem::path dir = std::filesystem::path(self).parent_path();
    for (const auto& candidate : {dir / "airlock-init", dir.parent_path() / "libexec" / "airlock" / "airlock-init"}) {
      if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
  }
  return std::string(AIRLOCK_LIBEXEC_DIR) + "/airlock-init";
}

SandboxManager::~SandboxManager() = default;

namespace {

// Where setup's writes to the rootfs land: the upper directory of containerd's overlay mount
// ("" for any other rootfs, e.g. a single bind; the sweep then searches the root mount itself).
std::string OverlayUpperDir(const containerd::task::v2::CreateTaskRequest& request) {
  for (const auto& mount : request.rootfs()) {
    if (mount.type() != "overlay") continue;
    for (const std::string& option : mount.options()) {
      if (absl::StartsWith(option, "upperdir=")) return option.substr(std::string("upperdir=").size());
    }
  }
  return "";
}

}  // namespace

std::shared_ptr<Sandbox> SandboxManager::Find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = sandboxes_.find(id);
  return it == sandboxes_.end() ? nullptr : it->second;
}

absl::StatusOr<task::SandboxHooks::Prepared> SandboxManager::Prepare(
    const containerd::task::v2::CreateTaskRequest& request, const std::string&) {
  absl::StatusOr<std::unique_ptr<Sandbox>> sandbox =
      Sandbox::Prepare(env_, {.id = request.id(),
                              .bundle = request.bundle(),
                              .options = request.options(),
                              .rootfs_upper = OverlayUpperDir(request)});
  if (!sandbox.ok()) return sandbox.status();
  Prepared prepared;
  prepared.preserved_fds = (*sandbox)->InitFds();
  std::lock_guard lock(mu_);
  sandboxes_[request.id()] = std::shared_ptr<Sandbox>(std::move(*sandbox));
  return prepared;
}

void SandboxManager::Created(const std::string& id, pid_t pid) {
  if (auto sandbox = Find(id)) sandbox->Created(pid);
}

std::shared_ptr<Sandbox> SandboxManager::Take(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) return nullptr;
  std::shared_ptr<Sandbox> sandbox = std::move(it->second);
  sandboxes_.erase(it);
  return sandbox;
}

void SandboxManager::CreateFailed(const std::string& id) {
  std::shared_ptr<Sandbox> sandbox = Take(id);
  if (!sandbox) return;
  if (sandbox->audit()) sandbox->audit()->Record("failure", {{"reason", "create failed"}});
  sandbox->Destroy();
}

absl::StatusOr<task::ExecRewrite> SandboxManager::RewriteExec(const std::string& id, const std::string& spec_json) {
  std::shared_ptr<Sandbox> sandbox = Find(id);
  if (!sandbox) return task::ExecRewrite{.spec_json = spec_json};
  return sandbox->RewriteExec(spec_json);
}

void SandboxManager::InitExited(const std::string& id, int status) {
  if (auto sandbox = Find(id)) sandbox->InitExited(status);
}

void SandboxManager::Deleted(const std::string& id) {
  if (std::shared_ptr<Sandbox> sandbox = Take(id)) sandbox->Destroy();
}

absl::StatusOr<airlock::v1::SandboxStatus> SandboxManager::Seal(const std::string& id) {
  std::shared_ptr<Sandbox> sandbox = Find(id);
  if (!sandbox) return NoSandbox(id);
  return sandbox->Seal(SealTrigger::kApi, absl::Now());
}

absl::StatusOr<airlock::v1::SandboxStatus> SandboxManager::Status(const std::string& id) {
  std::shared_ptr<Sandbox> sandbox = Find(id);
  if (!sandbox) return NoSandbox(id);
  return sandbox->Status();
}

absl::StatusOr<airlock::v1::VerifyResponse> SandboxManager::Verify(const std::string& id) {
  std::shared_ptr<Sandbox> sandbox = Find(id);
  if (!sandbox) return NoSandbox(id);
  airlock::v1::VerifyResponse response;
  response.set_id(id);
  response.set_phase(std::string(ToString(sandbox->phase())));
  if (sandbox->phase() == Phase::kPassthrough) {
    return absl::FailedPreconditionError(absl::StrCat("sandbox ", id, " runs a passthrough policy: nothing to verify"));
  }
  // The probe runs as an agent's exec would: through airlock-init's exec mode, under the policy.
  nlohmann::json process = {{"args", sandbox->ProbeArgs()},
                            {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
                            {"cwd", "/"},
                            {"user", {{"uid", 0}, {"gid", 0}}},
                            {"terminal", false}};
  absl::StatusOr<task::ExecRewrite> spec = sandbox->RewriteExec(process.dump());
  if (!spec.ok()) return spec.status();
  // RewriteExec wraps args after the seal; the probe args already go through airlock-init, which
  // needs its payload in every phase.
  nlohmann::json rewritten = nlohmann::json::parse(spec->spec_json, nullptr, false);
  if (spec->preserved_fds.empty()) {
    absl::StatusOr<UniqueFd> payload = sandbox->PayloadForExec();
    if (!payload.ok()) return payload.status();
    spec->preserved_fds.push_back(*std::move(payload));
  }
  rewritten["args"] = sandbox->ProbeArgs();
  std::string path = sandbox->bundle() + "/.airlock-probe.json";
  {
    std::ofstream out(path, std::ios::trunc);
    out << rewritten.dump();
  }
  absl::StatusOr<runc::Config> config = task::LoadRuntimeConfig(sandbox->bundle());
  if (!config.ok()) return config.status();
  runc::Runc runc(*config, sandbox->bundle() + "/log.json");
  absl::StatusOr<ChildResult> result = runc.ExecAndWait(id, path, absl::Seconds(30), {spec->preserved_fds[0].get()});
  unlink(path.c_str());
  if (!result.ok()) return result.status();
  nlohmann::json report = nlohmann::json::parse(result->out, nullptr, false);
  if (!report.is_object() || !report.contains("probes") || !report["probes"].is_array()) {
    return absl::InternalError(absl::StrCat("probe gave no report (exit ", result->exit.status, "): ",
                                            result->err.substr(0, 300)));
  }
  // The sealed battery, run now, then the setup phase's, recorded by the setup command's process
  // under the setup filter: the verification covers both phases.
  nlohmann::json probes = report["probes"];
  for (const auto& probe : sandbox->SetupProbes()) probes.push_back(probe);
  bool held = true;
  for (const auto& probe : probes) {
    auto* p = response.add_probes();
    p->set_name(probe.value("name", ""));
    p->set_result(probe.value("result", "error"));
    p->set_detail(probe.value("detail", ""));
    // "info" is what a phase expects (no setup command, say); an unknown word proves nothing.
    if (p->result() != "held" && p->result() != "info") held = false;
  }
  // The probe runs through the helper, as an exec after the seal would: before the seal its
  // findings say nothing of the setup processes (unfiltered, with the secrets). Held only sealed.
  response.set_phase(std::string(ToString(sandbox->phase())));
  response.set_held(held && response.probes_size() > 0 && sandbox->phase() == Phase::kSealed);
  if (sandbox->audit()) sandbox->audit()->Record("verify", {{"held", response.held()}, {"probes", probes}});
  return response;
}

void SandboxManager::Register(rpc::Registry& registry) {
  using namespace airlock::v1;
  const std::string service = "airlock.v1.Control";
  registry.Add(service, "Seal", rpc::Unary<SealRequest, SandboxStatus>(
                                    [this](const rpc::CallContext&, const SealRequest& r) { return Seal(r.id()); }));
  registry.Add(service, "Status", rpc::Unary<StatusRequest, SandboxStatus>(
                                      [this](const rpc::CallContext&, const StatusRequest& r) { return Status(r.id()); }));
  registry.Add(service, "Verify", rpc::Unary<VerifyRequest, VerifyResponse>(
                                      [this](const rpc::CallContext&, const VerifyRequest& r) { return Verify(r.id()); }));
  registry.Add(service, "Audit",
               rpc::Unary<AuditRequest, AuditResponse>(
                   [this](const rpc::CallContext&, const AuditRequest& r) -> absl::StatusOr<AuditResponse> {
                     std::shared_ptr<Sandbox> sandbox = Find(r.id());
                     if (!sandbox) return NoSandbox(r.id());
                     AuditResponse response;
                     if (sandbox->audit()) {
                       for (auto& line : sandbox->audit()->Lines()) response.add_lines(std::move(line));
                     }
                     return response;
                   }));
  registry.Add(service, "List",
               rpc::Unary<ListRequest, ListResponse>([this](const rpc::CallContext&, const ListRequest&) {
                 ListResponse response;
                 std::lock_guard lock(mu_);
                 for (const auto& [id, sandbox] : sandboxes_) *response.add_sandboxes() = sandbox->Status();
                 return absl::StatusOr<ListResponse>(response);
               }));
}

}  // namespace airlock::sandbox
