// airlock audit [--namespace NS] [--json] ID
#include <cstdio>

#include "cmd/airlock/command.h"
#include "cmd/airlock/control_client.h"
#include "cmd/airlock/sandbox_args.h"
#include "cmd/airlock/sandbox_view.h"

namespace airlock::cli {
namespace {

constexpr char kUsage[] =
    "usage: airlock audit [--namespace NS] [--json] ID\n"
    "\n"
    "  The sandbox's audit log, oldest first: one event a line (created, setup-start, setup-exit,\n"
    "  seal, exec, rejected, exit, destroyed, failure). --json prints the log's JSON lines as they are.\n";

}  // namespace

int RunAudit(const std::vector<std::string>& args) {
  SandboxArgs parsed;
  std::string problem;
  if (!ParseSandboxArgs(args, /*wants_id=*/true, /*allows_all=*/false, &parsed, &problem)) {
    return UsageError("audit", problem, kUsage);
  }
  if (parsed.help) return std::fputs(kUsage, stdout), kExitOk;
  auto client = ControlClient::Open(parsed.namespace_name, parsed.id);
  if (!client.ok()) return ReportFailure(client.status());
  absl::StatusOr<airlock::v1::AuditResponse> audit = (*client)->Audit();
  if (!audit.ok()) return ReportFailure(audit.status());
  for (const std::string& line : audit->lines()) {
    std::printf("%s\n", parsed.json ? line.c_str() : AuditLineText(line).c_str());
  }
  return kExitOk;
}

}  // namespace airlock::cli
