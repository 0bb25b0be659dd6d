// ttrpc framing (github.com/containerd/ttrpc channel.go): every message is a 10-byte header
//   length (uint32 BE, body only) | stream id (uint32 BE) | type (1 request, 2 response) | flags
// followed by `length` bytes of body, at most 4 MiB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace airlock::ttrpc {

inline constexpr size_t kHeaderSize = 10;
inline constexpr uint32_t kMaxMessageSize = 4u << 20;

inline constexpr uint8_t kTypeRequest = 1;
inline constexpr uint8_t kTypeResponse = 2;

struct FrameHeader {
  uint32_t length = 0;
  uint32_t stream_id = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
};

struct Frame {
  FrameHeader header;
  std::string body;
};

// Writes the 10 header bytes to `out`.
void EncodeHeader(const FrameHeader& header, char* out);
// Reads a header from the first 10 bytes of `bytes` (which must hold at least that many).
FrameHeader DecodeHeader(absl::string_view bytes);
// Appends header + body to `out`. The caller keeps bodies within kMaxMessageSize.
void AppendFrame(std::string& out, uint32_t stream_id, uint8_t type, absl::string_view body, uint8_t flags = 0);

// "message length N exceed maximum message size of 4194304", as ttrpc words it.
absl::Status OversizedError(uint32_t length);

// Incremental decoder: feed whatever the socket gave, take out whole frames.
class FrameReader {
 public:
  explicit FrameReader(uint32_t max_body = kMaxMessageSize) : max_body_(max_body) {}

  void Feed(absl::string_view bytes);

  // A whole frame, std::nullopt when more bytes are needed, or ResourceExhausted when the next
  // header announces a body above the limit. After an error the reader stays failed (the stream
  // cannot be resynchronised without reading the oversized body); failed_header() tells which
  // stream it was.
  absl::StatusOr<std::optional<Frame>> Next();

  const FrameHeader& failed_header() const { return failed_header_; }
  bool failed() const { return failed_; }
  // True when some bytes of a frame not yet complete are buffered (EOF now would cut a frame).
  bool mid_frame() const { return buffer_.size() > offset_; }
  size_t buffered() const { return buffer_.size() - offset_; }

 private:
  void Compact();

  const uint32_t max_body_;
  std::string buffer_;
  size_t offset_ = 0;  // start of the first unconsumed byte
  bool failed_ = false;
  FrameHeader failed_header_;
  absl::Status failure_;
};

}  // namespace airlock::ttrpc
