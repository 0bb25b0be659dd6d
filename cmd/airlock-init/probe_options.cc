#include "cmd/airlock-init/probe_options.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <utility>

#include "cmd/airlock-init/capability_names.h"

namespace airlock::init {
namespace {

bool Fail(std::string* error, const std::string& message) {
  *error = message;
  return false;
}

bool ParsePort(const std::string& text, uint16_t* port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

// A host as a request line carries it: name or IP literal characters only (no spaces, no CRLF).
bool ProxyName(const std::string& text) {
  return !text.empty() && text.size() <= 255 &&
         text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_[]:") ==
             std::string::npos;
}

}  // namespace

bool ParsePeer(const std::string& text, Peer* out) {
  Peer peer;
  peer.text = text;
  uint16_t port = 0;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    if (!ParsePort(text.substr(close + 2), &port)) return false;
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&peer.address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, text.substr(1, close - 1).c_str(), &in6->sin6_addr) != 1) return false;
    peer.address_len = sizeof(sockaddr_in6);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos || !ParsePort(text.substr(colon + 1), &port)) return false;
    auto* in4 = reinterpret_cast<sockaddr_in*>(&peer.address);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    if (inet_pton(AF_INET, text.substr(0, colon).c_str(), &in4->sin_addr) != 1) return false;
    peer.address_len = sizeof(sockaddr_in);
  }
  *out = std::move(peer);
  return true;
}

bool ParseProbeOptions(const std::vector<std::string>& args, ProbeOptions* out, std::string* error) {
  ProbeOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    if (flag == "--json") {
      options.json = true;
      continue;
    }
    std::string value;
    size_t eq = flag.find('=');
    if (flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag.resize(eq);
    } else if (flag.rfind("--", 0) == 0 && i + 1 < args.size()) {
      value = args[++i];
    } else if (flag.rfind("--", 0) == 0) {
      return Fail(error, flag + " needs a value");
    } else {
      return Fail(error, "unexpected argument \"" + flag + "\"");
    }

    if (flag == "--workspace") {
      if (value.empty() || value[0] != '/') return Fail(error, "--workspace must be an absolute path");
      options.workspace = value;
    } else if (flag == "--secret") {
      if (value.empty() || value.find('=') != std::string::npos) return Fail(error, "bad --secret name \"" + value + "\"");
      options.secrets.push_back(value);
    } else if (flag == "--peer") {
      Peer peer;
      if (!ParsePeer(value, &peer)) return Fail(error, "bad --peer \"" + value + "\" (want IP:PORT or [IPv6]:PORT)");
      options.peers.push_back(std::move(peer));
    } else if (flag == "--cap") {
      int bit = CapabilityNumber(value);
      if (bit < 0) return Fail(error, "unknown capability \"" + value + "\"");
      options.allowed_caps |= uint64_t{1} << bit;
    } else if (flag == "--expect-phase") {
      if (value == "sealed") {
        options.phase = ExpectedPhase::kSealed;
      } else if (value == "setup") {
        options.phase = ExpectedPhase::kSetup;
      } else {
        return Fail(error, "--expect-phase must be sealed or setup");
      }
    } else if (flag == "--setup-filter") {
      if (value != "strict" && value != "allow-mount") {
        return Fail(error, "--setup-filter must be strict or allow-mount");
      }
      options.setup_filter = true;
      options.setup_mount_allowed = value == "allow-mount";
    } else if (flag == "--proxy-allowed") {
      size_t colon = value.rfind(':');
      if (colon == std::string::npos || colon == 0 || !ParsePort(value.substr(colon + 1), &options.proxy.allowed_port) ||
          !ProxyName(value.substr(0, colon))) {
        return Fail(error, "bad --proxy-allowed \"" + value + "\" (want HOST:PORT)");
      }
      options.proxy.allowed_host = value.substr(0, colon);
    } else if (flag == "--proxy-refused") {
      if (!ProxyName(value)) return Fail(error, "bad --proxy-refused \"" + value + "\"");
      options.proxy.refused_host = value;
    } else if (flag == "--proxy-refused-method") {
      if (value.empty() || value.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos) {
        return Fail(error, "bad --proxy-refused-method \"" + value + "\"");
      }
      options.proxy.refused_method = value;
    } else if (flag == "--proxy-tls-port") {
      if (!ParsePort(value, &options.proxy.tls_port)) return Fail(error, "bad --proxy-tls-port \"" + value + "\"");
    } else if (flag == "--rootfs-probe-dir") {
      if (value.empty() || value[0] != '/') return Fail(error, "--rootfs-probe-dir must be an absolute path");
      options.rootfs_dir = value;
    } else {
      return Fail(error, "unknown flag " + flag);
    }
  }
  if (options.proxy.allowed_host.empty() != options.proxy.refused_host.empty()) {
    return Fail(error, "--proxy-allowed and --proxy-refused go together");
  }
  *out = std::move(options);
  return true;
}

}  // namespace airlock::init
