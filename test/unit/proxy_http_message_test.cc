#include <catch2/catch.hpp>

#include <deque>
#include <string>

#include "policy/proxy/http_message.h"

using namespace airlock::proxy;

namespace {

struct Fed {
  absl::Status status;
  std::deque<RequestItem> items;
  std::string tunnel;
};

// Feeds `text` in pieces of `step` bytes (framing must not depend on how reads split it).
Fed FeedRequest(const std::string& text, size_t step = 1 << 20) {
  RequestReader reader;
  Fed fed;
  for (size_t i = 0; i < text.size() && fed.status.ok() && !reader.upgraded(); i += step) {
    std::string tunnel;
    fed.status = reader.Feed(absl::string_view(text).substr(i, step), fed.items, tunnel);
    if (reader.upgraded()) fed.tunnel = tunnel + text.substr(std::min(text.size(), i + step));
  }
  return fed;
}

std::string Body(const std::deque<RequestItem>& items) {
  std::string out;
  for (const RequestItem& item : items) {
    if (const auto* piece = std::get_if<BodyPiece>(&item)) out += piece->bytes;
  }
  return out;
}

int Heads(const std::deque<RequestItem>& items) {
  int n = 0;
  for (const RequestItem& item : items) n += std::holds_alternative<RequestHead>(item);
  return n;
}

}  // namespace

TEST_CASE("request framing: kept-alive requests, chunked and sized bodies, any split", "[proxy]") {
  const std::string two =
      "POST http://a.example/x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhello"
      "PUT http://b.example/y?q=1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  for (size_t step : {size_t{1}, size_t{7}, size_t{1000}}) {
    INFO(step);
    Fed fed = FeedRequest(two, step);
    REQUIRE(fed.status.ok());
    CHECK(Heads(fed.items) == 2);
    CHECK(Body(fed.items) == "helloabcde");
    const auto& first = std::get<RequestHead>(fed.items.front());
    CHECK(first.method == "POST");
    CHECK(first.target == "http://a.example/x");
    CHECK(first.content_length);
    CHECK(first.body_length == 5);
    CHECK(std::holds_alternative<RequestEnd>(fed.items.back()));
  }
}

TEST_CASE("request framing: what smuggles or overflows is an error", "[proxy]") {
  // Both lengths: the classic request smuggling shape.
  CHECK_FALSE(FeedRequest("POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
                  .status.ok());
  CHECK_FALSE(FeedRequest("GET http://a/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab").status.ok());
  CHECK_FALSE(FeedRequest("GET http://a/ HTTP/1.1\r\nX: a\rb\r\n\r\n").status.ok());
  CHECK_FALSE(FeedRequest("NOTAMETHOD http://a/ HTTP/1.1\r\n\r\n").status.ok());
  CHECK_FALSE(FeedRequest("\x16\x03\x01\x00\x05hello").status.ok());
  Fed huge = FeedRequest("GET http://a/ HTTP/1.1\r\nX: " + std::string(kMaxRequestHead, 'a') + "\r\n\r\n", 4096);
  CHECK(absl::IsResourceExhausted(huge.status));
  // A request cut short by the client's close.
  RequestReader reader;
  std::deque<RequestItem> items;
  std::string tunnel;
  REQUIRE(reader.Feed("POST http://a/ HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", items, tunnel).ok());
  CHECK_FALSE(reader.Finish(items).ok());
}

TEST_CASE("request framing: after CONNECT the bytes are the tunnel's", "[proxy]") {
  Fed fed = FeedRequest("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n\x16\x03\x01rest", 5);
  REQUIRE(fed.status.ok());
  REQUIRE(Heads(fed.items) == 1);
  const auto& head = std::get<RequestHead>(fed.items.front());
  CHECK(head.method == "CONNECT");
  CHECK(head.target == "a.example:443");
  CHECK(head.upgrade);
  CHECK(fed.tunnel == "\x16\x03\x01rest");
  Fed upgrade = FeedRequest("GET http://a/ HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  REQUIRE(upgrade.status.ok());
  CHECK(std::get<RequestHead>(upgrade.items.front()).upgrade);
}

TEST_CASE("the upstream head is the proxy's own", "[proxy]") {
  Fed fed = FeedRequest(
      "GET http://a.example/p HTTP/1.1\r\nHost: evil.example\r\nProxy-Authorization: x\r\nProxy-Connection: "
      "keep-alive\r\nConnection: X-Drop, keep-alive\r\nX-Drop: 1\r\nAccept: */*\r\nUpgrade-Insecure-Requests: 1\r\n\r\n");
  REQUIRE(fed.status.ok());
  const auto& head = std::get<RequestHead>(fed.items.front());
  std::string out = UpstreamRequestHead(head, "/p", "a.example");
  CHECK(out == "GET /p HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\nUpgrade-Insecure-Requests: 1\r\n\r\n");
  Fed chunked = FeedRequest("POST http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n");
  REQUIRE(chunked.status.ok());
  const auto& c = std::get<RequestHead>(chunked.items.front());
  CHECK(UpstreamRequestHead(c, "/", "a") == "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  CHECK(FrameBody(c, "hello") == "5\r\nhello\r\n");
  CHECK(FrameBody(c, "") == "");
  CHECK(EndBody(c) == "0\r\n\r\n");
}

TEST_CASE("response framing: lengths, chunks, HEAD, interim and read-to-EOF", "[proxy]") {
  ResponseReader r;
  int done = 0;
  REQUIRE(r.Feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab", done).ok());
  CHECK(done == 0);
  REQUIRE(r.Feed("c", done).ok());
  CHECK(done == 1);
  CHECK(r.status_code() == 200);
  CHECK(r.keep_alive());
  r.ExpectResponseTo("HEAD");
  REQUIRE(r.Feed("HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n", done).ok());
  CHECK(done == 1);
  r.ExpectResponseTo("GET");
  REQUIRE(r.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", done).ok());
  CHECK(done == 1);
  REQUIRE(r.Feed("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", done).ok());
  CHECK(done == 0);
  REQUIRE(r.Finish(done).ok());
  CHECK(done == 1);
  CHECK_FALSE(r.keep_alive());

  ResponseReader cut;
  REQUIRE(cut.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", done).ok());
  CHECK_FALSE(cut.Finish(done).ok());
  ResponseReader switching;
  CHECK_FALSE(switching.Feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", done).ok());
  ResponseReader garbage;
  CHECK_FALSE(garbage.Feed("SSH-2.0-OpenSSH\r\n", done).ok());
}
