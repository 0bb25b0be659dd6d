// Command line of `airlock-init probe` (see probe_mode.h).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

namespace airlock::init {

struct Peer {
  std::string text;  // as given: "198.18.0.1:80" or "[fd00::1]:80"
  sockaddr_storage address{};
  socklen_t address_len = 0;
};

enum class ExpectedPhase { kSealed, kSetup };

// The proxy probes' targets, chosen by the shim from the policy (Sandbox::ProbeArgs).
struct ProxyProbeOptions {
  std::string allowed_host;    // "" = no proxy probes
  uint16_t allowed_port = 80;
  std::string refused_host;
  std::string refused_method;  // "" when every method is allowed
  uint16_t tls_port = 0;       // 0: no HTTPS port allowed, no SNI probe
};

struct ProbeOptions {
  bool json = false;
  std::string workspace;                // "" = the sandbox has none
  std::vector<std::string> secrets;     // names only
  std::vector<Peer> peers;
  uint64_t allowed_caps = 0;            // bits of the --cap names
  ExpectedPhase phase = ExpectedPhase::kSealed;
  std::string rootfs_dir = "/";         // tests point it at a read-only bind of their own
  // --setup-filter strict|allow-mount: the setup battery (what the setup filter promises) instead
  // of the sealed one, from a process under that filter (a setup command).
  bool setup_filter = false;
  bool setup_mount_allowed = false;
  ProxyProbeOptions proxy;
};

// Parses the words after "probe". Flags take their value as the next word or after '='. On failure
// returns false with a one-line reason in `error`.
bool ParseProbeOptions(const std::vector<std::string>& args, ProbeOptions* out, std::string* error);

// "IP:PORT" (IPv4) or "[IPv6]:PORT", numeric only, port 1..65535.
bool ParsePeer(const std::string& text, Peer* out);

inline constexpr char kProbeUsage[] =
    "usage: airlock-init probe [--json] [--workspace PATH] [--secret NAME]... [--peer IP:PORT]...\n"
    "                          [--cap NAME]... [--expect-phase sealed|setup] [--rootfs-probe-dir DIR]\n"
    "                          [--proxy-allowed HOST:PORT --proxy-refused HOST [--proxy-refused-method M]\n"
    "                           [--proxy-tls-port PORT]]\n"
    "       airlock-init probe [--json] --setup-filter strict|allow-mount";

}  // namespace airlock::init
