// airlock status [--namespace NS] [--json] ID
#include <cstdio>

#include "cmd/airlock/command.h"
#include "cmd/airlock/control_client.h"
#include "cmd/airlock/sandbox_args.h"
#include "cmd/airlock/sandbox_view.h"

namespace airlock::cli {
namespace {

constexpr char kUsage[] =
    "usage: airlock status [--namespace NS] [--json] ID\n"
    "\n"
    "  The sandbox's phase (setup, sealing, sealed, failed, exited), what sealed it and when, whether\n"
    "  the seal was verified and how long that took, what the verification found in its network\n"
    "  namespace, its workspace, uplink and policy (source and digest).\n";

}  // namespace

int RunStatus(const std::vector<std::string>& args) {
  SandboxArgs parsed;
  std::string problem;
  if (!ParseSandboxArgs(args, /*wants_id=*/true, /*allows_all=*/false, &parsed, &problem)) {
    return UsageError("status", problem, kUsage);
  }
  if (parsed.help) return std::fputs(kUsage, stdout), kExitOk;
  auto client = ControlClient::Open(parsed.namespace_name, parsed.id);
  if (!client.ok()) return ReportFailure(client.status());
  absl::StatusOr<airlock::v1::SandboxStatus> status = (*client)->Status();
  if (!status.ok()) return ReportFailure(status.status());
  std::fputs(parsed.json ? (JsonText(StatusJson(*status), 2) + "\n").c_str() : StatusText(*status).c_str(), stdout);
  return kExitOk;
}

}  // namespace airlock::cli
