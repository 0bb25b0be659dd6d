#include <catch2/catch.hpp>

#include "shim/io/stdio_uri.h"

using airlock::io::ParseStdioUri;
using Kind = airlock::io::StdioTarget::Kind;

TEST_CASE("stdio URIs: empty, plain paths and fifo://", "[io][uri]") {
  auto none = ParseStdioUri("");
  REQUIRE(none.ok());
  CHECK(none->kind == Kind::kNull);

  auto plain = ParseStdioUri("/run/containerd/fifo/123/redis-stdout");
  REQUIRE(plain.ok());
  CHECK(plain->kind == Kind::kFifo);
  CHECK(plain->path == "/run/containerd/fifo/123/redis-stdout");

  auto odd = ParseStdioUri("/path/with:colon");  // a colon after a slash is no scheme
  REQUIRE(odd.ok());
  CHECK(odd->kind == Kind::kFifo);
  CHECK(odd->path == "/path/with:colon");

  auto fifo = ParseStdioUri("fifo:///tmp/x/stdin");
  REQUIRE(fifo.ok());
  CHECK(fifo->kind == Kind::kFifo);
  CHECK(fifo->path == "/tmp/x/stdin");
}

TEST_CASE("stdio URIs: file:// with escapes", "[io][uri]") {
  auto file = ParseStdioUri("file:///var/log/my%20app/out.log");
  REQUIRE(file.ok());
  CHECK(file->kind == Kind::kFile);
  CHECK(file->path == "/var/log/my app/out.log");

  auto with_host = ParseStdioUri("file://localhost/var/log/a.log");
  REQUIRE(with_host.ok());
  CHECK(with_host->path == "/var/log/a.log");

  CHECK(!ParseStdioUri("file://").ok());
  CHECK(!ParseStdioUri("file:///bad%zzescape").ok());
}

TEST_CASE("stdio URIs: binary:// arguments follow containerd's NewBinaryCmd", "[io][uri]") {
  auto binary = ParseStdioUri("binary:///usr/bin/logger?id=abc&tag=a+b%2Fc&flag&empty=&id=again");
  REQUIRE(binary.ok());
  CHECK(binary->kind == Kind::kBinary);
  CHECK(binary->path == "/usr/bin/logger");
  CHECK(binary->args == std::vector<std::string>{"id", "abc", "tag", "a b/c", "flag", "", "empty", ""});

  auto bare = ParseStdioUri("binary:///opt/log");
  REQUIRE(bare.ok());
  CHECK(bare->args.empty());
}

TEST_CASE("stdio URIs: unknown schemes are refused", "[io][uri]") {
  auto unknown = ParseStdioUri("tcp://1.2.3.4:5");
  REQUIRE(!unknown.ok());
  CHECK(absl::IsInvalidArgument(unknown.status()));
}
