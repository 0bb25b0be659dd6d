#include "policy/proxy/http_message.h"

#include <http_parser.h>

#include <algorithm>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace airlock::proxy {
namespace {

// Headers that belong to one hop (RFC 9110 7.6.1) or to the proxy, never forwarded; Host is the
// proxy's own.
bool HopByHop(absl::string_view name) {
  for (absl::string_view h : {"connection", "proxy-connection", "keep-alive", "te", "trailer", "transfer-encoding",
                              "upgrade", "host", "proxy-authorization", "proxy-authenticate"}) {
    if (absl::EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

// A parser of `type` whose callbacks find `owner` in parser->data.
void InitParser(http_parser& parser, http_parser_type type, void* owner) {
  http_parser_init(&parser, type);
  parser.data = owner;
}

bool Clean(absl::string_view text) {
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

}  // namespace

// The parser's callbacks reach the reader through parser->data.
struct RequestCallbacks {
  static RequestReader& Of(http_parser* p) { return *static_cast<RequestReader*>(p->data); }

  static bool Count(RequestReader& r, size_t n) {
    r.head_bytes_ += n;
    if (r.head_bytes_ <= kMaxRequestHead) return true;
    r.too_large_ = true;
    return false;
  }
  static void EndField(RequestReader& r) {
    if (!r.in_value_) return;
    r.field_.clear();
    r.in_value_ = false;
  }

  static int MessageBegin(http_parser* p) {
    RequestReader& r = Of(p);
    r.head_ = RequestHead{};
    r.field_.clear();
    r.in_value_ = false;
    r.head_bytes_ = 0;
    r.in_message_ = true;
    return 0;
  }
  static int Url(http_parser* p, const char* at, size_t n) {
    RequestReader& r = Of(p);
    if (!Count(r, n)) return 1;
    r.head_.target.append(at, n);
    return 0;
  }
  static int HeaderField(http_parser* p, const char* at, size_t n) {
    RequestReader& r = Of(p);
    if (!Count(r, n)) return 1;
    if (r.in_value_) EndField(r);
    r.field_.append(at, n);
    return 0;
  }
  static int HeaderValue(http_parser* p, const char* at, size_t n) {
    RequestReader& r = Of(p);
    if (!Count(r, n)) return 1;
    if (!r.in_value_) {
      r.head_.headers.emplace_back(r.field_, "");
      r.in_value_ = true;
    }
    r.head_.headers.back().second.append(at, n);
    return 0;
  }
  static int HeadersComplete(http_parser* p) {
    RequestReader& r = Of(p);
    EndField(r);
    RequestHead& h = r.head_;
    h.method = http_method_str(static_cast<http_method>(p->method));
    h.http_major = p->http_major;
    h.http_minor = p->http_minor;
    h.keep_alive = http_should_keep_alive(p) != 0;
    h.chunked = (p->flags & F_CHUNKED) != 0;
    h.content_length = (p->flags & F_CONTENTLENGTH) != 0;
    h.body_length = h.content_length ? p->content_length : 0;
    h.upgrade = p->upgrade != 0;
    r.items_->push_back(std::move(h));
    return 0;
  }
  static int Body(http_parser* p, const char* at, size_t n) {
    RequestReader& r = Of(p);
    if (!r.items_->empty() && std::holds_alternative<BodyPiece>(r.items_->back())) {
      std::get<BodyPiece>(r.items_->back()).bytes.append(at, n);
    } else {
      r.items_->push_back(BodyPiece{std::string(at, n)});
    }
    return 0;
  }
  static int MessageComplete(http_parser* p) {
    RequestReader& r = Of(p);
    r.in_message_ = false;
    r.items_->push_back(RequestEnd{});
    return 0;
  }

  static const http_parser_settings& Settings() {
    static const http_parser_settings settings = [] {
      http_parser_settings s;
      http_parser_settings_init(&s);
      s.on_message_begin = MessageBegin;
      s.on_url = Url;
      s.on_header_field = HeaderField;
      s.on_header_value = HeaderValue;
      s.on_headers_complete = HeadersComplete;
      s.on_body = Body;
      s.on_message_complete = MessageComplete;
      return s;
    }();
    return settings;
  }
};

RequestReader::RequestReader() : parser_(std::make_unique<http_parser>()) { InitParser(*parser_, HTTP_REQUEST, this); }

RequestReader::~RequestReader() = default;

absl::Status RequestReader::Feed(absl::string_view data, std::deque<RequestItem>& items, std::string& tunnel_bytes) {
  if (upgraded_) return absl::FailedPreconditionError("the connection is a tunnel now");
  items_ = &items;
  size_t parsed = http_parser_execute(parser_.get(), &RequestCallbacks::Settings(), data.data(), data.size());
  items_ = nullptr;
  if (parser_->upgrade) {
    upgraded_ = true;
    tunnel_bytes = std::string(data.substr(parsed));
    return absl::OkStatus();
  }
  if (too_large_) return absl::ResourceExhaustedError(absl::StrCat("request head over ", kMaxRequestHead, " bytes"));
  auto error = static_cast<http_errno>(parser_->http_errno);
  if (error != HPE_OK || parsed != data.size()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed request: ", http_errno_description(error)));
  }
  return absl::OkStatus();
}

absl::Status RequestReader::Finish(std::deque<RequestItem>& items) {
  if (upgraded_) return absl::OkStatus();
  items_ = &items;
  http_parser_execute(parser_.get(), &RequestCallbacks::Settings(), nullptr, 0);
  items_ = nullptr;
  if (in_message_) return absl::InvalidArgumentError("the client closed in the middle of a request");
  return absl::OkStatus();
}

struct ResponseCallbacks {
  static ResponseReader& Of(http_parser* p) { return *static_cast<ResponseReader*>(p->data); }

  static int MessageBegin(http_parser* p) {
    Of(p).in_message_ = true;
    return 0;
  }
  static int HeadersComplete(http_parser* p) {
    ResponseReader& r = Of(p);
    r.status_code_ = p->status_code;
    if (p->status_code == 101) return -1;  // no upgrade was asked for: nothing to switch to
    const bool no_body = r.head_request_ || p->status_code / 100 == 1 || p->status_code == 204 ||
                         p->status_code == 304;
    r.identity_body_ = !no_body && (p->flags & F_CONTENTLENGTH) && !(p->flags & F_CHUNKED) && p->content_length > 0;
    return r.head_request_ ? 1 : 0;        // 1: no body follows (the answer to HEAD)
  }
  static int MessageComplete(http_parser* p) {
    ResponseReader& r = Of(p);
    r.in_message_ = false;
    r.identity_body_ = false;
    if (p->status_code >= 200) {
      ++r.completed_;
      r.keep_alive_ = http_should_keep_alive(p) != 0;
    }
    return 0;
  }

  static const http_parser_settings& Settings() {
    static const http_parser_settings settings = [] {
      http_parser_settings s;
      http_parser_settings_init(&s);
      s.on_message_begin = MessageBegin;
      s.on_headers_complete = HeadersComplete;
      s.on_message_complete = MessageComplete;
      return s;
    }();
    return settings;
  }
};

ResponseReader::ResponseReader() : parser_(std::make_unique<http_parser>()) { InitParser(*parser_, HTTP_RESPONSE, this); }

ResponseReader::~ResponseReader() = default;

void ResponseReader::Reset() {
  InitParser(*parser_, HTTP_RESPONSE, this);
  head_request_ = false;
  in_message_ = false;
  identity_body_ = false;
  status_code_ = 0;
  keep_alive_ = true;
  completed_ = 0;
}

void ResponseReader::ExpectResponseTo(absl::string_view method) { head_request_ = method == "HEAD"; }

absl::Status ResponseReader::Feed(absl::string_view data, int& completed) {
  completed_ = 0;
  size_t parsed = http_parser_execute(parser_.get(), &ResponseCallbacks::Settings(), data.data(), data.size());
  completed = completed_;
  auto error = static_cast<http_errno>(parser_->http_errno);
  if (error != HPE_OK || parsed != data.size() || parser_->upgrade) {
    return absl::InvalidArgumentError(absl::StrCat("malformed response: ", http_errno_description(error)));
  }
  return absl::OkStatus();
}

uint64_t ResponseReader::IdentityBodyLeft() const {
  // In a Content-Length body the parser counts the bytes still to come down in content_length.
  return identity_body_ ? parser_->content_length : 0;
}

absl::Status ResponseReader::SkipIdentityBody(uint64_t n, int& completed) {
  completed = 0;
  if (n > IdentityBodyLeft()) return absl::InternalError("skipped past the body");
  // In the identity-body state the parser only counts: it is given the count over bytes it does not read.
  static const char kZeros[64 * 1024] = {};
  while (n > 0) {
    const size_t step = static_cast<size_t>(std::min<uint64_t>(n, sizeof kZeros));
    int done = 0;
    if (absl::Status fed = Feed(absl::string_view(kZeros, step), done); !fed.ok()) return fed;
    completed += done;
    n -= step;
  }
  return absl::OkStatus();
}

absl::Status ResponseReader::Finish(int& completed) {
  completed_ = 0;
  http_parser_execute(parser_.get(), &ResponseCallbacks::Settings(), nullptr, 0);
  completed = completed_;
  if (in_message_) return absl::InvalidArgumentError("the server closed in the middle of a response");
  return absl::OkStatus();
}

std::string UpstreamRequestHead(const RequestHead& head, absl::string_view path, absl::string_view host_header) {
  std::vector<std::string> named_by_connection;
  for (const auto& [name, value] : head.headers) {
    if (!absl::EqualsIgnoreCase(name, "connection") && !absl::EqualsIgnoreCase(name, "proxy-connection")) continue;
    for (absl::string_view token : absl::StrSplit(value, ',')) {
      named_by_connection.push_back(absl::AsciiStrToLower(absl::StripAsciiWhitespace(token)));
    }
  }
  std::string out = absl::StrCat(head.method, " ", path, " HTTP/1.1\r\nHost: ", host_header, "\r\n");
  for (const auto& [name, value] : head.headers) {
    if (HopByHop(name) || !Clean(name) || !Clean(value)) continue;
    if (absl::c_linear_search(named_by_connection, absl::AsciiStrToLower(name))) continue;
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  }
  if (head.chunked) absl::StrAppend(&out, "Transfer-Encoding: chunked\r\n");
  if (!head.keep_alive) absl::StrAppend(&out, "Connection: close\r\n");
  absl::StrAppend(&out, "\r\n");
  return out;
}

std::string FrameBody(const RequestHead& head, absl::string_view piece) {
  if (!head.chunked) return std::string(piece);
  if (piece.empty()) return "";
  return absl::StrCat(absl::Hex(piece.size()), "\r\n", piece, "\r\n");
}

std::string EndBody(const RequestHead& head) { return head.chunked ? "0\r\n\r\n" : ""; }

}  // namespace airlock::proxy
