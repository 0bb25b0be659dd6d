// The probes of `airlock-init probe`: each checks one promise of the sealed airlock from inside the
// sandbox, as an agent process would see it. Every probe is bounded in time and harmless if the
// forbidden thing unexpectedly works (it is undone, or happens in a child that exits at once).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cmd/airlock-init/probe_options.h"
#include "cmd/airlock-init/probe_result.h"

namespace airlock::init {

// network.peer-unreachable: a TCP connect to each peer (and to no other address) fails without a
// packet leaving (no route: ENETUNREACH at once), and no route in /proc/net leaves but via lo.
ProbeResult ProbePeerUnreachable(const std::vector<Peer>& peers);
// network.only-loopback: /sys/class/net, /proc/net/dev and SIOCGIFCONF know only lo.
ProbeResult ProbeOnlyLoopback();

// proxy.*: the airlock proxy (network.execution: proxy) refuses `refused_host` (403), refuses
// `refused_method` (403) and lets `allowed_host` through, and (with `tls_port`) closes a CONNECT
// whose ClientHello names another host.
std::vector<ProbeResult> ProbeProxy(const ProxyProbeOptions& options);

// socket.packet-denied / socket.raw-denied: the sockets cannot be created (EPERM).
ProbeResult ProbePacketSocketDenied();
ProbeResult ProbeRawSocketDenied();
// ns.net-denied / ns.user-denied: unshare, clone and clone3 cannot create the namespace.
ProbeResult ProbeNetNamespaceDenied();
ProbeResult ProbeUserNamespaceDenied();
// mount-denied: mount(tmpfs) and fsopen fail with EPERM. The mount point is a fresh directory in
// the workspace (or /tmp), removed afterwards.
ProbeResult ProbeMountDenied(const std::string& workspace);

// rootfs.readonly: creating <rootfs_dir>/airlock-probe.<pid> fails with EROFS.
ProbeResult ProbeRootfsReadonly(const std::string& rootfs_dir);
// workspace.writable: a file can be created, written and removed in the workspace.
ProbeResult ProbeWorkspaceWritable(const std::string& workspace);

// caps.bounded: CapEff, CapPrm, CapBnd and CapAmb hold no capability outside `allowed`.
ProbeResult ProbeCapsBounded(uint64_t allowed);
ProbeResult CapsBoundedVerdict(const std::string& status_text, uint64_t allowed);
// secrets.absent: no secret name in the own environment nor in /proc/1/environ.
ProbeResult ProbeSecretsAbsent(const std::vector<std::string>& secrets);
// seccomp.active (Seccomp: 2) and no_new_privs (NoNewPrivs: 1) from /proc/self/status.
ProbeResult ProbeSeccompActive();
ProbeResult ProbeNoNewPrivs();

// stdio.no-host-fifo: fds 0-2 of the init and of every exec (the processes whose parent is outside
// the pid namespace) are pipes, sockets, /dev/null or the sandbox's own terminal: no host fifo or
// file (the shim hands the container pipes, as containerd's runc shim does).
ProbeResult ProbeStdioNotHostFiles();
// Why one such fd (readlink `link`, stat of the fd `target`) is a host object; "" when it is not.
// `in_view`: stat of `link` as a path inside the sandbox, nullptr when there is none.
std::string StdioFdProblem(const std::string& link, const struct stat& target, const struct stat* in_view);

// socket.vsock-denied: socket(AF_VSOCK) fails (vsock is bound to no network namespace: it would
// reach the hypervisor past the sandbox's netns).
ProbeResult ProbeVsockDenied();
// socket.families-denied: socket() of families other than unix/inet/inet6/netlink, and socketpair()
// of any but unix, answer EPERM (the seccomp filter, before the kernel looks at them).
ProbeResult ProbeOtherFamiliesDenied();
// kernel-denied: bpf, perf_event_open, keyctl/add_key/request_key, userfaultfd, io_uring, kexec,
// module loading and setns answer EPERM.
ProbeResult ProbeKernelFacilitiesDenied();

// The setup battery (probe_setup_filter.cc): what the setup filter promises, from a process under
// it; every name has the prefix below ("setup.socket.vsock-denied", ...). `mount_allowed`: the
// policy's seccomp.setup is allow-mount.
inline constexpr char kSetupProbePrefix[] = "setup.";
std::vector<ProbeResult> RunSetupFilterProbes(bool mount_allowed);

// All probes, in the contract's order.
std::vector<ProbeResult> RunAllProbes(const ProbeOptions& options);

}  // namespace airlock::init
