// HTTP/1.x framing for the proxy, on the http-parser library (Node's parser, Debian's
// libhttp-parser): the proxy must find where each request and response starts and ends on a
// kept-alive connection (Content-Length, chunked, read-to-EOF, HEAD without a body) exactly as
// servers do, and a hand-written parser is where request smuggling lives.
//
// Requests are taken apart into heads and body pieces, so the proxy can judge each head and send
// upstream a head of its own making (origin-form target, its own Host, no proxy headers) with the
// body re-framed; responses are only framed (their bytes pass unchanged).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

struct http_parser;

namespace airlock::proxy {

// The largest request head (request line and headers) accepted; real ones are a few KiB.
inline constexpr size_t kMaxRequestHead = 32 * 1024;

struct RequestHead {
  std::string method;  // "GET", "CONNECT", ...
  std::string target;  // as sent: absolute-form ("http://host/path") or authority-form (CONNECT)
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent
  int http_major = 1;
  int http_minor = 1;
  bool keep_alive = true;     // the client wants the connection kept after this exchange
  bool chunked = false;       // the body comes chunked (re-chunked upstream)
  bool content_length = false;
  uint64_t body_length = 0;   // with content_length
  bool upgrade = false;       // an Upgrade request (websocket...) or CONNECT
};
struct BodyPiece {
  std::string bytes;  // de-chunked
};
struct RequestEnd {};
using RequestItem = std::variant<RequestHead, BodyPiece, RequestEnd>;

// Reads the client's side of a proxy connection. Feed() appends what the bytes complete to
// `items`; after a CONNECT (or an Upgrade) request the parser stops: the rest is the tunnel's.
class RequestReader {
 public:
  RequestReader();
  ~RequestReader();
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;

  // Consumes `data`; on a malformed or oversized request returns InvalidArgument (the connection
  // cannot be framed any further) or ResourceExhausted (head too large). `tunnel_bytes` gets what
  // follows a CONNECT/Upgrade head.
  absl::Status Feed(absl::string_view data, std::deque<RequestItem>& items, std::string& tunnel_bytes);
  // The client closed its side: an error when a request was cut short.
  absl::Status Finish(std::deque<RequestItem>& items);
  bool upgraded() const { return upgraded_; }

 private:
  friend struct RequestCallbacks;
  std::unique_ptr<http_parser> parser_;
  RequestHead head_;
  std::string field_;  // the header name being read
  bool in_value_ = false;
  size_t head_bytes_ = 0;
  bool in_message_ = false;
  bool upgraded_ = false;
  bool too_large_ = false;
  std::deque<RequestItem>* items_ = nullptr;
};

// Frames the upstream's responses. Feed() reports how many complete responses the bytes ended.
class ResponseReader {
 public:
  ResponseReader();
  ~ResponseReader();
  ResponseReader(const ResponseReader&) = delete;
  ResponseReader& operator=(const ResponseReader&) = delete;

  // A new upstream connection: nothing read yet.
  void Reset();
  // The next response answers a HEAD request (no body whatever its headers say) or not.
  void ExpectResponseTo(absl::string_view method);
  // Consumes `data`: OK with the number of responses it completed (1xx interim responses are
  // not counted), or InvalidArgument when it is no HTTP response.
  absl::Status Feed(absl::string_view data, int& completed);
  // Bytes of a Content-Length body still to come (0 when not in one): the proxy may move that many
  // without showing them to the parser, then tell it with SkipIdentityBody.
  uint64_t IdentityBodyLeft() const;
  // `n` (<= IdentityBodyLeft()) body bytes passed by; `completed` as for Feed.
  absl::Status SkipIdentityBody(uint64_t n, int& completed);
  // The upstream closed: a response read until EOF ends here (completed 1), a cut one is an error.
  absl::Status Finish(int& completed);
  int status_code() const { return status_code_; }  // of the last response head seen
  bool keep_alive() const { return keep_alive_; }   // of the last complete response

 private:
  friend struct ResponseCallbacks;
  std::unique_ptr<http_parser> parser_;
  bool head_request_ = false;
  bool in_message_ = false;
  bool identity_body_ = false;  // between the head of a Content-Length response and its end
  int status_code_ = 0;
  bool keep_alive_ = true;
  int completed_ = 0;
};

// The head the proxy sends upstream for `head`: origin-form target `path`, Host `host_header`,
// the client's headers without hop-by-hop and proxy headers (Connection and what it names,
// Proxy-*, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Host), and the framing the body
// will have (Content-Length as given, or chunked).
std::string UpstreamRequestHead(const RequestHead& head, absl::string_view path, absl::string_view host_header);

// A body piece, chunked when the request is.
std::string FrameBody(const RequestHead& head, absl::string_view piece);
// What ends a chunked body ("0\r\n\r\n"), nothing for other bodies.
std::string EndBody(const RequestHead& head);

}  // namespace airlock::proxy
