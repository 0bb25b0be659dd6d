// ttrpc server on the shim's Reactor: accepts unix-socket connections, decodes request frames and
// hands each call to an rpc::Registry. Replies may complete on any thread, in any order; they are
// queued per connection and written from the reactor thread.
//
// Errors follow ttrpc-go (server.go, channel.go): unknown service/method -> Unimplemented (the
// Registry words it), an unparsable Request -> InvalidArgument, an even stream id ->
// InvalidArgument, both answered on that stream. Unlike ttrpc-go, which discards an oversized body
// by reading it, a frame over 4 MiB is answered with ResourceExhausted and the connection closed;
// a frame that is not a request closes the connection. Only the offending connection suffers.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "shim/base/reactor.h"
#include "shim/base/unique_fd.h"
#include "shim/rpc/registry.h"

namespace airlock::ttrpc {

struct ServerOptions {
  // Accept only peers with this process's effective uid and gid, as containerd's shim does
  // (ttrpc.UnixSocketRequireSameUser); others are closed at once.
  bool require_same_user = true;
  // Requests dispatched but not yet answered, per connection. containerd keeps one Wait in flight
  // per process, so this must stay well above the number of processes a shim serves.
  size_t max_in_flight = 256;
  // Response bytes waiting for the peer to read them, per connection (> one 4 MiB message).
  size_t max_queued_output = 16u << 20;
  // How long a connection may take to show whether it speaks the foreign protocol.
  absl::Duration sniff_timeout = absl::Seconds(10);
  // How long a connection being closed after an error may take to receive its final answer.
  absl::Duration drain_timeout = absl::Seconds(5);
};

class Server {
 public:
  // Both must outlive the Server. Create, use and destroy the Server on the reactor thread (or
  // while the reactor is not running); reply callbacks handed to the registry are the only part
  // that runs elsewhere.
  Server(Reactor& reactor, const rpc::Registry& registry, ServerOptions options = {});
  ~Server();  // Shutdown()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves a bound, listening unix socket (made non-blocking here). May be called for several
  // sockets.
  absl::Status Serve(UniqueFd listening_socket);

  // Lets another transport share the listening socket. For every new connection, `matches` is
  // called with the bytes received so far (peeked, possibly fewer than `bytes_needed`) and answers
  // whether they are, or could still become, the foreign protocol's opening. Once `bytes_needed`
  // bytes match, the connection leaves this server and `handoff` receives its fd (non-blocking,
  // nothing consumed), on the reactor thread. As soon as `matches` says no, it is served as ttrpc.
  // A connection silent for ServerOptions::sniff_timeout is served as ttrpc; one stuck in the middle
  // of a matching opening is closed.
  void SetForeignProtocol(std::function<bool(absl::string_view first_bytes)> matches, size_t bytes_needed,
                          std::function<void(UniqueFd)> handoff);

  // Stops accepting and closes every connection; replies still running are dropped.
  void Shutdown();

  // Open connections (also those still being sniffed). Readable from any thread.
  size_t connection_count() const { return connection_count_.load(); }

 private:
  class Connection;
  friend class Connection;

  void OnAcceptable(int listen_fd);
  void PauseListener(int listen_fd);
  void Forget(int fd);  // drops a closed or handed-off connection

  Reactor& reactor_;
  const rpc::Registry& registry_;
  const ServerOptions options_;

  struct Listener {
    UniqueFd fd;
    Reactor::TimerId resume_timer = 0;  // set while paused after EMFILE and friends
  };
  std::map<int, Listener> listeners_;
  std::map<int, std::shared_ptr<Connection>> connections_;
  std::atomic<size_t> connection_count_{0};
  bool shut_down_ = false;

  std::function<bool(absl::string_view)> foreign_matches_;
  size_t foreign_bytes_needed_ = 0;
  std::function<void(UniqueFd)> foreign_handoff_;
  const uid_t euid_;
  const gid_t egid_;
};

}  // namespace airlock::ttrpc
