// Reads the SNI out of the TLS ClientHello a sandboxed client sends into a CONNECT tunnel, so the proxy can check it
// names the same server as the CONNECT request before anything goes upstream.
//
// Hand-written on purpose: no maintained library parses a bare ClientHello without a full TLS stack, and OpenSSL only
// exposes it from inside a server handshake (SSL_CTX_set_client_hello_cb), which the proxy does not terminate. The
// parser is small, bounded and refuses anything unusual, since all input comes from a hostile client.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace airlock::proxy {

// Largest ClientHello handshake message body (the 24-bit handshake length) we buffer; real ones are well under 2 KiB
// (bigger with post-quantum key shares), so anything larger is refused rather than buffered.
inline constexpr size_t kMaxClientHello = 16 * 1024;

// What the first bytes of a CONNECT tunnel say, read before anything goes upstream.
enum class HelloState { kNeedMore, kDone, kNotTls };

struct ClientHello {
  HelloState state = HelloState::kNeedMore;
  std::optional<std::string> server_name;  // the host_name entry of server_name (lower-cased); nullopt: no SNI
  std::string error;                       // kNotTls: why (printable ASCII, short)
};

// Parses the TLS record(s) carrying the ClientHello from the start of `bytes`. kNeedMore until the whole
// handshake message is there (it may span several TLS records of type 22); never reads past `bytes`.
// Refuses (kNotTls) anything that is not a TLS handshake record with a ClientHello, a handshake message
// longer than kMaxClientHello, malformed lengths, duplicate server_name extensions, a server_name list with
// more than one host_name, a host name that is empty, longer than 253 bytes, or holds bytes outside
// [A-Za-z0-9.-] (no NUL, no control characters, no trailing-dot games beyond one trailing dot which is stripped).
// An Encrypted Client Hello (ECH) is refused: its visible name is not the server it reaches.
// Bytes after the record that completes the ClientHello are not looked at.
ClientHello ParseClientHello(std::string_view bytes);

}  // namespace airlock::proxy
