// Hand-written ClientHello reader (see client_hello.h for why no library does this). It only follows lengths through
// a bounds-checked cursor, copies at most one handshake message that is actually present (never what a length field
// claims), and refuses instead of guessing whenever the framing is unusual: the proxy then just closes the tunnel.
#include "policy/proxy/client_hello.h"

#include <algorithm>
#include <cstdint>

namespace airlock::proxy {
namespace {

constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHelloType = 1;
constexpr uint16_t kServerNameExtension = 0;
constexpr uint16_t kEncryptedClientHelloExtension = 0xfe0d;  // draft-ietf-tls-esni
constexpr uint8_t kHostNameType = 0;
constexpr size_t kRecordHeader = 5;
constexpr size_t kHandshakeHeader = 4;
constexpr size_t kMaxRecord = 1 << 14;  // RFC 8446 5.1: TLSPlaintext.length MUST NOT exceed 2^14
constexpr size_t kMaxSessionId = 32;
constexpr size_t kMaxHostName = 253;
constexpr size_t kMaxLabel = 63;

ClientHello NotTls(const char* why) {
  ClientHello hello;
  hello.state = HelloState::kNotTls;
  hello.error = why;
  return hello;
}

// Legacy versions are 0x0301 (TLS 1.0, still what many clients put on their first record) to 0x0303 (TLS 1.2, what
// TLS 1.3 hellos carry); SSL 3.0 and anything newer-looking are not hellos we expect from real clients.
bool LegacyVersionOk(uint8_t major, uint8_t minor) { return major == 3 && minor >= 1 && minor <= 3; }

// Bounds-checked reader over one span; every read fails instead of running past the end.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  bool empty() const { return data_.empty(); }
  size_t remaining() const { return data_.size(); }

  bool U8(size_t& out) {
    if (data_.empty()) return false;
    out = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return true;
  }
  bool U16(size_t& out) {
    if (data_.size() < 2) return false;
    out = (size_t{static_cast<uint8_t>(data_[0])} << 8) | static_cast<uint8_t>(data_[1]);
    data_.remove_prefix(2);
    return true;
  }
  bool Bytes(size_t n, std::string_view& out) {
    if (data_.size() < n) return false;
    out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  bool Skip(size_t n) {
    std::string_view ignored;
    return Bytes(n, ignored);
  }

 private:
  std::string_view data_;
};

// Checks as much of a record header as has arrived, so non-TLS traffic is refused from its first byte.
const char* CheckRecordHeader(std::string_view header) {
  auto byte = [&](size_t i) { return static_cast<uint8_t>(header[i]); };
  if (header.size() >= 1 && byte(0) != kHandshakeRecord) return "not a TLS handshake record";
  if (header.size() >= 2 && byte(1) != 3) return "unsupported TLS record version";
  if (header.size() >= 3 && !LegacyVersionOk(byte(1), byte(2))) return "unsupported TLS record version";
  if (header.size() >= kRecordHeader) {
    size_t length = (size_t{byte(3)} << 8) | byte(4);
    if (length > kMaxRecord) return "TLS record too long";
    // RFC 8446 5.1: zero-length handshake fragments MUST NOT be sent.
    if (length == 0) return "empty TLS handshake record";
  }
  return nullptr;
}

// The name must be one DNS host name the CONNECT host can be compared with: ASCII letters, digits, '-' and '.', no
// empty labels. One trailing dot (the absolute form) is tolerated and stripped, so "a.com." and "a.com" compare equal.
const char* CheckHostName(std::string_view name, std::string& out) {
  if (name.size() > kMaxHostName) return "SNI host name too long";
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty()) return "empty SNI host name";
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return "empty label in SNI host name";
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return "bad byte in SNI host name";
    if (++label > kMaxLabel) return "SNI host name label too long";
  }
  if (label == 0) return "empty label in SNI host name";
  out.assign(name);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; });
  return nullptr;
}

// RFC 6066 3: ServerNameList server_name_list<1..2^16-1>, each entry a NameType and a HostName<1..2^16-1>. Exactly
// one host_name entry is accepted; other name types have no defined encoding, so they are refused too.
const char* ParseServerName(std::string_view data, std::string& out) {
  Reader r(data);
  size_t list_length;
  if (!r.U16(list_length) || list_length == 0 || list_length != r.remaining()) return "bad server_name list length";
  size_t type, length;
  std::string_view name;
  if (!r.U8(type) || !r.U16(length)) return "truncated server_name entry";
  if (type != kHostNameType) return "unsupported server_name type";
  if (!r.Bytes(length, name)) return "bad SNI host name length";
  if (!r.empty()) return "more than one server_name entry";
  return CheckHostName(name, out);
}

// RFC 8446 4.1.2 / RFC 5246 7.4.1.2 ClientHello body (after the 4-byte handshake header), consumed exactly.
ClientHello ParseBody(std::string_view body) {
  Reader r(body);
  size_t major, minor, length;
  if (!r.U8(major) || !r.U8(minor)) return NotTls("truncated ClientHello");
  if (!LegacyVersionOk(static_cast<uint8_t>(major), static_cast<uint8_t>(minor))) {
    return NotTls("unsupported ClientHello version");
  }
  if (!r.Skip(32)) return NotTls("truncated ClientHello random");
  if (!r.U8(length) || length > kMaxSessionId || !r.Skip(length)) return NotTls("bad session_id length");
  if (!r.U16(length) || length < 2 || length % 2 != 0 || !r.Skip(length)) return NotTls("bad cipher_suites length");
  if (!r.U8(length) || length < 1 || !r.Skip(length)) return NotTls("bad compression_methods length");

  ClientHello hello;
  hello.state = HelloState::kDone;
  if (r.empty()) return hello;  // pre-extension hello: valid, just no SNI

  if (!r.U16(length) || length != r.remaining()) return NotTls("bad extensions length");
  bool seen_server_name = false;
  while (!r.empty()) {
    size_t type;
    std::string_view data;
    if (!r.U16(type) || !r.U16(length) || !r.Bytes(length, data)) return NotTls("truncated extension");
    // Encrypted Client Hello: the visible name is the outer, public one, and the server behind it picks the real
    // name from the encrypted part. Checking the outer name would check nothing.
    if (type == kEncryptedClientHelloExtension) return NotTls("encrypted client hello (ECH) hides the server name");
    if (type != kServerNameExtension) continue;
    // RFC 8446 4.2 forbids repeats; a second server_name could make us and the upstream disagree on the name.
    if (seen_server_name) return NotTls("duplicate server_name extension");
    seen_server_name = true;
    std::string name;
    if (const char* error = ParseServerName(data, name)) return NotTls(error);
    hello.server_name = std::move(name);
  }
  return hello;
}

}  // namespace

ClientHello ParseClientHello(std::string_view bytes) {
  // Handshake bytes gathered from the records so far. Capped at one maximal message, and only filled from bytes that
  // are present, so a hostile length costs nothing.
  std::string message;
  size_t claimed = 0;  // handshake bytes the records seen so far say they carry
  size_t pos = 0;      // start of the next record header in `bytes`
  while (true) {
    std::string_view header = bytes.substr(pos, kRecordHeader);
    if (const char* error = CheckRecordHeader(header)) return NotTls(error);
    if (header.size() < kRecordHeader) return {};
    size_t length = (size_t{static_cast<uint8_t>(header[3])} << 8) | static_cast<uint8_t>(header[4]);
    claimed += length;
    std::string_view fragment = bytes.substr(pos + kRecordHeader, length);  // possibly still arriving
    size_t room = kHandshakeHeader + kMaxClientHello - message.size();
    message.append(fragment.substr(0, room));

    if (message.empty()) return {};  // a header with none of its fragment yet
    if (static_cast<uint8_t>(message[0]) != kClientHelloType) {
      return NotTls("first handshake message is not a ClientHello");
    }
    if (message.size() >= kHandshakeHeader) {
      size_t body_length = (size_t{static_cast<uint8_t>(message[1])} << 16) |
                           (size_t{static_cast<uint8_t>(message[2])} << 8) | static_cast<uint8_t>(message[3]);
      if (body_length > kMaxClientHello) return NotTls("ClientHello too long");
      // The ClientHello is alone in its flight; handshake bytes after it mean the lengths disagree.
      if (claimed > kHandshakeHeader + body_length) return NotTls("ClientHello length does not match its records");
      if (message.size() == kHandshakeHeader + body_length) {
        return ParseBody(std::string_view(message).substr(kHandshakeHeader));
      }
    }
    if (fragment.size() < length) return {};  // the rest of this record has not arrived yet
    pos += kRecordHeader + length;
  }
}

}  // namespace airlock::proxy
