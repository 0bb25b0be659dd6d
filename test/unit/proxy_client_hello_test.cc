#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "policy/proxy/client_hello.h"

using namespace airlock::proxy;

namespace {

// Captured from `openssl s_client -connect 127.0.0.1:<port> -servername Example.COM` (OpenSSL 3.0): one record.
constexpr std::string_view kCapturedHex =
    "1603010138010001340303b653848c2c323a65093eea6632b25c857c118eaf912aa6deac54f89eb9"
    "24cccf2039485fbe1922b7e9f4d3a18ee987f8f69f3e29c21f564698ed8f09b99578084f003e1302"
    "13031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039"
    "c009c0130033009d009c003d003c0035002f00ff010000ad00000010000e00000b4578616d706c65"
    "2e434f4d000b000403000102000a00160014001d0017001e00190018010001010102010301040023"
    "00000016000000170000000d002a0028040305030603080708080809080a080b0804080508060401"
    "05010601030303010302040205020602002b0009080304030303020301002d000201010033002600"
    "24001d00205eff3165e058d9a71b6bbc2cb1d381de18be6f8f7becc1a30cb5ee3738efdf06";

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string Captured() { return FromHex(kCapturedHex); }

std::string U8(size_t v) { return std::string(1, static_cast<char>(v & 0xff)); }
std::string U16(size_t v) { return U8(v >> 8) + U8(v); }
std::string U24(size_t v) { return U8(v >> 16) + U16(v); }

std::string Ext(uint16_t type, const std::string& data) { return U16(type) + U16(data.size()) + data; }
std::string SniEntry(const std::string& name, uint8_t type = 0) { return U8(type) + U16(name.size()) + name; }
std::string SniExt(const std::string& name) { return Ext(0, U16(3 + name.size()) + SniEntry(name)); }

// ClientHello handshake message (header included); `extensions` nullopt leaves the extensions block out entirely.
std::string Hello(const std::optional<std::string>& extensions) {
  std::string body = "\x03\x03" + std::string(32, 'R');  // legacy_version, random
  body += U8(32) + std::string(32, 'S');                 // session_id
  body += U16(4) + std::string("\x13\x01\x13\x02", 4);   // cipher_suites
  body += U8(1) + std::string(1, '\0');                  // compression_methods: null
  if (extensions) body += U16(extensions->size()) + *extensions;
  return U8(1) + U24(body.size()) + body;
}

std::string Record(const std::string& fragment, uint8_t type = 22, uint8_t minor = 1) {
  return U8(type) + U8(3) + U8(minor) + U16(fragment.size()) + fragment;
}

// Splits a handshake message into records of at most `chunk` bytes.
std::string Records(const std::string& msg, size_t chunk) {
  std::string out;
  for (size_t i = 0; i < msg.size(); i += chunk) out += Record(msg.substr(i, chunk));
  return out;
}

std::string WithSni(const std::string& name) {
  return Record(Hello(Ext(10, std::string("\x00\x02\x00\x1d", 4)) + SniExt(name) + Ext(43, "\x02\x03\x04")));
}

bool ValidLowerName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (unsigned char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  }
  return true;
}

bool PrintableShort(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

void CheckNotTls(const std::string& bytes) {
  auto hello = ParseClientHello(bytes);
  CHECK(hello.state == HelloState::kNotTls);
  CHECK(!hello.server_name);
  CHECK(PrintableShort(hello.error));
}

}  // namespace

TEST_CASE("client hello: captured openssl hello gives the lower-cased SNI", "[proxy]") {
  auto bytes = Captured();
  REQUIRE(bytes.size() == 317);
  auto hello = ParseClientHello(bytes);
  REQUIRE(hello.state == HelloState::kDone);
  CHECK(hello.server_name == "example.com");
  CHECK(hello.error.empty());
  // What follows the hello (early data, the next flight) is not ours to judge.
  CHECK(ParseClientHello(bytes + Record("junk", 23)).server_name == "example.com");
  CHECK(ParseClientHello(bytes + "GET / HTTP/1.1\r\n").state == HelloState::kDone);
}

TEST_CASE("client hello: no SNI and no extensions are done without a name", "[proxy]") {
  auto none = ParseClientHello(Record(Hello(std::nullopt)));
  CHECK(none.state == HelloState::kDone);
  CHECK(!none.server_name);
  auto empty = ParseClientHello(Record(Hello(std::string())));
  CHECK(empty.state == HelloState::kDone);
  CHECK(!empty.server_name);
  auto other = ParseClientHello(Record(Hello(Ext(43, "\x02\x03\x04") + Ext(23, std::string(5, 'e')))));
  CHECK(other.state == HelloState::kDone);
  CHECK(!other.server_name);
  auto mixed = ParseClientHello(WithSni("Api.Example-1.ORG"));
  CHECK(mixed.state == HelloState::kDone);
  CHECK(mixed.server_name == "api.example-1.org");
}

TEST_CASE("client hello: every prefix needs more", "[proxy]") {
  for (const auto& full : {Captured(), Records(Captured().substr(5), 7), WithSni("a.b")}) {
    for (size_t n = 0; n < full.size(); ++n) {
      auto hello = ParseClientHello(std::string_view(full).substr(0, n));
      INFO("prefix " << n << " of " << full.size());
      CHECK(hello.state == HelloState::kNeedMore);
      CHECK(!hello.server_name);
    }
    CHECK(ParseClientHello(full).state == HelloState::kDone);
  }
}

TEST_CASE("client hello: message split across records", "[proxy]") {
  std::string msg = Captured().substr(5);
  for (size_t cut = 1; cut < msg.size(); ++cut) {
    auto bytes = Record(msg.substr(0, cut)) + Record(msg.substr(cut), 22, 3);
    auto hello = ParseClientHello(bytes);
    INFO("cut " << cut);
    REQUIRE(hello.state == HelloState::kDone);
    CHECK(hello.server_name == "example.com");
  }
  auto tiny = ParseClientHello(Records(msg, 1));
  CHECK(tiny.state == HelloState::kDone);
  CHECK(tiny.server_name == "example.com");

  // A non-handshake record in between, or a bad header on a later record.
  std::string first = Record(msg.substr(0, 100));
  std::string rest = Record(msg.substr(100));
  CheckNotTls(first + Record("\x01\x00", 21) + rest);
  CheckNotTls(first + Record("x", 23) + rest);
  CheckNotTls(first + Record("x", 20) + rest);
  CheckNotTls(first + Record(msg.substr(100), 22, 4));
  CheckNotTls(first + Record(msg.substr(100), 22, 0));
  CheckNotTls(first + std::string("\x16\x02\x03", 3) + U16(msg.size() - 100) + msg.substr(100));
  CheckNotTls(first + Record(""));       // empty handshake fragments are not allowed
  CheckNotTls(first + Record("x", 23));  // rejected as soon as its header is visible
  CheckNotTls(first + "\x17");
  // The record that completes the message may not carry anything after it.
  CheckNotTls(Record(msg + "\x01"));
  CheckNotTls(Record(msg.substr(0, 100)) + Record(msg.substr(100) + std::string("\x00\x00", 2)));
}

TEST_CASE("client hello: not TLS at all", "[proxy]") {
  CheckNotTls("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  CheckNotTls("G");
  CheckNotTls("SSH-2.0-OpenSSH_9.6\r\n");
  CheckNotTls(std::string("\x80\x2e\x01\x03\x01", 5));  // SSLv2-style hello
  CheckNotTls(std::string(64, '\0'));
  CheckNotTls(std::string(64, '\xff'));
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string garbage(rng() % 600 + 1, '\0');
    for (auto& c : garbage) c = static_cast<char>(rng());
    garbage[0] = static_cast<char>(garbage[0] == 22 ? 23 : garbage[0]);
    CheckNotTls(garbage);
  }
}

TEST_CASE("client hello: wrong record and handshake types", "[proxy]") {
  std::string msg = Captured().substr(5);
  CheckNotTls(Record(msg, 23));
  CheckNotTls(Record(msg, 21));
  CheckNotTls(Record(msg, 20));
  CheckNotTls(Record(msg, 22, 0));
  CheckNotTls(Record(msg, 22, 4));
  CheckNotTls(std::string("\x16\x02\x01", 3) + U16(msg.size()) + msg);
  std::string server_hello = msg;
  server_hello[0] = 2;
  CheckNotTls(Record(server_hello));
  CheckNotTls(Record(server_hello.substr(0, 1)));  // known wrong before the rest arrives
  std::string bad_version = msg;
  bad_version[4] = 2;
  CheckNotTls(Record(bad_version));
}

TEST_CASE("client hello: oversized length claims", "[proxy]") {
  std::string msg = Captured().substr(5);
  // Record longer than 2^14, refused from the header alone.
  CheckNotTls(std::string("\x16\x03\x01\x40\x01", 5));
  CheckNotTls(std::string("\x16\x03\x01\xff\xff", 5) + msg);
  // Handshake message longer than kMaxClientHello, or absurd, refused from its header alone.
  CheckNotTls(Record(U8(1) + U24(kMaxClientHello + 1)));
  CheckNotTls(Record(U8(1) + U24(0xffffff) + msg.substr(4)));
  CheckNotTls(Record(U8(1) + U24(0)));
  // A hello of exactly kMaxClientHello (padding extension) spans two records and is fine; one byte more is not.
  std::string base_ext = SniExt("example.com");
  size_t fixed = Hello(base_ext).size() - 4 + 4;  // body without padding plus the padding extension header
  std::string max_hello = Hello(base_ext + Ext(21, std::string(kMaxClientHello - fixed, '\0')));
  REQUIRE(max_hello.size() == kMaxClientHello + 4);
  auto hello = ParseClientHello(Records(max_hello, 16384));
  CHECK(hello.state == HelloState::kDone);
  CHECK(hello.server_name == "example.com");
  CHECK(ParseClientHello(Records(max_hello, 16384).substr(0, 16389)).state == HelloState::kNeedMore);
  CheckNotTls(Records(Hello(base_ext + Ext(21, std::string(kMaxClientHello - fixed + 1, '\0'))), 16384));
}

TEST_CASE("client hello: server_name extension must be single and clean", "[proxy]") {
  CheckNotTls(Record(Hello(SniExt("example.com") + SniExt("example.com"))));
  CheckNotTls(Record(Hello(SniExt("example.com") + Ext(43, "\x02\x03\x04") + SniExt("evil.com"))));
  std::string two = SniEntry("example.com") + SniEntry("evil.com");
  CheckNotTls(Record(Hello(Ext(0, U16(two.size()) + two))));
  std::string other_type = SniEntry("example.com", 1);
  CheckNotTls(Record(Hello(Ext(0, U16(other_type.size()) + other_type))));
  CheckNotTls(Record(Hello(Ext(0, ""))));
  CheckNotTls(Record(Hello(Ext(0, U16(0)))));
}

TEST_CASE("client hello: an encrypted client hello is refused, its outer name checks nothing", "[proxy]") {
  CheckNotTls(Record(Hello(SniExt("public.example.com") + Ext(0xfe0d, std::string(40, 'E')))));
  CheckNotTls(Record(Hello(Ext(0xfe0d, std::string(40, 'E')) + SniExt("public.example.com"))));
}

TEST_CASE("client hello: host name bytes and length", "[proxy]") {
  CheckNotTls(WithSni(std::string("example.com\0.evil.com", 21)));
  CheckNotTls(WithSni(std::string("example.com\0", 12)));
  CheckNotTls(WithSni("example .com"));
  CheckNotTls(WithSni("example.com\r\n"));
  CheckNotTls(WithSni("exa_mple.com"));
  CheckNotTls(WithSni("example.com/"));
  CheckNotTls(WithSni("ex\xc3\xa4mple.com"));
  CheckNotTls(WithSni("1.2.3.4:443"));
  CheckNotTls(WithSni(""));
  CheckNotTls(WithSni("."));
  CheckNotTls(WithSni("example.com.."));
  CheckNotTls(WithSni(".example.com"));
  CheckNotTls(WithSni("example..com"));
  CheckNotTls(WithSni(std::string(64, 'a') + ".com"));

  auto dot = ParseClientHello(WithSni("Example.com."));
  CHECK(dot.state == HelloState::kDone);
  CHECK(dot.server_name == "example.com");

  std::string label(63, 'a');
  std::string n253 = label + "." + label + "." + label + "." + std::string(61, 'b');
  REQUIRE(n253.size() == 253);
  auto ok = ParseClientHello(WithSni(n253));
  CHECK(ok.state == HelloState::kDone);
  CHECK(ok.server_name == n253);
  CheckNotTls(WithSni(n253 + "b"));
  CheckNotTls(WithSni(n253 + "."));
  CheckNotTls(WithSni(std::string(254, 'a')));
  CheckNotTls(Records(Hello(SniExt(std::string(65535 - 5, 'a'))), 16384));
}

TEST_CASE("client hello: lengths pointing past the end", "[proxy]") {
  auto hello_with = [](const std::string& body) { return Record(U8(1) + U24(body.size()) + body); };
  std::string head = "\x03\x03" + std::string(32, 'R');
  std::string suites = U16(2) + "\x13\x01";
  std::string comp = U8(1) + std::string(1, '\0');
  CHECK(ParseClientHello(hello_with(head + U8(0) + suites + comp)).state == HelloState::kDone);
  CheckNotTls(hello_with(head.substr(0, 20)));                                        // random cut short
  CheckNotTls(hello_with(head + U8(33) + std::string(33, 'S') + suites + comp));      // session_id > 32
  CheckNotTls(hello_with(head + U8(10) + std::string(5, 'S')));                       // session_id past the end
  CheckNotTls(hello_with(head + U8(0) + U16(0) + comp));                              // no cipher suites
  CheckNotTls(hello_with(head + U8(0) + U16(3) + "\x13\x01\x13" + comp));             // odd cipher suites
  CheckNotTls(hello_with(head + U8(0) + U16(200) + "\x13\x01"));                      // cipher suites past the end
  CheckNotTls(hello_with(head + U8(0) + suites + U8(0)));                             // no compression methods
  CheckNotTls(hello_with(head + U8(0) + suites + U8(5) + std::string(1, '\0')));      // compression past the end
  CheckNotTls(hello_with(head + U8(0) + suites + comp + U8(0)));                      // one stray byte for extensions
  CheckNotTls(hello_with(head + U8(0) + suites + comp + U16(50) + SniExt("a.com")));  // extensions past end
  CheckNotTls(hello_with(head + U8(0) + suites + comp + U16(3) + SniExt("a.com")));   // extensions short
  std::string sni = SniExt("a.com");
  CheckNotTls(Record(Hello(sni + std::string(1, '\0'))));                  // trailing byte after the extension
  CheckNotTls(Record(Hello(U16(0) + U16(40) + sni.substr(4))));            // extension length past the end
  CheckNotTls(Record(Hello(Ext(0, U16(40) + SniEntry("a.com")))));         // list length past the extension
  CheckNotTls(Record(Hello(Ext(0, U16(2) + SniEntry("a.com")))));          // list length short of the entry
  CheckNotTls(Record(Hello(Ext(0, U16(8) + U8(0) + U16(40) + "a.com"))));  // name length past the list
  CheckNotTls(Record(Hello(Ext(0, U16(8) + U8(0) + U16(3) + "a.com"))));   // name length short of the list
  CheckNotTls(Record(Hello(Ext(0, U16(2) + U8(0) + U8(0)))));              // entry header cut short
  // Handshake length past the record that ends the input is just incomplete; past the records' data, malformed.
  std::string msg = Hello(sni);
  CHECK(ParseClientHello(Record(msg.substr(0, msg.size() - 1))).state == HelloState::kNeedMore);
  std::string longer = U8(1) + U24(msg.size() - 4 + 1) + msg.substr(4);
  CHECK(ParseClientHello(Record(longer)).state == HelloState::kNeedMore);
  CheckNotTls(Record(longer) + Record("x", 23));
  std::string shorter = U8(1) + U24(msg.size() - 4 - 1) + msg.substr(4);
  CheckNotTls(Record(shorter));
}

TEST_CASE("client hello: random mutations never crash or invent names", "[proxy]") {
  const std::vector<std::string> seeds = {Captured(), Records(Captured().substr(5), 100), WithSni("a-b.example.net")};
  std::mt19937 rng(20240611);
  int done = 0, not_tls = 0, need_more = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = seeds[i % seeds.size()];
    int edits = 1 + rng() % 4;
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      size_t at = rng() % bytes.size();
      switch (rng() % 6) {
        case 0:
          bytes[at] = static_cast<char>(rng());
          break;
        case 1:
          bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
          break;
        case 2:
          bytes.erase(at, 1 + rng() % 8);
          break;
        case 3:
          bytes.insert(at, std::string(1 + rng() % 8, static_cast<char>(rng())));
          break;
        case 4:
          bytes.resize(at);
          break;
        case 5:
          bytes[at] = static_cast<char>(std::vector<int>{0, 1, 0x7f, 0x80, 0xff}[rng() % 5]);
          break;
      }
    }
    auto hello = ParseClientHello(bytes);
    switch (hello.state) {
      case HelloState::kDone:
        ++done;
        CHECK(hello.error.empty());
        if (hello.server_name) CHECK(ValidLowerName(*hello.server_name));
        break;
      case HelloState::kNotTls:
        ++not_tls;
        CHECK(!hello.server_name);
        CHECK(PrintableShort(hello.error));
        break;
      case HelloState::kNeedMore:
        ++need_more;
        CHECK(!hello.server_name);
        break;
    }
  }
  // The mutations reach every outcome, so the checks above are not vacuous.
  CHECK(done > 100);
  CHECK(not_tls > 100);
  CHECK(need_more > 100);
}
