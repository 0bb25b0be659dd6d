// airlock ls [--namespace NS | --all] [--json]
#include <algorithm>
#include <cstdio>

#include "cmd/airlock/command.h"
#include "cmd/airlock/control_client.h"
#include "cmd/airlock/sandbox_args.h"
#include "cmd/airlock/sandbox_view.h"

namespace airlock::cli {
namespace {

constexpr char kUsage[] =
    "usage: airlock ls [--namespace NS | --all] [--json]\n"
    "\n"
    "  The live airlock sandboxes (from /run/airlock/tasks) with their phase and seal, asking each\n"
    "  sandbox's shim; a shim that does not answer is shown as unreachable.\n";

// Listing many sandboxes must not stall on a dead shim.
constexpr Timeouts kListTimeouts{absl::Milliseconds(500), absl::Seconds(5)};

struct Row {
  std::string namespace_name;
  std::string id;
  absl::StatusOr<airlock::v1::SandboxStatus> status;
};

std::string SealColumn(const airlock::v1::SandboxStatus& s) {
  if (s.seal_trigger().empty() && !s.has_sealed_at()) return "-";
  return (s.seal_trigger().empty() ? "sealed" : s.seal_trigger()) + (s.verified() ? ",verified" : ",NOT-verified");
}

}  // namespace

int RunLs(const std::vector<std::string>& args) {
  SandboxArgs parsed;
  std::string problem;
  if (!ParseSandboxArgs(args, /*wants_id=*/false, /*allows_all=*/true, &parsed, &problem)) {
    return UsageError("ls", problem, kUsage);
  }
  if (parsed.help) return std::fputs(kUsage, stdout), kExitOk;

  std::vector<std::string> namespaces = {parsed.namespace_name};
  if (parsed.all) {
    absl::StatusOr<std::vector<std::string>> all = ListNamespaces();
    if (!all.ok()) return ReportFailure(all.status());
    namespaces = *all;
  }
  std::vector<Row> rows;
  for (const std::string& ns : namespaces) {
    absl::StatusOr<std::vector<std::string>> ids = ListSandboxIds(ns);
    if (!ids.ok()) return ReportFailure(ids.status());
    for (const std::string& id : *ids) {
      Row row{ns, id, absl::UnknownError("")};
      auto client = ControlClient::Open(ns, id, kListTimeouts);
      row.status = client.ok() ? (*client)->Status() : absl::StatusOr<airlock::v1::SandboxStatus>(client.status());
      rows.push_back(std::move(row));
    }
  }

  if (parsed.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const Row& row : rows) {
      if (row.status.ok()) {
        nlohmann::json entry = StatusJson(*row.status);
        // The record names the sandbox; an old shim may leave these empty.
        entry["id"] = row.id;
        entry["namespace"] = row.namespace_name;
        out.push_back(entry);
      } else {
        out.push_back({{"id", row.id}, {"namespace", row.namespace_name}, {"phase", "unreachable"},
                       {"error", std::string(row.status.status().message())}});
      }
    }
    std::printf("%s\n", JsonText(out, 2).c_str());
    return kExitOk;
  }
  if (rows.empty()) {
    std::printf("no airlock sandboxes %s\n",
                parsed.all ? "in any namespace" : ("in namespace " + parsed.namespace_name).c_str());
    return kExitOk;
  }
  size_t id_width = 2, ns_width = 9;
  for (const Row& row : rows) {
    id_width = std::max(id_width, row.id.size());
    ns_width = std::max(ns_width, row.namespace_name.size());
  }
  auto print_row = [&](const std::string& ns, const std::string& id, const std::string& phase, const std::string& seal,
                       const std::string& policy) {
    if (parsed.all) std::printf("%-*s  ", static_cast<int>(ns_width), ns.c_str());
    std::printf("%-*s  %-11s  %-22s  %s\n", static_cast<int>(id_width), id.c_str(), phase.c_str(), seal.c_str(),
                policy.c_str());
  };
  print_row("NAMESPACE", "ID", "PHASE", "SEAL", "POLICY");
  for (const Row& row : rows) {
    if (!row.status.ok()) {
      print_row(row.namespace_name, row.id, "unreachable", "-", "-");
      continue;
    }
    const airlock::v1::SandboxStatus& s = *row.status;
    print_row(row.namespace_name, row.id, s.phase().empty() ? "-" : s.phase(), SealColumn(s),
              s.policy_source().empty() ? "-" : s.policy_source());
  }
  return kExitOk;
}

}  // namespace airlock::cli
