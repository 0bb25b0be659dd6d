#include "cmd/airlock-init/probe_mode.h"

#include <unistd.h>

#include <cerrno>

#include "cmd/airlock-init/probe_options.h"
#include "cmd/airlock-init/probe_result.h"
#include "cmd/airlock-init/probes.h"

namespace airlock::init {
namespace {

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// During setup the network is meant to be open: say so instead of calling it broken.
ProbeResult ForSetup(ProbeResult result) {
  if (result.verdict == Verdict::kBroken) {
    result.verdict = Verdict::kInfo;
    result.detail = "setup: open: " + result.detail;
  }
  return result;
}

}  // namespace

std::vector<ProbeResult> RunAllProbes(const ProbeOptions& options) {
  const bool setup = options.phase == ExpectedPhase::kSetup;
  std::vector<ProbeResult> results;
  ProbeResult peers = ProbePeerUnreachable(options.peers);
  results.push_back(setup ? ForSetup(peers) : peers);
  ProbeResult loopback = ProbeOnlyLoopback();
  results.push_back(setup ? ForSetup(loopback) : loopback);
  results.push_back(ProbePacketSocketDenied());
  results.push_back(ProbeRawSocketDenied());
  results.push_back(ProbeVsockDenied());
  results.push_back(ProbeOtherFamiliesDenied());
  results.push_back(ProbeNetNamespaceDenied());
  results.push_back(ProbeUserNamespaceDenied());
  results.push_back(ProbeMountDenied(options.workspace));
  results.push_back(ProbeKernelFacilitiesDenied());
  results.push_back(ProbeRootfsReadonly(options.rootfs_dir));
  results.push_back(ProbeWorkspaceWritable(options.workspace));
  results.push_back(ProbeCapsBounded(options.allowed_caps));
  results.push_back(ProbeSecretsAbsent(options.secrets));
  results.push_back(ProbeSeccompActive());
  results.push_back(ProbeNoNewPrivs());
  results.push_back(ProbeStdioNotHostFiles());
  if (!setup && !options.proxy.allowed_host.empty()) {
    for (ProbeResult& r : ProbeProxy(options.proxy)) results.push_back(std::move(r));
  }
  return results;
}

int RunProbeMode(const std::vector<std::string>& args) {
  ProbeOptions options;
  std::string error;
  if (!ParseProbeOptions(args, &options, &error)) {
    WriteAll(STDERR_FILENO, "airlock-init probe: " + error + "\n" + kProbeUsage + "\n");
    return 2;
  }
  std::vector<ProbeResult> results =
      options.setup_filter ? RunSetupFilterProbes(options.setup_mount_allowed) : RunAllProbes(options);
  WriteAll(STDOUT_FILENO, options.json ? ReportJson(results) : ReportTable(results));
  return AllHeld(results) ? 0 : 1;
}

}  // namespace airlock::init
