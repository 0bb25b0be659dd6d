// airlock seal [--namespace NS] [--json] ID
#include <cstdio>

#include "cmd/airlock/command.h"
#include "cmd/airlock/control_client.h"
#include "cmd/airlock/sandbox_args.h"
#include "cmd/airlock/sandbox_view.h"

namespace airlock::cli {
namespace {

constexpr char kUsage[] =
    "usage: airlock seal [--namespace NS] [--json] ID\n"
    "\n"
    "  Seals the sandbox now instead of waiting for its setup to finish: the uplink is deleted and\n"
    "  the network namespace verified to hold only lo, the rootfs becomes read-only and setup\n"
    "  leftovers are killed. One-way; sealing a sealed sandbox only shows its status.\n"
    "  Exit 1 when the sandbox did not end up sealed and verified.\n";

}  // namespace

int RunSeal(const std::vector<std::string>& args) {
  SandboxArgs parsed;
  std::string problem;
  if (!ParseSandboxArgs(args, /*wants_id=*/true, /*allows_all=*/false, &parsed, &problem)) {
    return UsageError("seal", problem, kUsage);
  }
  if (parsed.help) return std::fputs(kUsage, stdout), kExitOk;
  auto client = ControlClient::Open(parsed.namespace_name, parsed.id);
  if (!client.ok()) return ReportFailure(client.status());
  absl::StatusOr<airlock::v1::SandboxStatus> status = (*client)->Seal();
  if (!status.ok()) return ReportFailure(status.status());
  const bool sealed = status->phase() == "sealed" && status->verified();
  if (parsed.json) {
    std::printf("%s\n", JsonText(StatusJson(*status), 2).c_str());
  } else if (sealed) {
    std::printf("%s: %s\n", parsed.id.c_str(), SealSummary(*status).c_str());
  } else {
    std::fprintf(stderr, "airlock: %s is not sealed: phase %s%s%s\n", parsed.id.c_str(), status->phase().c_str(),
                 status->failure().empty() ? "" : ": ", status->failure().c_str());
  }
  return sealed ? kExitOk : kExitFailure;
}

}  // namespace airlock::cli
