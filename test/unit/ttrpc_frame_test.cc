#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "google/rpc/status.pb.h"
#include "shim/ttrpc/frame.h"
#include "shim/ttrpc/wire.h"
#include "ttrpc/ttrpc.pb.h"

namespace airlock::ttrpc {
namespace {

std::string Header(uint32_t length, uint32_t stream_id, uint8_t type, uint8_t flags = 0) {
  char bytes[kHeaderSize];
  EncodeHeader(FrameHeader{length, stream_id, type, flags}, bytes);
  return std::string(bytes, kHeaderSize);
}

TEST_CASE("frame header is big-endian length, stream id, type, flags", "[ttrpc][frame]") {
  std::string bytes = Header(0x01020304, 0x0a0b0c0d, 2, 0x7f);
  REQUIRE(bytes == std::string("\x01\x02\x03\x04\x0a\x0b\x0c\x0d\x02\x7f", 10));
  FrameHeader header = DecodeHeader(bytes);
  CHECK(header.length == 0x01020304);
  CHECK(header.stream_id == 0x0a0b0c0d);
  CHECK(header.type == 2);
  CHECK(header.flags == 0x7f);

  FrameHeader high = DecodeHeader(Header(0xffffffff, 0x80000001, 0xff, 0xff));
  CHECK(high.length == 0xffffffff);
  CHECK(high.stream_id == 0x80000001);
  CHECK(high.type == 0xff);
}

TEST_CASE("AppendFrame writes header then body", "[ttrpc][frame]") {
  std::string out = "x";
  AppendFrame(out, 3, kTypeRequest, "hello");
  REQUIRE(out.size() == 1 + kHeaderSize + 5);
  CHECK(out.substr(1, kHeaderSize) == Header(5, 3, kTypeRequest));
  CHECK(out.substr(1 + kHeaderSize) == "hello");
}

TEST_CASE("FrameReader yields whole frames however the bytes arrive", "[ttrpc][frame]") {
  std::string stream;
  AppendFrame(stream, 1, kTypeRequest, "first");
  AppendFrame(stream, 3, kTypeRequest, "");
  AppendFrame(stream, 5, kTypeResponse, std::string(100000, 'z'));

  SECTION("all at once") {
    FrameReader reader;
    reader.Feed(stream);
    auto a = reader.Next();
    REQUIRE(a.ok());
    REQUIRE(a->has_value());
    CHECK((*a)->header.stream_id == 1);
    CHECK((*a)->body == "first");
    auto b = reader.Next();
    REQUIRE(b.ok());
    REQUIRE(b->has_value());
    CHECK((*b)->header.stream_id == 3);
    CHECK((*b)->body.empty());
    auto c = reader.Next();
    REQUIRE(c.ok());
    REQUIRE(c->has_value());
    CHECK((*c)->header.type == kTypeResponse);
    CHECK((*c)->body == std::string(100000, 'z'));
    auto none = reader.Next();
    REQUIRE(none.ok());
    CHECK(!none->has_value());
    CHECK(!reader.mid_frame());
  }

  SECTION("byte by byte and in random chunks") {
    std::mt19937 rng(42);
    for (int round = 0; round < 20; ++round) {
      FrameReader reader;
      std::vector<Frame> frames;
      size_t pos = 0;
      while (pos < stream.size()) {
        size_t chunk = round == 0 ? 1 : std::uniform_int_distribution<size_t>(1, 5000)(rng);
        chunk = std::min(chunk, stream.size() - pos);
        reader.Feed(absl::string_view(stream).substr(pos, chunk));
        pos += chunk;
        for (;;) {
          auto next = reader.Next();
          REQUIRE(next.ok());
          if (!next->has_value()) break;
          frames.push_back(std::move(**next));
        }
      }
      REQUIRE(frames.size() == 3);
      CHECK(frames[0].body == "first");
      CHECK(frames[1].body.empty());
      CHECK(frames[2].body.size() == 100000);
      CHECK(!reader.mid_frame());
    }
  }
}

TEST_CASE("FrameReader reports partial input", "[ttrpc][frame]") {
  FrameReader reader;
  CHECK(!reader.mid_frame());
  reader.Feed(Header(4, 1, kTypeRequest).substr(0, 7));
  auto next = reader.Next();
  REQUIRE(next.ok());
  CHECK(!next->has_value());
  CHECK(reader.mid_frame());
  reader.Feed(Header(4, 1, kTypeRequest).substr(7) + "ab");
  next = reader.Next();
  REQUIRE(next.ok());
  CHECK(!next->has_value());
  CHECK(reader.mid_frame());
  CHECK(reader.buffered() == 12);
  reader.Feed("cd");
  next = reader.Next();
  REQUIRE(next.ok());
  REQUIRE(next->has_value());
  CHECK((*next)->body == "abcd");
  CHECK(!reader.mid_frame());
}

TEST_CASE("FrameReader refuses bodies over 4 MiB and stays failed", "[ttrpc][frame]") {
  SECTION("exactly 4 MiB is fine") {
    FrameReader reader;
    std::string frame;
    AppendFrame(frame, 1, kTypeRequest, std::string(kMaxMessageSize, 'a'));
    reader.Feed(frame);
    auto next = reader.Next();
    REQUIRE(next.ok());
    REQUIRE(next->has_value());
    CHECK((*next)->body.size() == kMaxMessageSize);
  }
  SECTION("one byte more is not, even before the body arrives") {
    FrameReader reader;
    reader.Feed(Header(kMaxMessageSize + 1, 7, kTypeRequest));
    auto next = reader.Next();
    REQUIRE(!next.ok());
    CHECK(next.status().code() == absl::StatusCode::kResourceExhausted);
    CHECK(next.status().message() == "message length 4194305 exceed maximum message size of 4194304");
    CHECK(reader.failed());
    CHECK(reader.failed_header().stream_id == 7);
    reader.Feed(Header(1, 9, kTypeRequest) + "x");
    CHECK(!reader.Next().ok());
  }
  SECTION("a huge length after a good frame") {
    FrameReader reader;
    std::string bytes;
    AppendFrame(bytes, 1, kTypeRequest, "ok");
    bytes += Header(0xffffffff, 3, kTypeRequest);
    reader.Feed(bytes);
    auto first = reader.Next();
    REQUIRE(first.ok());
    REQUIRE(first->has_value());
    auto second = reader.Next();
    REQUIRE(!second.ok());
    CHECK(reader.failed_header().stream_id == 3);
    CHECK(reader.failed_header().length == 0xffffffff);
  }
  SECTION("a smaller limit") {
    FrameReader reader(16);
    reader.Feed(Header(17, 1, kTypeRequest));
    auto next = reader.Next();
    REQUIRE(!next.ok());
    CHECK(next.status().message() == "message length 17 exceed maximum message size of 16");
  }
}

TEST_CASE("FrameReader survives random garbage", "[ttrpc][frame]") {
  std::mt19937 rng(7);
  for (int round = 0; round < 500; ++round) {
    FrameReader reader(1 << 16);
    size_t len = std::uniform_int_distribution<size_t>(0, 300)(rng);
    std::string bytes(len, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    // Often keep the length small so frames actually complete.
    if (len >= 4 && rng() % 2 == 0) bytes[0] = bytes[1] = bytes[2] = 0;
    reader.Feed(bytes);
    for (int i = 0; i < 1000; ++i) {
      auto next = reader.Next();
      if (!next.ok() || !next->has_value()) break;
      CHECK((*next)->body.size() == (*next)->header.length);
    }
  }
}

TEST_CASE("responses carry google.rpc.Status with gRPC codes", "[ttrpc][frame]") {
  ::ttrpc::Response ok;
  REQUIRE(ok.ParseFromString(EncodeResponse(std::string("payload"))));
  CHECK(ok.has_status());
  CHECK(ok.status().code() == 0);
  CHECK(ok.payload() == "payload");

  ::ttrpc::Response err;
  REQUIRE(err.ParseFromString(EncodeResponse(absl::NotFoundError("no such task"))));
  CHECK(err.status().code() == 5);
  CHECK(err.status().message() == "no such task");
  CHECK(err.payload().empty());

  ::ttrpc::Response big;
  REQUIRE(big.ParseFromString(EncodeResponse(std::string(kMaxMessageSize, 'b'))));
  CHECK(big.status().code() == 8);
  CHECK(big.payload().empty());

  CHECK(ToRpcStatus(absl::UnimplementedError("x")).code() == 12);
  CHECK(ToRpcStatus(absl::DeadlineExceededError("x")).code() == 4);
  CHECK(ToRpcStatus(absl::UnavailableError("x")).code() == 14);
  google::rpc::Status odd;
  odd.set_code(99);
  odd.set_message("weird");
  CHECK(FromRpcStatus(odd).code() == absl::StatusCode::kUnknown);
  CHECK(FromRpcStatus(odd).message() == "weird");
  google::rpc::Status perm;
  perm.set_code(7);
  CHECK(FromRpcStatus(perm).code() == absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace airlock::ttrpc
