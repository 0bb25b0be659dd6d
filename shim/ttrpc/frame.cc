#include "shim/ttrpc/frame.h"

#include "absl/strings/str_cat.h"

namespace airlock::ttrpc {
namespace {

void PutU32(char* out, uint32_t v) {
  out[0] = static_cast<char>(v >> 24);
  out[1] = static_cast<char>(v >> 16);
  out[2] = static_cast<char>(v >> 8);
  out[3] = static_cast<char>(v);
}

uint32_t GetU32(const char* in) {
  auto b = [in](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(in[i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

// Buffers above this are released once drained, so one big message does not pin memory.
constexpr size_t kKeepCapacity = 64 * 1024;

}  // namespace

void EncodeHeader(const FrameHeader& header, char* out) {
  PutU32(out, header.length);
  PutU32(out + 4, header.stream_id);
  out[8] = static_cast<char>(header.type);
  out[9] = static_cast<char>(header.flags);
}

FrameHeader DecodeHeader(absl::string_view bytes) {
  FrameHeader header;
  header.length = GetU32(bytes.data());
  header.stream_id = GetU32(bytes.data() + 4);
  header.type = static_cast<uint8_t>(bytes[8]);
  header.flags = static_cast<uint8_t>(bytes[9]);
  return header;
}

void AppendFrame(std::string& out, uint32_t stream_id, uint8_t type, absl::string_view body, uint8_t flags) {
  char header[kHeaderSize];
  EncodeHeader(FrameHeader{static_cast<uint32_t>(body.size()), stream_id, type, flags}, header);
  out.reserve(out.size() + kHeaderSize + body.size());
  out.append(header, kHeaderSize);
  out.append(body.data(), body.size());
}

absl::Status OversizedError(uint32_t length) {
  return absl::ResourceExhaustedError(
      absl::StrCat("message length ", length, " exceed maximum message size of ", kMaxMessageSize));
}

void FrameReader::Feed(absl::string_view bytes) {
  if (failed_) return;  // nothing after a bad header can be framed
  buffer_.append(bytes.data(), bytes.size());
}

absl::StatusOr<std::optional<Frame>> FrameReader::Next() {
  if (failed_) return failure_;
  if (buffered() < kHeaderSize) {
    Compact();
    return std::nullopt;
  }
  FrameHeader header = DecodeHeader(absl::string_view(buffer_).substr(offset_, kHeaderSize));
  if (header.length > max_body_) {
    failed_ = true;
    failed_header_ = header;
    buffer_.clear();
    buffer_.shrink_to_fit();
    offset_ = 0;
    failure_ = absl::ResourceExhaustedError(
        absl::StrCat("message length ", header.length, " exceed maximum message size of ", max_body_));
    return failure_;
  }
  if (buffered() - kHeaderSize < header.length) {
    Compact();
    // Grow once to the whole frame rather than by doubling through a large body.
    buffer_.reserve(kHeaderSize + header.length);
    return std::nullopt;
  }
  Frame frame;
  frame.header = header;
  frame.body.assign(buffer_, offset_ + kHeaderSize, header.length);
  offset_ += kHeaderSize + header.length;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
    if (buffer_.capacity() > kKeepCapacity) buffer_.shrink_to_fit();
  }
  return frame;
}

void FrameReader::Compact() {
  if (offset_ == 0) return;
  buffer_.erase(0, offset_);
  offset_ = 0;
}

}  // namespace airlock::ttrpc
