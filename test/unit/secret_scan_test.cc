#include "cmd/airlock/run/secret_scan.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"

using namespace airlock::run;

namespace {

std::vector<SecretFinding> ScanOne(const std::string& value, const std::string& content) {
  return ScanForSecrets({{"TOKEN", value}}, {{"leak.txt", content}}, "");
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
