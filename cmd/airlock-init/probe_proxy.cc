// proxy.*: the airlock proxy on 127.0.0.1:3128, seen from inside the sealed sandbox. Each probe is
// one short request on its own connection; only the allowed-host probe may reach the internet
// (one HEAD request, as the policy allows).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cmd/airlock-init/probe_util.h"
#include "cmd/airlock-init/probes.h"
#include "shim/base/unique_fd.h"

namespace airlock::init {
namespace {

constexpr int kTimeoutMs = 5000;
constexpr size_t kMaxAnswer = 16 * 1024;
constexpr uint16_t kProxyPort = 3128;

int64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

struct Exchange {
  bool connected = false;
  std::string error;   // connect or send failure
  std::string answer;  // what came back (bounded)
  bool closed = false; // the proxy closed the connection
};

UniqueFd ConnectProxy(std::string* error) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    *error = "socket: " + ErrnoName(errno);
    return fd;
  }
  timeval tv{kTimeoutMs / 1000, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(kProxyPort);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    *error = "connect 127.0.0.1:3128: " + ErrnoName(errno);
    fd.reset();
  }
  return fd;
}

// Reads until the proxy closes, `enough` says the answer is complete, or the time is up.
void ReadAnswer(int fd, Exchange& ex, bool (*enough)(const std::string&)) {
  const int64_t deadline = NowMs() + kTimeoutMs;
  while (ex.answer.size() < kMaxAnswer && !(enough && enough(ex.answer))) {
    int64_t left = deadline - NowMs();
    if (left <= 0) return;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) return;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      ex.closed = true;
      return;
    }
    ex.answer.append(buf, static_cast<size_t>(n));
  }
}

bool HeadComplete(const std::string& text) { return text.find("\r\n\r\n") != std::string::npos; }

Exchange Ask(const std::string& request) {
  Exchange ex;
  UniqueFd fd = ConnectProxy(&ex.error);
  if (!fd) return ex;
  ex.connected = true;
  if (send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    ex.error = "send: " + ErrnoName(errno);
    return ex;
  }
  ReadAnswer(fd.get(), ex, HeadComplete);
  return ex;
}

int StatusOf(const std::string& answer) {
  if (answer.compare(0, 9, "HTTP/1.1 ") != 0 || answer.size() < 12) return 0;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (answer[i] < '0' || answer[i] > '9') return 0;
    status = status * 10 + (answer[i] - '0');
  }
  return status;
}

std::string RefusalOf(const std::string& answer) {
  const std::string key = "\r\nX-Airlock-Refused: ";
  size_t at = answer.find(key);
  if (at == std::string::npos) return "";
  size_t end = answer.find("\r\n", at + key.size());
  return answer.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
}

std::string FirstLine(const std::string& answer) {
  std::string line = answer.substr(0, answer.find("\r\n"));
  return line.size() > 80 ? line.substr(0, 80) + "..." : line;
}

// A TLS 1.2-shaped ClientHello naming `name` (enough for the proxy's SNI check; never completed).
std::string ClientHelloFor(const std::string& name) {
  auto u16 = [](size_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; };
  std::string sni_entry = std::string(1, '\0') + u16(name.size()) + name;
  std::string sni = u16(0) + u16(sni_entry.size() + 2) + u16(sni_entry.size()) + sni_entry;
  std::string body = std::string("\x03\x03", 2) + std::string(32, 'a') + std::string(1, '\0') + u16(2) +
                     std::string("\x13\x01", 2) + std::string("\x01\x00", 2) + u16(sni.size()) + sni;
  std::string handshake = std::string(1, '\x01') + std::string(1, '\0') + u16(body.size()) + body;
  return std::string("\x16\x03\x01", 3) + u16(handshake.size()) + handshake;
}

ProbeResult Result(const char* name, Verdict verdict, std::string detail) {
  return ProbeResult{name, verdict, std::move(detail)};
}

}  // namespace

std::vector<ProbeResult> ProbeProxy(const ProxyProbeOptions& o) {
  std::vector<ProbeResult> results;
  // A host the rules refuse: 403 from the proxy itself.
  Exchange refused = Ask("GET http://" + o.refused_host + "/ HTTP/1.1\r\nHost: " + o.refused_host +
                         "\r\nConnection: close\r\n\r\n");
  if (!refused.connected || !refused.error.empty()) {
    results.push_back(Result("proxy.refuses-unlisted", Verdict::kError, refused.error));
  } else if (StatusOf(refused.answer) == 403 && !RefusalOf(refused.answer).empty()) {
    results.push_back(Result("proxy.refuses-unlisted", Verdict::kHeld,
                             o.refused_host + ": 403, " + RefusalOf(refused.answer)));
  } else {
    results.push_back(Result("proxy.refuses-unlisted", Verdict::kBroken,
                             o.refused_host + ": " + (refused.answer.empty() ? "no answer" : FirstLine(refused.answer))));
  }

  const std::string origin = o.allowed_host + (o.allowed_port == 80 ? "" : ":" + std::to_string(o.allowed_port));
  if (!o.refused_method.empty()) {
    Exchange method = Ask(o.refused_method + " http://" + origin + "/airlock-probe HTTP/1.1\r\nHost: " + origin +
                          "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    std::string why = RefusalOf(method.answer);
    if (!method.connected || !method.error.empty()) {
      results.push_back(Result("proxy.refuses-method", Verdict::kError, method.error));
    } else if (StatusOf(method.answer) == 403 && why.find("method") != std::string::npos) {
      results.push_back(Result("proxy.refuses-method", Verdict::kHeld, o.refused_method + " " + origin + ": 403, " + why));
    } else {
      results.push_back(Result("proxy.refuses-method", Verdict::kBroken,
                               o.refused_method + " " + origin + ": " + FirstLine(method.answer)));
    }
  }

  Exchange allowed = Ask("HEAD http://" + origin + "/ HTTP/1.1\r\nHost: " + origin + "\r\nConnection: close\r\n\r\n");
  int status = StatusOf(allowed.answer);
  if (!allowed.connected || !allowed.error.empty() || status == 0) {
    results.push_back(Result("proxy.allows-listed", Verdict::kError,
                             allowed.error.empty() ? origin + ": no HTTP answer" : allowed.error));
  } else if (status == 403 || status == 429 || status == 400) {
    results.push_back(Result("proxy.allows-listed", Verdict::kBroken, origin + ": " + FirstLine(allowed.answer)));
  } else {
    results.push_back(Result("proxy.allows-listed", Verdict::kHeld,
                             origin + ": passed the rules (" + FirstLine(allowed.answer) + ")"));
  }

  if (o.tls_port != 0) {
    // CONNECT to the allowed host, then a ClientHello naming another: closed before anything goes upstream.
    const std::string tunnel = o.allowed_host + ":" + std::to_string(o.tls_port);
    Exchange ex;
    UniqueFd fd = ConnectProxy(&ex.error);
    std::string connect = "CONNECT " + tunnel + " HTTP/1.1\r\nHost: " + tunnel + "\r\n\r\n";
    if (fd && send(fd.get(), connect.data(), connect.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(connect.size())) {
      ReadAnswer(fd.get(), ex, HeadComplete);
      if (StatusOf(ex.answer) == 200) {
        std::string hello = ClientHelloFor("airlock-probe.invalid");
        Exchange after;
        if (send(fd.get(), hello.data(), hello.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(hello.size())) {
          ReadAnswer(fd.get(), after, nullptr);
        }
        if (after.closed && after.answer.empty()) {
          results.push_back(Result("proxy.sni-checked", Verdict::kHeld,
                                   "CONNECT " + tunnel + " with a ClientHello naming airlock-probe.invalid: closed"));
        } else {
          results.push_back(Result("proxy.sni-checked", Verdict::kBroken,
                                   "CONNECT " + tunnel + " with a ClientHello naming airlock-probe.invalid: " +
                                       (after.answer.empty() ? "left open" : std::to_string(after.answer.size()) +
                                                                                 " bytes came back")));
        }
      } else {
        results.push_back(Result("proxy.sni-checked", Verdict::kError, "CONNECT " + tunnel + ": " + FirstLine(ex.answer)));
      }
    } else {
      results.push_back(Result("proxy.sni-checked", Verdict::kError, ex.error.empty() ? "send failed" : ex.error));
    }
  }
  return results;
}

}  // namespace airlock::init
