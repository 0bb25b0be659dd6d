// airlock verify [--namespace NS] [--json] ID
#include <cstdio>

#include "cmd/airlock/command.h"
#include "cmd/airlock/control_client.h"
#include "cmd/airlock/sandbox_args.h"
#include "cmd/airlock/sandbox_view.h"

namespace airlock::cli {
namespace {

constexpr char kUsage[] =
    "usage: airlock verify [--namespace NS] [--json] ID\n"
    "\n"
    "  Runs the probe battery inside the live sandbox, as an agent process would run, and prints\n"
    "  each promise as held or BROKEN: no route to the former uplink, only lo, no packet or raw\n"
    "  sockets, no new net or user namespaces, no mounts, read-only rootfs, writable workspace,\n"
    "  capabilities within the policy, secrets gone, seccomp filter and no_new_privs in force.\n"
    "  Exit 1 when any probe is broken or could not tell.\n";

// The probes start a process in the sandbox; connect timeouts inside are bounded at 1 s a peer.
constexpr absl::Duration kVerifyTimeout = absl::Seconds(60);

}  // namespace

int RunVerify(const std::vector<std::string>& args) {
  SandboxArgs parsed;
  std::string problem;
  if (!ParseSandboxArgs(args, /*wants_id=*/true, /*allows_all=*/false, &parsed, &problem)) {
    return UsageError("verify", problem, kUsage);
  }
  if (parsed.help) return std::fputs(kUsage, stdout), kExitOk;
  auto client = ControlClient::Open(parsed.namespace_name, parsed.id);
  if (!client.ok()) return ReportFailure(client.status());
  absl::StatusOr<airlock::v1::VerifyResponse> response = (*client)->Verify(kVerifyTimeout);
  if (!response.ok()) return ReportFailure(response.status());
  if (response->id().empty()) response->set_id(parsed.id);
  std::fputs(parsed.json ? (JsonText(VerifyJson(*response), 2) + "\n").c_str()
                         : VerifyText(parsed.namespace_name, *response).c_str(),
             stdout);
  return VerifyHeld(*response) ? kExitOk : kExitFailure;
}

}  // namespace airlock::cli
