#include "policy/proxy/proxy_server.h"

#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <deque>
#include <optional>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "policy/host_names.h"
#include "policy/net/in_netns.h"
#include "policy/proxy/client_hello.h"
#include "policy/proxy/http_message.h"
#include "shim/base/errno_status.h"
#include "shim/base/log.h"
#include "shim/base/terminal_text.h"

namespace airlock::proxy {
namespace {

constexpr size_t kReadChunk = 256 * 1024;   // upstream reads, straight into the client's queue
constexpr size_t kClientChunk = 64 * 1024;  // client reads (requests, tunnel bytes), on the stack
constexpr int kReadsPerEvent = 8;
constexpr size_t kPipeSize = 1 << 20;   // splice()'s pipe per downloading connection
constexpr size_t kMinSplice = 16 * 1024;  // below it a plain read is cheaper than two splices
// Parsed requests a client may have queued behind the one being served (pipelining).
constexpr size_t kMaxQueuedItems = 256;
// A side stops being read while this much waits for the other side (memory per connection).
constexpr size_t kHighWater = 512 * 1024;
constexpr size_t kMaxAuditPath = 1024;
constexpr int kAcceptBatch = 64;
// The ClientHello may come in several records: their headers on top of the message.
constexpr size_t kMaxHelloBytes = kMaxClientHello + 4 + 64 * 5;

std::string StatusText(int status) {
  return http_status_str(static_cast<http_status>(status));
}

// The proxy's own answer: short, plain, and the connection ends after it.
std::string Answer(int status, const std::string& reason) {
  std::string body = absl::StrCat("airlock proxy: ", reason, "\n");
  return absl::StrCat("HTTP/1.1 ", status, " ", StatusText(status), "\r\nContent-Type: text/plain\r\nContent-Length: ",
                      body.size(), "\r\nX-Airlock-Refused: ", reason, "\r\nConnection: close\r\n\r\n", body);
}

// Text from the sandbox that goes into a reason or a header: printable ASCII, bounded.
std::string Printable(absl::string_view text, size_t max = 200) {
  std::string out;
  for (char c : text.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > max) out += "...";
  return out;
}

struct Target {
  std::string host;  // canonical
  uint16_t port = 0;
  std::string path;  // origin-form, "/" at least
};

absl::string_view Field(absl::string_view url, const http_parser_url& u, http_parser_url_fields f) {
  if (!(u.field_set & (1 << f))) return {};
  return url.substr(u.field_data[f].off, u.field_data[f].len);
}

// host[:port] with an IPv6 literal in brackets; http_parser_parse_url gives it without them.
absl::StatusOr<std::string> CanonicalUrlHost(absl::string_view host) {
  if (host.find(':') != absl::string_view::npos) return policy::CanonicalHostName(absl::StrCat("[", host, "]"));
  return policy::CanonicalHostName(host);
}

absl::StatusOr<Target> ParseTarget(const RequestHead& head) {
  const bool connect = head.method == "CONNECT";
  http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url(head.target.data(), head.target.size(), connect ? 1 : 0, &u) != 0) {
    return absl::InvalidArgumentError(connect ? "CONNECT wants host:port" : "the request target is no absolute URL");
  }
  Target t;
  absl::string_view host = Field(head.target, u, UF_HOST);
  if (host.empty()) return absl::InvalidArgumentError("the request target names no host (ask the proxy with http://host/path)");
  if (!connect) {
    absl::string_view schema = Field(head.target, u, UF_SCHEMA);
    if (!absl::EqualsIgnoreCase(schema, "http")) {
      return absl::InvalidArgumentError("only http:// URLs are proxied as requests (HTTPS goes through CONNECT)");
    }
  }
  absl::StatusOr<std::string> canonical = CanonicalUrlHost(host);
  if (!canonical.ok()) return canonical.status();
  t.host = *std::move(canonical);
  t.port = (u.field_set & (1 << UF_PORT)) ? u.port : 80;
  if (connect && !(u.field_set & (1 << UF_PORT))) return absl::InvalidArgumentError("CONNECT wants host:port");
  if (t.port == 0) return absl::InvalidArgumentError("port 0");
  absl::string_view path = Field(head.target, u, UF_PATH);
  t.path = absl::StrCat(path.empty() ? "/" : path);
  if (absl::string_view query = Field(head.target, u, UF_QUERY); (u.field_set & (1 << UF_QUERY))) {
    absl::StrAppend(&t.path, "?", query);
  }
  return t;
}

std::string HostHeader(const Target& t) {
  return t.port == 80 ? t.host : absl::StrCat(t.host, ":", t.port);
}

}  // namespace

// One client connection and, at most, one upstream connection at a time.
struct ProxyServer::Connection {
  enum class Mode { kHttp, kHello, kTunnel };
  // The request being served.
  struct Exchange {
    RequestHead head;
    Target target;
    absl::Time started;
    bool sent_head = false;     // upstream has the head
    bool request_done = false;  // RequestEnd forwarded
    bool response_done = false;
    uint64_t bytes_up = 0;
    uint64_t bytes_down = 0;
    std::string address;        // the checked address connected to
  };

  uint64_t id = 0;
  UniqueFd client;
  UniqueFd upstream;
  uint32_t client_mask = 0;
  uint32_t upstream_mask = 0;
  Mode mode = Mode::kHttp;
  RequestReader reader;
  ResponseReader response;
  std::deque<RequestItem> items;
  size_t queued_bytes = 0;  // body bytes in `items`
  std::string hello;        // kHello: what the client sent so far
  std::string to_upstream;
  std::string to_client;
  // Bulk download bytes move upstream -> pipe -> client by splice(), never through our memory; they
  // come after everything in to_client (spliced only while it is empty).
  UniqueFd pipe_read;
  UniqueFd pipe_write;
  size_t piped = 0;  // bytes in the pipe, not yet at the client
  std::optional<Exchange> exchange;
  std::string upstream_origin;  // "host:port" of the open upstream connection
  bool upstream_reusable = false;
  bool connecting = false;
  std::vector<Endpoint> candidates;  // checked addresses still to try
  std::string refused_addresses;     // why resolved addresses were skipped
  Reactor::TimerId connect_timer = 0;
  bool client_eof = false;
  bool upstream_eof = false;
  bool close_after_flush = false;
  bool dead = false;
  absl::Time last_activity;
  absl::Time hello_since;
};

absl::StatusOr<UniqueFd> ListenInNetns(int netns_fd, uint16_t port) {
  return net::MakeInNetns<UniqueFd>(netns_fd, [&]() -> absl::StatusOr<UniqueFd> {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return ErrnoStatus("proxy listener: socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      return ErrnoStatus(absl::StrCat("proxy listener: bind 127.0.0.1:", port));
    }
    if (listen(fd.get(), 128) != 0) return ErrnoStatus("proxy listener: listen");
    return fd;
  });
}

std::unique_ptr<ProxyServer> ProxyServer::Start(ProxyOptions options) {
  std::unique_ptr<ProxyServer> server(new ProxyServer(std::move(options)));
  ProxyServer* raw = server.get();
  std::weak_ptr<bool> alive = server->alive_;
  raw->options_.reactor->Post([raw, alive] {
    if (alive.expired() || raw->shut_down_) return;
    absl::Status added =
        raw->options_.reactor->Add(raw->options_.listener.get(), EPOLLIN, [raw](uint32_t) { raw->OnAccept(); });
    if (added.ok()) {
      raw->listening_ = true;
    } else {
      log::Warn("proxy: cannot watch the listener: ", added.message());
    }
  });
  return server;
}

ProxyServer::ProxyServer(ProxyOptions options) : options_(std::move(options)) {
  struct stat st;
  if (fstat(options_.listener.get(), &st) == 0) listener_inode_ = st.st_ino;
}

ProxyServer::~ProxyServer() {
  // Without a Shutdown on the reactor thread (a reactor that never ran) only the fds go.
  alive_.reset();
}

void ProxyServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  alive_.reset();
  if (listening_) options_.reactor->Remove(options_.listener.get());
  listening_ = false;
  options_.listener.reset();
  std::vector<uint64_t> ids;
  for (const auto& [id, c] : connections_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    Close(*it->second, "the sandbox is going away");
    Reap(id);
  }
  if (sweep_timer_ != 0) options_.reactor->CancelTimer(sweep_timer_);
  sweep_timer_ = 0;
}

void ProxyServer::EnterExecution() {
  if (execution_ || shut_down_) return;
  execution_ = true;
  std::vector<uint64_t> ids;
  for (const auto& [id, c] : connections_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    Close(*it->second, "the sandbox was sealed");
    Reap(id);
  }
}

ProxyCounters ProxyServer::Counters() const {
  std::lock_guard lock(counters_mu_);
  return counters_;
}

void ProxyServer::Audit(nlohmann::json record, bool over_limit) {
  // Refusals past a limit come as fast as a loop can make them: the first ones are recorded one by
  // one, the rest counted (status) and said so once.
  if (over_limit && ++over_limit_records_ > kMaxOverLimitRecords) {
    if (over_limit_records_ == kMaxOverLimitRecords + 1) {
      options_.audit({{"phase", execution_ ? "execution" : "setup"},
                      {"decision", "refused"},
                      {"reason", absl::StrCat("more refusals past a limit: counted in the sandbox status, not "
                                              "recorded one by one (", kMaxOverLimitRecords, " were)")}});
    }
    return;
  }
  options_.audit(std::move(record));
}

uint64_t ProxyServer::AddBytes(uint64_t& counter, uint64_t n) {
  std::lock_guard lock(counters_mu_);
  counter += n;
  return counter;
}

void ProxyServer::CountRefused(const std::string& host) {
  std::lock_guard lock(counters_mu_);
  ++counters_.refused;
  if (host.empty() || counters_.refused_hosts.size() >= kMaxRefusedHosts) return;
  if (absl::c_linear_search(counters_.refused_hosts, host)) return;
  counters_.refused_hosts.push_back(host);
}

// ---------------------------------------------------------------------------------------------
// Accepting

void ProxyServer::OnAccept() {
  for (int i = 0; i < kAcceptBatch; ++i) {
    UniqueFd fd(accept4(options_.listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;  // EAGAIN, or an error the next event retries
    if (connections_.size() >= options_.limits.connections) {
      // Best effort: a refusal fits a socket buffer; the connection is not kept either way.
      std::string reason = absl::StrCat("connection limit (", options_.limits.connections, " at once) reached");
      std::string answer = Answer(429, reason);
      (void)send(fd.get(), answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      CountRefused("");
      Audit({{"phase", execution_ ? "execution" : "setup"}, {"decision", "refused"}, {"reason", reason}}, true);
      continue;
    }
    int one = 1;  // the proxy forwards what arrives as it arrives: no Nagle wait on the client's side
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Connection>();
    c->id = next_id_++;
    c->client = std::move(fd);
    c->last_activity = absl::Now();
    uint64_t id = c->id;
    Connection& ref = *c;
    connections_.emplace(id, std::move(c));
    if (!options_.reactor->Add(ref.client.get(), EPOLLIN, [this, id](uint32_t ev) { OnClient(id, ev); }).ok()) {
      connections_.erase(id);
      continue;
    }
    ref.client_mask = EPOLLIN;
    ArmSweep();
  }
}

// ---------------------------------------------------------------------------------------------
// Events

void ProxyServer::OnClient(uint64_t id, uint32_t events) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& c = *it->second;
  c.last_activity = absl::Now();
  if (events & EPOLLOUT) Flush(c);
  if (!c.dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) ReadClient(c);
  if (!c.dead) Pump(c);
  if (!c.dead) UpdateInterest(c);
  Reap(id);
}

void ProxyServer::OnUpstream(uint64_t id, uint32_t events) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& c = *it->second;
  c.last_activity = absl::Now();
  if (c.connecting) {
    int error = 0;
    socklen_t len = sizeof error;
    if (getsockopt(c.upstream.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
    if (error == EINPROGRESS || (error == 0 && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))) return;
    if (error != 0) {
      absl::StrAppend(&c.refused_addresses, c.refused_addresses.empty() ? "" : "; ",
                      c.exchange ? c.exchange->address : "", ": ", strerror(error));
      CloseUpstream(c);
      ConnectNext(c);
    } else {
      Connected(c);
    }
  } else {
    if (events & EPOLLOUT) Flush(c);
    if (!c.dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) ReadUpstream(c);
  }
  if (!c.dead) Pump(c);
  if (!c.dead) UpdateInterest(c);
  Reap(id);
}

void ProxyServer::Reap(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end() || !it->second->dead) return;
  connections_.erase(it);
}

// ---------------------------------------------------------------------------------------------
// Reading

void ProxyServer::ReadClient(Connection& c) {
  if (c.client_eof || c.close_after_flush) return;
  // The other side is slow, or the client queued requests ahead: wait.
  if (c.to_upstream.size() + c.queued_bytes >= kHighWater || c.items.size() >= kMaxQueuedItems) return;
  char buf[kClientChunk];
  ssize_t n = recv(c.client.get(), buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    Close(c, absl::StrCat("client: ", strerror(errno)));
    return;
  }
  if (n == 0) {
    c.client_eof = true;
    if (c.mode == Connection::Mode::kHttp) {
      if (absl::Status done = c.reader.Finish(c.items); !done.ok()) {
        Close(c, std::string(done.message()));
        return;
      }
      if (!c.exchange && c.items.empty()) Close(c, "");
    } else if (c.mode == Connection::Mode::kHello) {
      Close(c, "the client closed before its TLS ClientHello was complete");
    } else if (c.to_upstream.empty() && c.upstream) {
      shutdown(c.upstream.get(), SHUT_WR);
    }
    return;
  }
  absl::string_view data(buf, static_cast<size_t>(n));
  switch (c.mode) {
    case Connection::Mode::kHttp: {
      std::string tunnel;
      size_t before = c.items.size();
      absl::Status fed = c.reader.Feed(data, c.items, tunnel);
      for (size_t i = before; i < c.items.size(); ++i) {
        if (const auto* piece = std::get_if<BodyPiece>(&c.items[i])) c.queued_bytes += piece->bytes.size();
      }
      if (!fed.ok()) {
        Refuse(c, absl::IsResourceExhausted(fed) ? 431 : 400, std::string(fed.message()));
        return;
      }
      c.hello = std::move(tunnel);
      return;
    }
    case Connection::Mode::kHello:
      c.hello.append(data.data(), data.size());
      return;
    case Connection::Mode::kTunnel:
      if (c.exchange) c.exchange->bytes_up += data.size();
      if (AddBytes(counters_.bytes_up, data.size()) > options_.limits.bytes_up) {
        FinishExchange(c, "refused", absl::StrCat("upload limit (", options_.limits.bytes_up, " bytes) reached"));
        Close(c, "");
        return;
      }
      c.to_upstream.append(data.data(), data.size());
      return;
  }
}

void ProxyServer::ReadUpstream(Connection& c) {
  // A few reads an event: a download moves in bigger steps than one epoll round trip each.
  for (int i = 0; i < kReadsPerEvent && ReadUpstreamOnce(c); ++i) {
  }
}

size_t ProxyServer::Spliceable(Connection& c) {
  if (!c.to_client.empty() || c.piped >= kPipeSize) return 0;
  if (c.mode == Connection::Mode::kTunnel) return kPipeSize - c.piped;
  if (c.mode == Connection::Mode::kHttp && c.exchange) {
    return static_cast<size_t>(std::min<uint64_t>(c.response.IdentityBodyLeft(), kPipeSize - c.piped));
  }
  return 0;
}

bool ProxyServer::EnsurePipe(Connection& c) {
  if (c.pipe_read) return true;
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  c.pipe_read.reset(fds[0]);
  c.pipe_write.reset(fds[1]);
  (void)fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(kPipeSize));  // best effort: the default is 64 KiB
  return true;
}

bool ProxyServer::ReadUpstreamOnce(Connection& c) {
  if (!c.upstream || c.upstream_eof || c.to_client.size() >= kHighWater || c.piped >= kPipeSize) return false;
  const size_t had = c.to_client.size();
  ssize_t n = -1;
  bool spliced = false;
  if (size_t want = Spliceable(c); want >= kMinSplice && EnsurePipe(c)) {
    n = splice(c.upstream.get(), nullptr, c.pipe_write.get(), nullptr, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    // EAGAIN: nothing to read (the pipe has room, Spliceable said so).
    spliced = n > 0;
  } else {
    if (c.piped > 0) return false;  // the pipe's bytes go first: read again when it is empty
    // Straight into the client's queue: the bytes are copied once, by the kernel.
    c.to_client.resize(had + kReadChunk);
    n = recv(c.upstream.get(), c.to_client.data() + had, kReadChunk, MSG_DONTWAIT);
    c.to_client.resize(had + static_cast<size_t>(std::max<ssize_t>(n, 0)));
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return false;
    Close(c, absl::StrCat("upstream: ", strerror(errno)));
    return false;
  }
  if (n == 0) {
    c.upstream_eof = true;
    if (c.mode == Connection::Mode::kTunnel) {
      // Either side ending a tunnel is its normal end.
      FinishExchange(c, "allowed", "");
      c.close_after_flush = true;
      Flush(c);
      return false;
    }
    int completed = 0;
    absl::Status done = c.response.Finish(completed);
    if (c.exchange && completed > 0) c.exchange->response_done = true;
    if (!done.ok() || !c.exchange || !c.exchange->response_done) {
      c.close_after_flush = true;
      if (c.exchange) FinishExchange(c, "error", done.ok() ? "the server closed without a response" : std::string(done.message()));
      Flush(c);
      return false;
    }
    c.upstream_reusable = false;
    Pump(c);
    return false;
  }
  if (AddBytes(counters_.bytes_down, static_cast<uint64_t>(n)) > options_.limits.bytes_down) {
    if (c.exchange) FinishExchange(c, "refused", absl::StrCat("download limit (", options_.limits.bytes_down, " bytes) reached"));
    Close(c, "");
    return false;
  }
  if (c.exchange) c.exchange->bytes_down += static_cast<uint64_t>(n);
  if (spliced) c.piped += static_cast<size_t>(n);
  if (c.mode == Connection::Mode::kHttp) {
    if (!c.exchange) {
      c.to_client.resize(had);
      Close(c, "the server sent bytes nobody asked for");
      return false;
    }
    int completed = 0;
    // Spliced bytes are body bytes the framing already counts on: it is told how many, not shown them.
    absl::Status fed = spliced ? c.response.SkipIdentityBody(static_cast<uint64_t>(n), completed)
                               : c.response.Feed(absl::string_view(c.to_client.data() + had, static_cast<size_t>(n)),
                                                 completed);
    if (!fed.ok() || completed > 1) {
      FinishExchange(c, "error", fed.ok() ? "the server answered more than it was asked" : std::string(fed.message()));
      c.close_after_flush = true;
      CloseUpstream(c);
      Flush(c);
      return false;
    }
    if (completed == 1) c.exchange->response_done = true;
  }
  Flush(c);
  return !c.dead;
}

// ---------------------------------------------------------------------------------------------
// Requests

void ProxyServer::Pump(Connection& c) {
  if (c.dead) return;
  if (c.mode == Connection::Mode::kHello) {
    CheckHello(c);
    return;
  }
  if (c.mode == Connection::Mode::kTunnel) {
    Flush(c);
    return;
  }
  // One exchange at a time: the next request is judged when the last one is answered.
  if (c.exchange && c.exchange->response_done && c.exchange->request_done) {
    FinishExchange(c, "allowed", "");
    if (!c.response.keep_alive()) CloseUpstream(c);
  }
  if (c.exchange && c.exchange->response_done && !c.exchange->request_done) {
    // Answered before the body was sent (e.g. 413): the connection cannot be framed further.
    FinishExchange(c, "allowed", "the server answered before the request body was complete");
    c.close_after_flush = true;
    CloseUpstream(c);
    Flush(c);
    return;
  }
  if (!c.exchange && !c.close_after_flush) {
    // The last answer is still in the pipe: the next one (or the proxy's own) must not overtake it.
    if (c.piped > 0) return;
    if (c.items.empty()) {
      if (c.client_eof) Close(c, "");
      return;
    }
    StartExchange(c);
    if (c.dead || !c.exchange || c.mode != Connection::Mode::kHttp) return;
  }
  if (!c.exchange || !c.exchange->sent_head) return;
  // Body pieces go upstream as the upstream takes them.
  while (!c.items.empty() && c.to_upstream.size() < kHighWater) {
    RequestItem& item = c.items.front();
    if (auto* piece = std::get_if<BodyPiece>(&item)) {
      c.queued_bytes -= piece->bytes.size();
      c.exchange->bytes_up += piece->bytes.size();
      const uint64_t up = AddBytes(counters_.bytes_up, piece->bytes.size());
      c.to_upstream += FrameBody(c.exchange->head, piece->bytes);
      c.items.pop_front();
      if (up > options_.limits.bytes_up) {
        FinishExchange(c, "refused", absl::StrCat("upload limit (", options_.limits.bytes_up, " bytes) reached"));
        Close(c, "");
        return;
      }
    } else if (std::holds_alternative<RequestEnd>(item)) {
      c.to_upstream += EndBody(c.exchange->head);
      c.exchange->request_done = true;
      c.items.pop_front();
      break;
    } else {
      break;  // the next request's head: after this exchange
    }
  }
  Flush(c);
}

void ProxyServer::StartExchange(Connection& c) {
  RequestItem item = std::move(c.items.front());
  c.items.pop_front();
  if (!std::holds_alternative<RequestHead>(item)) {
    Close(c, "request framing lost");
    return;
  }
  Connection::Exchange ex;
  ex.head = std::get<RequestHead>(std::move(item));
  ex.started = absl::Now();
  c.exchange = std::move(ex);
  RequestHead& head = c.exchange->head;
  if (++requests_ > options_.limits.requests) {
    Refuse(c, 429, absl::StrCat("request limit (", options_.limits.requests, ") reached"));
    return;
  }
  uint64_t down, up;
  {
    std::lock_guard lock(counters_mu_);  // not Counters(): that copies the refused hosts, every request
    down = counters_.bytes_down;
    up = counters_.bytes_up;
  }
  if (down > options_.limits.bytes_down) {
    Refuse(c, 429, absl::StrCat("download limit (", options_.limits.bytes_down, " bytes) reached"));
    return;
  }
  if (up > options_.limits.bytes_up) {
    Refuse(c, 429, absl::StrCat("upload limit (", options_.limits.bytes_up, " bytes) reached"));
    return;
  }
  absl::StatusOr<Target> target = ParseTarget(head);
  if (!target.ok()) {
    Refuse(c, 400, std::string(target.status().message()));
    return;
  }
  c.exchange->target = *target;
  const bool connect = head.method == "CONNECT";
  if (!connect) {
    if (head.upgrade) {
      Refuse(c, 403, "protocol upgrades (websocket) are not proxied");
      return;
    }
    if (auto why = rules().RefuseMethod(head.method)) {
      Refuse(c, 403, *why);
      return;
    }
  }
  if (auto why = rules().RefuseHost(target->host)) {
    Refuse(c, 403, *why);
    return;
  }
  if (auto why = rules().RefusePort(target->port)) {
    Refuse(c, 403, *why);
    return;
  }
  if (connect) {
    StartTunnel(c);
    return;
  }
  const std::string origin = absl::StrCat(target->host, ":", target->port);
  if (c.upstream && c.upstream_reusable && c.upstream_origin == origin && !c.upstream_eof) {
    Connected(c);  // a kept-alive upstream to the same origin: the address was checked when it was made
    return;
  }
  CloseUpstream(c);
  ResolveAndConnect(c);
}

void ProxyServer::StartTunnel(Connection& c) {
  // The CONNECT's own end marker is in the queue; after it the bytes are the tunnel's.
  while (!c.items.empty() && std::holds_alternative<RequestEnd>(c.items.front())) c.items.pop_front();
  c.items.clear();
  c.mode = Connection::Mode::kHello;
  c.hello_since = absl::Now();
  CloseUpstream(c);
  c.to_client += "HTTP/1.1 200 Connection established\r\n\r\n";
  Flush(c);
  if (!c.dead) CheckHello(c);
}

void ProxyServer::CheckHello(Connection& c) {
  if (c.hello.size() > kMaxHelloBytes) {
    FinishExchange(c, "refused", "the TLS ClientHello is too large");
    Close(c, "");
    return;
  }
  ClientHello hello = ParseClientHello(c.hello);
  if (hello.state == HelloState::kNeedMore) return;
  const std::string& host = c.exchange->target.host;
  std::string why;
  if (hello.state == HelloState::kNotTls) {
    why = absl::StrCat("the tunnel does not start with a TLS ClientHello: ", hello.error);
  } else if (!hello.server_name) {
    if (!policy::IsIpLiteral(host)) why = absl::StrCat("the TLS ClientHello names no server (SNI); CONNECT named ", host);
  } else if (*hello.server_name != host) {
    why = absl::StrCat("the TLS ClientHello names ", Printable(*hello.server_name), ", CONNECT named ", host);
  }
  if (!why.empty()) {
    CountRefused(host);
    FinishExchange(c, "refused", why);
    Close(c, "");
    return;
  }
  c.mode = Connection::Mode::kTunnel;
  c.exchange->bytes_up += c.hello.size();
  AddBytes(counters_.bytes_up, c.hello.size());
  c.to_upstream = std::move(c.hello);
  c.hello.clear();
  ResolveAndConnect(c);
}

void ProxyServer::ResolveAndConnect(Connection& c) {
  const Target& t = c.exchange->target;
  if (policy::IsIpLiteral(t.host)) {
    std::optional<Endpoint> literal = ParseIpLiteral(t.host, t.port);
    Resolved(c, literal ? absl::StatusOr<std::vector<Endpoint>>(std::vector<Endpoint>{*literal})
                        : absl::InvalidArgumentError("bad address"));
    return;
  }
  if (options_.resolver->Immediate()) {
    Resolved(c, options_.resolver->Resolve(t.host, t.port));
    return;
  }
  // getaddrinfo blocks: on the pool, the answer comes back to the reactor thread.
  uint64_t id = c.id;
  std::weak_ptr<bool> alive = alive_;
  std::shared_ptr<const Resolver> resolver = options_.resolver;
  Reactor* reactor = options_.reactor;
  options_.pool->Submit([this, id, alive, resolver, reactor, host = t.host, port = t.port] {
    auto answer = std::make_shared<absl::StatusOr<std::vector<Endpoint>>>(resolver->Resolve(host, port));
    reactor->Post([this, id, alive, answer] {
      if (alive.expired()) return;
      auto it = connections_.find(id);
      if (it == connections_.end() || it->second->dead) return;
      Resolved(*it->second, std::move(*answer));
      if (!it->second->dead) UpdateInterest(*it->second);
      Reap(id);
    });
  });
}

void ProxyServer::Resolved(Connection& c, absl::StatusOr<std::vector<Endpoint>> addresses) {
  if (!addresses.ok()) {
    Refuse(c, 502, std::string(addresses.status().message()));
    return;
  }
  c.candidates.clear();
  c.refused_addresses.clear();
  for (const Endpoint& e : *addresses) {
    if (std::optional<std::string> why = RefusalReason(e, options_.guard)) {
      absl::StrAppend(&c.refused_addresses, c.refused_addresses.empty() ? "" : "; ", ToString(e), ": ", *why);
    } else {
      c.candidates.push_back(e);
    }
  }
  if (c.candidates.empty()) {
    Refuse(c, 403, absl::StrCat(c.exchange->target.host, " resolves only to refused addresses (",
                                c.refused_addresses, ")"));
    return;
  }
  ConnectNext(c);
}

void ProxyServer::ConnectNext(Connection& c) {
  while (!c.candidates.empty()) {
    Endpoint e = c.candidates.front();
    c.candidates.erase(c.candidates.begin());
    c.exchange->address = ToString(e);
    const int family = e.address.ss_family;
    auto make = [family]() -> absl::StatusOr<UniqueFd> {
      UniqueFd fd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!fd) return ErrnoStatus("socket");
      return fd;
    };
    absl::StatusOr<UniqueFd> fd =
        options_.outbound_netns ? net::MakeInNetns<UniqueFd>(options_.outbound_netns.get(), make) : make();
    if (!fd.ok()) {
      absl::StrAppend(&c.refused_addresses, c.refused_addresses.empty() ? "" : "; ", ToString(e), ": ",
                      fd.status().message());
      continue;
    }
    int one = 1;
    setsockopt(fd->get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd->get(), reinterpret_cast<const sockaddr*>(&e.address), e.length) != 0 && errno != EINPROGRESS) {
      absl::StrAppend(&c.refused_addresses, c.refused_addresses.empty() ? "" : "; ", ToString(e), ": ", strerror(errno));
      continue;
    }
    c.upstream = *std::move(fd);
    c.connecting = true;
    c.upstream_eof = false;
    uint64_t id = c.id;
    if (!options_.reactor->Add(c.upstream.get(), EPOLLOUT, [this, id](uint32_t ev) { OnUpstream(id, ev); }).ok()) {
      c.upstream.reset();
      c.connecting = false;
      continue;
    }
    c.upstream_mask = EPOLLOUT;
    c.connect_timer = options_.reactor->RunAfter(options_.connect_timeout, [this, id] {
      auto it = connections_.find(id);
      if (it == connections_.end()) return;
      Connection& conn = *it->second;
      conn.connect_timer = 0;
      if (!conn.connecting) return;
      absl::StrAppend(&conn.refused_addresses, conn.refused_addresses.empty() ? "" : "; ",
                      conn.exchange ? conn.exchange->address : "", ": connect timed out");
      CloseUpstream(conn);
      ConnectNext(conn);
      if (!conn.dead) UpdateInterest(conn);
      Reap(id);
    });
    return;
  }
  Refuse(c, 502, absl::StrCat("cannot connect to ", c.exchange->target.host, ": ", c.refused_addresses));
}

void ProxyServer::Connected(Connection& c) {
  if (c.connect_timer != 0) options_.reactor->CancelTimer(c.connect_timer);
  c.connect_timer = 0;
  c.connecting = false;
  Connection::Exchange& ex = *c.exchange;
  if (c.mode == Connection::Mode::kTunnel) {
    {
      std::lock_guard lock(counters_mu_);
      ++counters_.allowed;
    }
    Flush(c);
    return;
  }
  c.upstream_origin = absl::StrCat(ex.target.host, ":", ex.target.port);
  c.upstream_reusable = true;
  c.response.ExpectResponseTo(ex.head.method);
  std::string head = UpstreamRequestHead(ex.head, ex.target.path, HostHeader(ex.target));
  ex.bytes_up += head.size();
  AddBytes(counters_.bytes_up, head.size());
  c.to_upstream += head;
  ex.sent_head = true;
  Pump(c);
}

// ---------------------------------------------------------------------------------------------
// Ends

void ProxyServer::FinishExchange(Connection& c, const std::string& decision, const std::string& reason) {
  if (!c.exchange) return;
  Connection::Exchange ex = std::move(*c.exchange);
  c.exchange.reset();
  if (decision == "allowed" && c.mode == Connection::Mode::kHttp) {
    std::lock_guard lock(counters_mu_);
    ++counters_.allowed;
  }
  if (decision == "refused" && c.mode == Connection::Mode::kHttp) CountRefused(ex.target.host);
  nlohmann::json record = {{"phase", execution_ ? "execution" : "setup"},
                           {"method", Printable(ex.head.method, 16)},
                           {"host", ex.target.host},
                           {"port", ex.target.port},
                           {"decision", decision},
                           {"bytes_up", ex.bytes_up},
                           {"bytes_down", ex.bytes_down},
                           {"ms", absl::ToInt64Milliseconds(absl::Now() - ex.started)}};
  if (ex.head.method != "CONNECT" && !ex.target.path.empty()) {
    // Its length is bounded, and says so when it is cut; bytes that are no UTF-8 are kept (base64).
    SetJsonText(record, "path", absl::string_view(ex.target.path).substr(0, kMaxAuditPath));
    if (ex.target.path.size() > kMaxAuditPath) record["path_bytes"] = ex.target.path.size();
  }
  if (ex.target.host.empty()) record["target"] = Printable(ex.head.target);
  if (c.mode == Connection::Mode::kHttp && ex.sent_head && c.response.status_code() != 0) {
    record["status"] = c.response.status_code();
  }
  if (!ex.address.empty()) record["address"] = ex.address;
  if (!reason.empty()) record["reason"] = reason;
  Audit(std::move(record), decision == "refused" && requests_ > options_.limits.requests);
}

void ProxyServer::Refuse(Connection& c, int status, const std::string& reason) {
  std::string host = c.exchange ? c.exchange->target.host : "";
  if (c.mode == Connection::Mode::kHttp) {
    // FinishExchange counts refusals of requests; errors (502) are no refusal of the rules.
    if (status == 502) {
      FinishExchange(c, "error", reason);
    } else {
      FinishExchange(c, "refused", reason);
    }
    c.to_client += Answer(status, Printable(reason, 400));
  } else {
    if (status != 502) CountRefused(host);
    FinishExchange(c, status == 502 ? "error" : "refused", reason);
  }
  c.items.clear();
  c.queued_bytes = 0;
  c.close_after_flush = true;
  CloseUpstream(c);
  Flush(c);
}

void ProxyServer::Flush(Connection& c) {
  if (c.dead) return;
  size_t sent = 0;  // erased once: a partly sent queue is not moved after every send
  while (sent < c.to_client.size()) {
    ssize_t n = send(c.client.get(), c.to_client.data() + sent, c.to_client.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      Close(c, "");
      return;
    }
    sent += static_cast<size_t>(n);
  }
  c.to_client.erase(0, sent);
  while (c.to_client.empty() && c.piped > 0) {
    ssize_t n = splice(c.pipe_read.get(), nullptr, c.client.get(), nullptr, c.piped, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      Close(c, "");
      return;
    }
    c.piped -= static_cast<size_t>(n);
  }
  if (c.upstream && !c.connecting) {
    while (!c.to_upstream.empty()) {
      ssize_t n = send(c.upstream.get(), c.to_upstream.data(), c.to_upstream.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        if (c.exchange) FinishExchange(c, "error", absl::StrCat("upstream: ", strerror(errno)));
        c.close_after_flush = true;
        CloseUpstream(c);
        break;
      }
      c.to_upstream.erase(0, static_cast<size_t>(n));
    }
    if (c.mode == Connection::Mode::kTunnel && c.client_eof && c.to_upstream.empty() && c.upstream) {
      shutdown(c.upstream.get(), SHUT_WR);
    }
  }
  if (c.mode == Connection::Mode::kTunnel && c.exchange) {
    if (c.client_eof && c.upstream_eof && c.to_client.empty() && c.piped == 0) {
      FinishExchange(c, "allowed", "");
      Close(c, "");
      return;
    }
  }
  if (c.close_after_flush && c.to_client.empty() && c.piped == 0) {
    if (c.exchange) FinishExchange(c, "error", "closed");
    Close(c, "");
  }
}

void ProxyServer::UpdateInterest(Connection& c) {
  if (c.dead) return;
  uint32_t client_mask = 0;
  if (!c.client_eof && !c.close_after_flush && c.to_upstream.size() + c.queued_bytes < kHighWater &&
      c.items.size() < kMaxQueuedItems) {
    client_mask |= EPOLLIN;
  }
  if (!c.to_client.empty() || c.piped > 0) client_mask |= EPOLLOUT;
  if (client_mask != c.client_mask) {
    (void)options_.reactor->Modify(c.client.get(), client_mask);
    c.client_mask = client_mask;
  }
  if (!c.upstream) return;
  uint32_t upstream_mask = 0;
  if (c.connecting || !c.to_upstream.empty()) upstream_mask |= EPOLLOUT;
  if (!c.connecting && !c.upstream_eof && c.to_client.size() < kHighWater &&
      (c.piped == 0 || Spliceable(c) >= kMinSplice)) {
    upstream_mask |= EPOLLIN;
  }
  if (upstream_mask != c.upstream_mask) {
    (void)options_.reactor->Modify(c.upstream.get(), upstream_mask);
    c.upstream_mask = upstream_mask;
  }
}

void ProxyServer::CloseUpstream(Connection& c) {
  if (c.connect_timer != 0) options_.reactor->CancelTimer(c.connect_timer);
  c.connect_timer = 0;
  c.connecting = false;
  if (c.upstream) {
    options_.reactor->Remove(c.upstream.get());
    c.upstream.reset();
  }
  c.upstream_mask = 0;
  c.upstream_reusable = false;
  c.upstream_origin.clear();
  c.upstream_eof = false;
  c.response.Reset();
}

void ProxyServer::Close(Connection& c, const std::string& reason) {
  if (c.dead) return;
  if (c.exchange) FinishExchange(c, "error", reason.empty() ? "the connection closed" : reason);
  CloseUpstream(c);
  if (c.client) {
    options_.reactor->Remove(c.client.get());
    c.client.reset();
  }
  c.dead = true;
}

// ---------------------------------------------------------------------------------------------
// Time bounds: idle connections and slow ClientHellos are closed (checked every few seconds while
// there are connections).

void ProxyServer::ArmSweep() {
  if (sweep_timer_ != 0 || shut_down_) return;
  sweep_timer_ = options_.reactor->RunAfter(absl::Seconds(2), [this] {
    sweep_timer_ = 0;
    Sweep();
  });
}

void ProxyServer::Sweep() {
  absl::Time now = absl::Now();
  std::vector<uint64_t> ids;
  for (const auto& [id, c] : connections_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    Connection& c = *it->second;
    if (c.mode == Connection::Mode::kHello && now - c.hello_since > options_.hello_timeout) {
      if (c.exchange) CountRefused(c.exchange->target.host);
      FinishExchange(c, "refused", "no complete TLS ClientHello in time");
      Close(c, "");
    } else if (now - c.last_activity > options_.idle_timeout) {
      Close(c, "idle");
    }
    Reap(id);
  }
  if (!connections_.empty()) ArmSweep();
}

}  // namespace airlock::proxy
