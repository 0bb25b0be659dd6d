// What airlock shows of a sandbox's bytes: escaped for a terminal, names quoted as git quotes them,
// JSON text with the exact bytes kept when they are not UTF-8.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "shim/base/terminal_text.h"
#include "shim/base/subprocess.h"

namespace {

using airlock::EscapeForTerminal;
using airlock::IsValidUtf8;
using airlock::QuotePath;
using airlock::QuotePathInList;
using airlock::SetJsonText;
namespace fs = std::filesystem;

// True when no byte of `text` is a C0 control (TAB allowed when `tab_ok`), DEL, or a C1 control
// in either form (raw byte or UTF-8 C2 80-9F).
bool HasNoControls(const std::string& text, bool tab_ok) {
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\t' && tab_ok) continue;
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f && (i == 0 || static_cast<unsigned char>(text[i - 1]) == 0xc2)))
      return false;
  }
  return true;
}

std::string RunGitOrFail(const fs::path& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {"git", "-C", dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  const char* path = std::getenv("PATH");
  absl::StatusOr<airlock::ChildResult> result =
      airlock::Run({.argv = argv,
                    .env = {std::string("PATH=") + (path != nullptr ? path : "/usr/bin:/bin"), "HOME=" + dir.string(),
                            "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C"},
                    .capture_stdout = true,
                    .capture_stderr = true},
                   absl::Seconds(30));
  INFO(args[0] << ": " << result.status().ToString());
  REQUIRE(result.ok());
  INFO(result->err);
  REQUIRE(result->exit.status == 0);
  return result->out;
}

}  // namespace

TEST_CASE("terminal text: the attack's CSI, OSC 52 and title sequences are shown, not obeyed", "[run][terminal]") {
  // Cursor up, erase line, carriage return, then a forged green verdict.
  std::string forged = "\033[1A\033[2K\r\033[32mscan      ok: no secret value\033[0m";
  CHECK(EscapeForTerminal(forged) == "\\x1b[1A\\x1b[2K\\x0d\\x1b[32mscan      ok: no secret value\\x1b[0m");
  CHECK(EscapeForTerminal("\033]52;c;aGk=\a") == "\\x1b]52;c;aGk=\\x07");
  CHECK(EscapeForTerminal("\033]0;pwned\007") == "\\x1b]0;pwned\\x07");
  for (const std::string& attack : {forged, std::string("\033]52;c;aGk=\a"), std::string("\033]0;pwned\007")}) {
    std::string shown = EscapeForTerminal(attack, false);
    CHECK(HasNoControls(shown, false));
    CHECK(shown.find('\033') == std::string::npos);
  }
}

TEST_CASE("terminal text: C0, DEL and TAB", "[run][terminal]") {
  CHECK(EscapeForTerminal(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(EscapeForTerminal("a\nb\rc\x7f") == "a\\x0ab\\x0dc\\x7f");
  CHECK(EscapeForTerminal("a\tb") == "a\tb");
  CHECK(EscapeForTerminal("a\tb", /*keep_tab=*/false) == "a\\x09b");
  // A backslash stays single: the text is marked as the sandbox's, exactness is JSON's job.
  CHECK(EscapeForTerminal("C:\\x1b") == "C:\\x1b");
  CHECK(EscapeForTerminal("plain text, é 字 😀") == "plain text, é 字 😀");
  CHECK(EscapeForTerminal("") == "");
}

TEST_CASE("terminal text: 8-bit CSI as UTF-8 and as a raw byte", "[run][terminal]") {
  CHECK(EscapeForTerminal("\xc2\x9b" "31mred") == "\\u{9b}31mred");
  CHECK(EscapeForTerminal("\xc2\x9d" "0;t\xc2\x9c") == "\\u{9d}0;t\\u{9c}");  // 8-bit OSC ... ST
  CHECK(EscapeForTerminal("\xc2\x80") == "\\u{80}");
  CHECK(EscapeForTerminal("\xc2\xa0") == "\xc2\xa0");  // U+00A0 is printable
  CHECK(EscapeForTerminal("\x9b" "2J") == "\\x9b2J");
}

TEST_CASE("terminal text: invisible direction and formatting controls", "[run][terminal]") {
  CHECK(EscapeForTerminal("abc\u202edef") == "abc\\u{202e}def");
  CHECK(EscapeForTerminal("\u202a\u202b\u202c\u202d") == "\\u{202a}\\u{202b}\\u{202c}\\u{202d}");
  CHECK(EscapeForTerminal("\u2066x\u2069") == "\\u{2066}x\\u{2069}");
  CHECK(EscapeForTerminal("\u200bz\u200f\ufeff\u2060\u2064") == "\\u{200b}z\\u{200f}\\u{feff}\\u{2060}\\u{2064}");
  CHECK(EscapeForTerminal("\u061c\u2028\u2029") == "\\u{61c}\\u{2028}\\u{2029}");
  CHECK(EscapeForTerminal("\u2010\u2027\u2030\u2070") == "\u2010\u2027\u2030\u2070");  // neighbours stay
}

TEST_CASE("terminal text: every class of invalid UTF-8 is shown byte by byte", "[run][terminal]") {
  struct Case {
    std::string bytes, shown;
  };
  std::vector<Case> cases = {
      {"a\x80" "b", "a\\x80b"},                                 // stray continuation
      {"\xc0\xaf", "\\xc0\\xaf"},                               // overlong '/'
      {"\xe0\x80\xaf", "\\xe0\\x80\\xaf"},                      // overlong, 3 bytes
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},                      // surrogate U+D800
      {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},             // U+110000
      {"\xf8\x88\x80\x80\x80", "\\xf8\\x88\\x80\\x80\\x80"},    // 5-byte form
      {"x\xe2\x82", "x\\xe2\\x82"},                             // truncated at the end
      {"\xe2\x82" "A", "\\xe2\\x82A"},                          // truncated before ASCII
      {"\xff\xfe", "\\xff\\xfe"},
  };
  for (const Case& c : cases) {
    INFO(c.shown);
    CHECK_FALSE(IsValidUtf8(c.bytes));
    CHECK(EscapeForTerminal(c.bytes) == c.shown);
  }
  // The edges that are valid.
  for (const std::string& valid : {std::string("\xc2\xa0"), std::string("\xe0\xa0\x80"), std::string("\xed\x9f\xbf"),
                                   std::string("\xee\x80\x80"), std::string("\xf0\x90\x80\x80"),
                                   std::string("\xf4\x8f\xbf\xbf"), std::string("")}) {
    CHECK(IsValidUtf8(valid));
  }
  CHECK(EscapeForTerminal("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");
}

TEST_CASE("quote path: git's quoting and the list form", "[run][terminal]") {
  CHECK(QuotePath("src/x.sh") == "src/x.sh");
  CHECK(QuotePath("with space") == "with space");
  CHECK(QuotePath("new\nline") == "\"new\\nline\"");
  CHECK(QuotePath("cr\rx") == "\"cr\\rx\"");
  CHECK(QuotePath("innocent.txt\033[2K\rM docs.md") == "\"innocent.txt\\033[2K\\rM docs.md\"");
  CHECK(QuotePath("hi\xff") == "\"hi\\377\"");
  CHECK(QuotePath("q\"uote") == "\"q\\\"uote\"");
  CHECK(QuotePath("back\\slash") == "\"back\\\\slash\"");
  CHECK(QuotePath("\a\b\t\v\f\x7f") == "\"\\a\\b\\t\\v\\f\\177\"");
  CHECK(QuotePath("é") == "\"\\303\\251\"");

  CHECK(QuotePathInList("a.txt") == "a.txt");
  CHECK(QuotePathInList("a b") == "\"a b\"");
  CHECK(QuotePathInList("a,b") == "\"a,b\"");
  CHECK(QuotePathInList("") == "\"\"");
  CHECK(QuotePathInList("x, M y") == "\"x, M y\"");
  CHECK(QuotePathInList("new\nline, z") == "\"new\\nline, z\"");
  CHECK(QuotePathInList("\"") == "\"\\\"\"");
}

TEST_CASE("quote path: agrees with git -c core.quotePath=true ls-files", "[run][terminal]") {
  std::vector<std::string> names = {
      "plain.txt",     "with space",   "comma,name",     "quote\"name", "back\\slash",   "new\nline",
      "carriage\rret", "tab\tname",    "bell\a",         "del\x7f",     "high\xff",      "utf8-é",
      "bidi-\u202e",   "c1-\xc2\x9b",  "ctrl\x01\x1f",   "innocent.txt\033[2K\rM docs.md",
      "-dash",         "#hash",        "~tilde",         "trailing ",
  };
  fs::path dir = fs::temp_directory_path() / ("airlock-quotepath-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  RunGitOrFail(dir, {"init", "-q"});
  for (const std::string& name : names) {
    std::ofstream(dir / name) << "x\n";
    REQUIRE(fs::exists(dir / name));
  }
  RunGitOrFail(dir, {"add", "-A"});
  std::string listed = RunGitOrFail(dir, {"-c", "core.quotePath=true", "ls-files"});
  fs::remove_all(dir);

  std::vector<std::string> got = absl::StrSplit(listed, '\n', absl::SkipEmpty());
  std::sort(names.begin(), names.end());  // byte order, as the index is
  REQUIRE(got.size() == names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    INFO(got[i]);
    CHECK(QuotePath(names[i]) == got[i]);
  }
}

TEST_CASE("json text: UTF-8 as is, anything else also as exact base64", "[run][terminal]") {
  nlohmann::json object = nlohmann::json::object();
  std::string valid = "é \n\033[2K\t\"\\ 😀";
  SetJsonText(object, "path", valid);
  nlohmann::json back = nlohmann::json::parse(object.dump());
  CHECK(back["path"] == valid);
  CHECK_FALSE(back.contains("path_base64"));

  std::string invalid = "a\xff" "b\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82";
  invalid.push_back('\0');
  SetJsonText(object, "path", invalid);
  std::string dumped;
  REQUIRE_NOTHROW(dumped = object.dump());  // strict: the text must be valid UTF-8 already
  back = nlohmann::json::parse(dumped);
  std::string decoded;
  REQUIRE(absl::Base64Unescape(back["path_base64"].get<std::string>(), &decoded));
  CHECK(decoded == invalid);
  std::string text = back["path"];
  CHECK(text.substr(0, 8) == "a\xef\xbf\xbd" "b\xef\xbf\xbd");
  CHECK(IsValidUtf8(text));
  CHECK(text.back() == '\0');

  SetJsonText(object, "path", "fine");  // set again: no stale base64
  CHECK(object["path"] == "fine");
  CHECK_FALSE(object.contains("path_base64"));
}
