// The airlock proxy of one sandbox: a listening socket inside the sandbox's network namespace
// (made there before the seal; a socket keeps the netns it was made in), served by the shim from
// outside. Every upstream connection is the shim's, made from the uplink side to an address the
// proxy resolved and checked itself; nothing of the sandbox's reaches the network but the bytes
// of requests the rules let through.
//
// Plain HTTP: each request (also each one on a kept-alive connection) is judged by method, host
// and port, and goes upstream with a head of the proxy's making. HTTPS: CONNECT to an allowed host
// and port, then the TLS ClientHello's server name must be the CONNECT host before anything goes
// upstream. Every request is an audit record. Runs on the shim's reactor thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "policy/model.h"
#include "policy/proxy/address_guard.h"
#include "policy/proxy/resolver.h"
#include "policy/proxy/rules.h"
#include "shim/base/reactor.h"
#include "shim/base/unique_fd.h"
#include "shim/base/worker_pool.h"

namespace airlock::proxy {

inline constexpr uint16_t kProxyPort = 3128;

// A TCP socket listening on 127.0.0.1:`port` inside `netns_fd`, non-blocking.
absl::StatusOr<UniqueFd> ListenInNetns(int netns_fd, uint16_t port);

struct ProxyOptions {
  Reactor* reactor = nullptr;
  WorkerPool* pool = nullptr;   // the system resolver runs here
  UniqueFd listener;            // ListenInNetns
  UniqueFd outbound_netns;      // where upstream sockets are made; invalid: the shim's own netns (the host)
  std::shared_ptr<const Resolver> resolver;
  AddressGuard guard;
  ProxyRules setup_rules;
  ProxyRules execution_rules;
  policy::ProxyLimits limits;
  // One call per request (and per refused connection), on the reactor thread.
  std::function<void(nlohmann::json)> audit;
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Minutes(5);   // a connection without traffic is closed
  absl::Duration hello_timeout = absl::Seconds(10); // CONNECT accepted, ClientHello not complete
};

// What `airlock status` and `airlock run` show.
struct ProxyCounters {
  uint64_t allowed = 0;
  uint64_t refused = 0;
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
  std::vector<std::string> refused_hosts;  // distinct, first kMaxRefusedHosts
};
inline constexpr size_t kMaxRefusedHosts = 32;

class ProxyServer {
 public:
  // Takes the listener; starts accepting on the reactor thread (posted).
  static std::unique_ptr<ProxyServer> Start(ProxyOptions options);
  ~ProxyServer();  // after Shutdown() (or before the reactor ran)

  // Reactor thread. The seal: every connection of the setup phase is closed, the execution rules
  // apply from now on.
  void EnterExecution();
  // Reactor thread. Closes the listener and every connection; idempotent.
  void Shutdown();

  ProxyCounters Counters() const;  // any thread
  ino_t listener_inode() const { return listener_inode_; }

  struct Connection;  // proxy_server.cc

 private:
  explicit ProxyServer(ProxyOptions options);
  void OnAccept();
  void OnClient(uint64_t id, uint32_t events);
  void OnUpstream(uint64_t id, uint32_t events);
  // Moves what the connection has to its next state (parse, decide, connect, relay).
  void Pump(Connection& c);
  void StartExchange(Connection& c);
  void StartTunnel(Connection& c);
  void CheckHello(Connection& c);
  void ResolveAndConnect(Connection& c);
  void Resolved(Connection& c, absl::StatusOr<std::vector<Endpoint>> addresses);
  void ConnectNext(Connection& c);
  void Connected(Connection& c);
  void FinishExchange(Connection& c, const std::string& decision, const std::string& reason);
  void Refuse(Connection& c, int status, const std::string& reason);
  void ReadClient(Connection& c);
  void ReadUpstream(Connection& c);
  bool ReadUpstreamOnce(Connection& c);  // false: nothing more to read now (or the connection ended)
  size_t Spliceable(Connection& c);      // bytes the next upstream read may splice (0: read them)
  bool EnsurePipe(Connection& c);
  void Flush(Connection& c);
  void UpdateInterest(Connection& c);
  void Close(Connection& c, const std::string& reason);
  void CloseUpstream(Connection& c);
  void Reap(uint64_t id);  // erases the connection if it was closed
  void ArmSweep();
  void Sweep();
  void CountRefused(const std::string& host);
  uint64_t AddBytes(uint64_t& counter, uint64_t n);  // a field of counters_; the new total
  void Audit(nlohmann::json record, bool over_limit);
  const ProxyRules& rules() const { return execution_ ? options_.execution_rules : options_.setup_rules; }

  ProxyOptions options_;
  ino_t listener_inode_ = 0;
  bool listening_ = false;
  bool shut_down_ = false;
  bool execution_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
  Reactor::TimerId sweep_timer_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for results posted from the pool
  uint64_t requests_ = 0;  // over the sandbox's life (limits.requests)
  uint64_t over_limit_records_ = 0;
  static constexpr uint64_t kMaxOverLimitRecords = 100;

  mutable std::mutex counters_mu_;
  ProxyCounters counters_;
};

}  // namespace airlock::proxy
