#include "policy/sandbox/secret_scan.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"

using namespace airlock;

namespace {

std::vector<SecretFinding> ScanOne(const std::string& value, const std::string& content) {
  return ScanForSecrets({{"TOKEN", value}}, {{"leak.txt", content}}, "");
}

// `text` as one file "f", fed in the pieces that `cuts` (ascending offsets) make.
std::vector<SecretFinding> StreamCut(const std::vector<Secret>& secrets, absl::string_view text,
                                     const std::vector<size_t>& cuts) {
  SecretScanner scanner(secrets);
  scanner.BeginFile("f");
  size_t from = 0;
  for (size_t cut : cuts) {
    scanner.Feed(text.substr(from, cut - from));
    from = cut;
  }
  scanner.Feed(text.substr(from));
  scanner.EndFile();
  return scanner.findings();
}

// `text` as one file "f", fed in chunks of `size` bytes.
std::vector<SecretFinding> StreamChunks(const std::vector<Secret>& secrets, absl::string_view text, size_t size) {
  std::vector<size_t> cuts;
  for (size_t at = size; at < text.size(); at += size) cuts.push_back(at);
  return StreamCut(secrets, text, cuts);
}

std::vector<std::string> Wheres(const std::vector<SecretFinding>& findings) {
  std::vector<std::string> out;
  for (const SecretFinding& f : findings) out.push_back(f.where);
  return out;
}

bool Found(const std::vector<SecretFinding>& findings, const std::string& where) {
  std::vector<std::string> wheres = Wheres(findings);
  return std::find(wheres.begin(), wheres.end(), where) != wheres.end();
}

std::string Where(const std::string& place, const std::string& encoding) {
  return encoding.empty() ? place : place + " (" + encoding + ")";
}

}  // namespace

TEST_CASE("secret scan: base64 of a text holding the value, at every alignment", "[run][scan]") {
  const std::string value = "npm_s3cr3t-Value/42";
  for (std::string before : {"", "a", "ab", "abc", "user:", "{\"auth\":\""}) {
    for (std::string after : {"", "x", "xy", "\n"}) {
      std::string text = before + value + after;
      INFO("around: [" << before << "] [" << after << "]");
      std::vector<SecretFinding> std_found = ScanOne(value, "_auth=" + absl::Base64Escape(text) + "\n");
      REQUIRE(std_found.size() == 1);
      CHECK(std_found[0].where == "leak.txt (base64)");
      std::vector<SecretFinding> url_found = ScanOne(value, absl::WebSafeBase64Escape(text));
      REQUIRE(url_found.size() == 1);
      // Where the two alphabets agree (no '+' or '/' in the value's characters) base64 is named.
      CHECK((url_found[0].where == "leak.txt (base64url)" || url_found[0].where == "leak.txt (base64)"));
    }
  }
}

TEST_CASE("secret scan: hex, percent-encoding, and the raw value first", "[run][scan]") {
  const std::string value = "ghp_abc/def+ghi=jkl";
  CHECK(ScanOne(value, "x = " + absl::BytesToHexString(value))[0].where == "leak.txt (hex)");
  CHECK(ScanOne(value, absl::AsciiStrToUpper(absl::BytesToHexString(value)))[0].where == "leak.txt (hex)");
  CHECK(ScanOne(value, "https://x/?t=ghp_abc%2Fdef%2Bghi%3Djkl")[0].where == "leak.txt (percent-encoded)");
  CHECK(ScanOne(value, "https://x/?t=ghp_abc%2fdef%2bghi%3djkl")[0].where == "leak.txt (percent-encoded)");
  // The raw value is found as such, once per place.
  std::vector<SecretFinding> raw = ScanOne(value, value + " " + absl::BytesToHexString(value));
  REQUIRE(raw.size() == 2);
  CHECK(raw[0].where == "leak.txt");
  CHECK(raw[1].where == "leak.txt (hex)");
  // Encoded in a file name, and only in the patch (the commit message).
  std::vector<SecretFinding> named =
      ScanForSecrets({{"TOKEN", value}}, {{"notes/" + absl::BytesToHexString(value), "clean"}}, "");
  REQUIRE(named.size() == 1);
  CHECK(named[0].where == "a file name: notes/" + absl::BytesToHexString(value) + " (hex)");
  std::vector<SecretFinding> in_patch =
      ScanForSecrets({{"TOKEN", value}}, {{"a", "clean"}}, "Subject: " + absl::Base64Escape(value));
  REQUIRE(in_patch.size() == 1);
  CHECK(in_patch[0].where == "the patch (base64)");
}

TEST_CASE("secret scan: short values are searched raw only; unrelated encoded data does not match",
          "[run][scan]") {
  std::vector<SecretForm> short_forms = SearchForms("abc1234");
  REQUIRE(short_forms.size() == 1);
  CHECK(short_forms[0].encoding.empty());
  CHECK(ScanOne("abc1234", absl::Base64Escape("xxabc1234xx")).empty());
  // A value of unreserved characters has one percent-encoded form: itself, already searched raw.
  for (const SecretForm& form : SearchForms("plainvalue123")) CHECK(form.encoding != "percent-encoded");
  const std::string value = "s3cr3t-value-0001";
  std::string unrelated = absl::Base64Escape("s3cr3t-value-9999 and other text") + absl::BytesToHexString("s3cr3t-x");
  CHECK(ScanOne(value, unrelated).empty());
  // Base64 keeps only the characters the value alone decides: a value that differs in its last
  // few bits only (here '1' vs '2' in the last byte's low nibble) is taken for the value.
  CHECK(ScanOne(value, absl::Base64Escape("s3cr3t-value-0002")).size() == 1);
  CHECK(ScanOne("", "anything").empty());
}

TEST_CASE("streaming scan: every form is found across every chunk boundary", "[run][scan]") {
  // Characters that base64 turns into '+' and '/', and that percent-encoding escapes: 11 forms.
  const std::string value = "npm_s3cr3t?Value/42+x y~~~>>>";
  const std::vector<Secret> secrets = {{"TOKEN", value}};
  const std::vector<SecretForm> forms = SearchForms(value);
  std::set<std::string> encodings;
  for (const SecretForm& form : forms) encodings.insert(form.encoding);
  REQUIRE(forms.size() == 11);
  REQUIRE(encodings == std::set<std::string>{"", "hex", "base64", "base64url", "percent-encoded"});
  for (const SecretForm& form : forms) {
    const std::string text = "prefix:" + form.needle + ":suffix";
    const std::string want = Where("f", form.encoding);
    INFO("form: " << want << " " << form.needle);
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      INFO("cut at " << cut);
      CHECK(Found(StreamCut(secrets, text, {cut}), want));
    }
    // Two borders inside the needle at once, at every pair of positions.
    for (size_t a = 7; a <= 7 + form.needle.size(); ++a) {
      for (size_t b = a; b <= 7 + form.needle.size(); ++b) {
        INFO("cuts at " << a << ", " << b);
        CHECK(Found(StreamCut(secrets, text, {a, b}), want));
      }
    }
    for (size_t size = 1; size <= text.size(); ++size) {
      INFO("chunks of " << size);
      std::vector<SecretFinding> found = StreamChunks(secrets, text, size);
      CHECK(Found(found, want));
      CHECK(Wheres(found) == Wheres(StreamChunks(secrets, text, text.size())));
    }
  }
}

TEST_CASE("streaming scan: a secret after 17 MiB of padding, in 64 KiB chunks", "[run][scan]") {
  const std::string value = "ghp_0123456789abcdefSECRET";
  const std::vector<Secret> secrets = {{"GH_TOKEN", value}};
  constexpr size_t kChunk = 64 * 1024;
  // Right after a chunk border, across one, and base64-encoded across one.
  for (size_t padding : {size_t{17} << 20, (size_t{17} << 20) - 5}) {
    for (bool encoded : {false, true}) {
      INFO("padding " << padding << (encoded ? " base64" : " raw"));
      std::string text(padding, 'x');
      text += encoded ? absl::Base64Escape("{\"token\":\"" + value + "\"}") : value;
      text += std::string(1000, 'y');
      std::vector<SecretFinding> found = StreamChunks(secrets, text, kChunk);
      REQUIRE(found.size() == 1);
      CHECK(found[0].secret == "GH_TOKEN");
      CHECK(found[0].where == (encoded ? "f (base64)" : "f"));
    }
  }
  // The attack that found the old scan reading only the first 16 MiB of a file.
  std::string attack(size_t{17} << 20, '\n');
  attack += value;
  std::vector<SecretFinding> whole = ScanOne(value, attack);
  REQUIRE(whole.size() == 1);
  CHECK(whole[0].where == "leak.txt");
}

TEST_CASE("streaming scan: 1-byte chunks, each place reported once", "[run][scan]") {
  const std::string value = "s3cr3t/value+0001";
  const std::vector<Secret> secrets = {{"TOKEN", value}};
  const std::string text = "a" + value + "b" + absl::BytesToHexString(value) + "c" + value + "d" +
                           absl::AsciiStrToUpper(absl::BytesToHexString(value)) + "e";
  std::vector<SecretFinding> found = StreamChunks(secrets, text, 1);
  CHECK(Wheres(found) == std::vector<std::string>{"f", "f (hex)"});
  // 1-byte chunks see what one big chunk sees.
  std::mt19937 random(42);
  std::string noise;
  for (int i = 0; i < 300; ++i) noise += static_cast<char>(random() % 256);
  const std::string mixed = noise + absl::Base64Escape("x:" + value) + noise + absl::WebSafeBase64Escape("xy" + value) +
                            noise + "%" + value;
  CHECK(Wheres(StreamChunks(secrets, mixed, 1)) == Wheres(StreamChunks(secrets, mixed, mixed.size())));
  for (int round = 0; round < 50; ++round) {
    std::vector<size_t> cuts;
    for (size_t at = random() % 40; at < mixed.size(); at += 1 + random() % 40) cuts.push_back(at);
    CHECK(Wheres(StreamCut(secrets, mixed, cuts)) == Wheres(StreamChunks(secrets, mixed, mixed.size())));
  }
}

TEST_CASE("streaming scan: report order, file names, the patch like any input", "[run][scan]") {
  const std::string a = "npm_s3cr3t-aaaa";
  const std::string b = "ghp_s3cr3t-bbbb";
  SecretScanner scanner({{"A", a}, {"EMPTY", ""}, {"B", b}});
  REQUIRE_FALSE(scanner.empty());
  // Within a file: secret by secret in the order given, the raw form before the encodings.
  scanner.BeginFile("one");
  scanner.Feed(absl::BytesToHexString(b) + " " + absl::Base64Escape(a) + " ");
  scanner.Feed(b + " " + a);
  scanner.EndFile();
  // Names: each place once, encoded or not; a name and a content are different places.
  scanner.ScanName("dir/" + a, "dir/x");
  scanner.ScanName("dir/" + a + "/" + a, "dir/x");
  scanner.ScanName("n-" + absl::BytesToHexString(b), "n");
  scanner.ScanName("clean", "clean");
  scanner.BeginFile("dir/x");
  scanner.Feed(a);
  scanner.EndFile();
  // "the patch" is one more input: found there although found elsewhere too.
  scanner.BeginFile("the patch");
  scanner.Feed("Subject: " + absl::Base64Escape(b));
  scanner.EndFile();
  // The same place again adds nothing.
  scanner.BeginFile("one");
  scanner.Feed(a);
  scanner.EndFile();
  std::vector<std::string> want = {"one",  "one (base64)", "one", "one (hex)", "a file name: dir/x",
                                   "a file name: n (hex)", "dir/x", "the patch (base64)"};
  REQUIRE(Wheres(scanner.findings()) == want);
  std::vector<std::string> secrets;
  for (const SecretFinding& f : scanner.findings()) secrets.push_back(f.secret);
  CHECK(secrets == std::vector<std::string>{"A", "A", "B", "B", "A", "B", "A", "B"});
}

TEST_CASE("streaming scan: no secrets, nothing found, nothing done", "[run][scan]") {
  const std::string big(size_t{1} << 20, 's');
  for (const std::vector<Secret>& secrets : {std::vector<Secret>{}, std::vector<Secret>{{"EMPTY", ""}}}) {
    SecretScanner scanner(secrets);
    CHECK(scanner.empty());
    scanner.ScanName(big, "name");
    scanner.BeginFile("f");
    for (int i = 0; i < 4096; ++i) scanner.Feed(big);  // 4 GiB: fast only because nothing is searched
    scanner.EndFile();
    CHECK(scanner.findings().empty());
  }
  CHECK(ScanForSecrets({{"EMPTY", ""}}, {{"f", "anything"}}, "anything").empty());
}
