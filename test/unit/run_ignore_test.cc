// airlock run's .gitignore semantics: WildMatch on git's own wildmatch cases (t/t3070), IgnoreRules
// on parsing details, and both against `git check-ignore` on real trees with several .gitignore
// files, walked the way change_walk does (Push on the way down, never into an ignored directory).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cmd/airlock/run/ignore_rules.h"
#include "cmd/airlock/run/wildmatch.h"

using namespace airlock;
using namespace airlock::run;
namespace fs = std::filesystem;

namespace {

struct WildCase {
  bool match;
  std::string text;
  std::string pattern;
};

// git's t/t3070-wildmatch.sh (the "wildmatch" column: WM_PATHNAME, case-sensitive), plus bytes.
const std::vector<WildCase>& WildCases() {
  static const std::vector<WildCase> cases = {
      {true, "foo", "foo"},
      {false, "foo", "bar"},
      {true, "", ""},
      {true, "foo", "???"},
      {false, "foo", "??"},
      {true, "foo", "*"},
      {true, "foo", "f*"},
      {false, "foo", "*f"},
      {true, "foo", "*foo*"},
      {true, "foobar", "*ob*a*r*"},
      {true, "aaaaaaabababab", "*ab"},
      {true, "foo*", "foo\\*"},
      {false, "foobar", "foo\\*bar"},
      {true, "f\\oo", "f\\\\oo"},
      {true, "ball", "*[al]?"},
      {false, "ten", "[ten]"},
      {true, "ten", "**[!te]"},
      {false, "ten", "**[!ten]"},
      {true, "ten", "t[a-g]n"},
      {false, "ten", "t[!a-g]n"},
      {true, "ton", "t[!a-g]n"},
      {true, "ton", "t[^a-g]n"},
      {true, "a]b", "a[]]b"},
      {true, "a-b", "a[]-]b"},
      {true, "a]b", "a[]-]b"},
      {false, "aab", "a[]-]b"},
      {true, "aab", "a[]a-]b"},
      {true, "]", "]"},
      // '/' and the stars.
      {false, "foo/baz/bar", "foo*bar"},
      {false, "foo/baz/bar", "foo**bar"},
      {true, "foobazbar", "foo**bar"},
      {true, "foo/baz/bar", "foo/**/bar"},
      {true, "foo/baz/bar", "foo/**/**/bar"},
      {true, "foo/b/a/z/bar", "foo/**/bar"},
      {true, "foo/b/a/z/bar", "foo/**/**/bar"},
      {true, "foo/bar", "foo/**/bar"},
      {true, "foo/bar", "foo/**/**/bar"},
      {false, "foo/bar", "foo?bar"},
      {false, "foo/bar", "foo[/]bar"},
      {false, "foo/bar", "foo[^a-z]bar"},
      {false, "foo/bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r"},
      {true, "foo-bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r"},
      {true, "foo", "**/foo"},
      {true, "XXX/foo", "**/foo"},
      {true, "bar/baz/foo", "**/foo"},
      {false, "bar/baz/foo", "*/foo"},
      {false, "foo/bar/baz", "**/bar*"},
      {true, "deep/foo/bar/baz", "**/bar/*"},
      {false, "deep/foo/bar/baz/", "**/bar/*"},
      {true, "deep/foo/bar/baz/", "**/bar/**"},
      {false, "deep/foo/bar", "**/bar/*"},
      {true, "deep/foo/bar/", "**/bar/**"},
      {false, "foo/bar/baz", "**/bar**"},
      {true, "foo/bar/baz/x", "*/bar/**"},
      {false, "deep/foo/bar/baz/x", "*/bar/**"},
      {true, "deep/foo/bar/baz/x", "**/bar/*/*"},
      // Classes.
      {false, "acrt", "a[c-c]st"},
      {true, "acrt", "a[c-c]rt"},
      {false, "]", "[!]-]"},
      {true, "a", "[!]-]"},
      {false, "", "\\"},
      {false, "\\", "\\"},
      {false, "XXX/\\", "*/\\"},
      {true, "XXX/\\", "*/\\\\"},
      {true, "@foo", "@foo"},
      {false, "foo", "@foo"},
      {true, "[ab]", "\\[ab]"},
      {true, "[ab]", "[[]ab]"},
      {true, "[ab]", "[[:]ab]"},
      {false, "[ab]", "[[::]ab]"},
      {true, "[ab]", "[[:digit]ab]"},
      {true, "[ab]", "[\\[:]ab]"},
      {true, "?a?b", "\\??\\?b"},
      {true, "abc", "\\a\\b\\c"},
      {false, "foo", ""},
      {true, "foo/bar/baz/to", "**/t[o]"},
      {true, "a1B", "[[:alpha:]][[:digit:]][[:upper:]]"},
      {false, "a", "[[:digit:][:upper:][:space:]]"},
      {true, "A", "[[:digit:][:upper:][:space:]]"},
      {true, "1", "[[:digit:][:upper:][:space:]]"},
      {false, "1", "[[:digit:][:upper:][:spaci:]]"},
      {true, " ", "[[:digit:][:upper:][:space:]]"},
      {false, ".", "[[:digit:][:upper:][:space:]]"},
      {true, ".", "[[:digit:][:punct:][:space:]]"},
      {true, "5", "[[:xdigit:]]"},
      {true, "f", "[[:xdigit:]]"},
      {true, "D", "[[:xdigit:]]"},
      {true, "_",
       "[[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:graph:][:lower:][:print:][:punct:][:space:]"
       "[:upper:][:xdigit:]]"},
      {true, ".",
       "[^[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:lower:][:space:][:upper:][:xdigit:]]"},
      {true, "5", "[a-c[:digit:]x-z]"},
      {true, "b", "[a-c[:digit:]x-z]"},
      {true, "y", "[a-c[:digit:]x-z]"},
      {false, "q", "[a-c[:digit:]x-z]"},
      {true, "]", "[\\\\-^]"},
      {false, "[", "[\\\\-^]"},
      {true, "-", "[\\-_]"},
      {true, "]", "[\\]]"},
      {false, "\\]", "[\\]]"},
      {false, "\\", "[\\]]"},
      {false, "ab", "a[]b"},
      {false, "a[]b", "a[]b"},
      {false, "ab[", "ab["},
      {false, "ab", "[!"},
      {false, "ab", "[-"},
      {true, "-", "[-]"},
      {false, "-", "[a-"},
      {false, "-", "[!a-"},
      {true, "-", "[--A]"},
      {true, "5", "[--A]"},
      {true, " ", "[ --]"},
      {true, "$", "[ --]"},
      {true, "-", "[ --]"},
      {false, "0", "[ --]"},
      {true, "-", "[---]"},
      {true, "-", "[------]"},
      {false, "j", "[a-e-n]"},
      {true, "-", "[a-e-n]"},
      {true, "a", "[!------]"},
      {false, "[", "[]-a]"},
      {true, "^", "[]-a]"},
      {false, "^", "[!]-a]"},
      {true, "[", "[!]-a]"},
      {true, "^", "[a^bc]"},
      {true, "-b]", "[a-]b]"},
      {false, "\\", "[\\]"},
      {true, "\\", "[\\\\]"},
      {false, "\\", "[!\\\\]"},
      {true, "G", "[A-\\\\]"},
      {false, "aaabbb", "b*a"},
      {false, "aabcaa", "*ba*"},
      {true, ",", "[,]"},
      {true, ",", "[\\\\,]"},
      {true, "\\", "[\\\\,]"},
      {true, "-", "[,-.]"},
      {false, "+", "[,-.]"},
      {false, "-.]", "[,-.]"},
      {true, "2", "[\\1-\\3]"},
      {true, "3", "[\\1-\\3]"},
      {false, "4", "[\\1-\\3]"},
      {true, "\\", "[[-\\]]"},
      {true, "[", "[[-\\]]"},
      {true, "]", "[[-\\]]"},
      {false, "-", "[[-\\]]"},
      // Backtracking.
      {true, "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*"},
      {false, "-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*"},
      {false, "-adobe-courier-bold-o-normal--12-120-75-75-/-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*"},
      {true, "XXX/adobe/courier/bold/o/normal//12/120/75/75/m/70/iso8859/1",
       "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*"},
      {false, "XXX/adobe/courier/bold/o/normal//12/120/75/75/X/70/iso8859/1",
       "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*"},
      {true, "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt", "**/*a*b*g*n*t"},
      {false, "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz", "**/*a*b*g*n*t"},
      {false, "foo", "*/*/*"},
      {false, "foo/bar", "*/*/*"},
      {true, "foo/bba/arr", "*/*/*"},
      {false, "foo/bb/aa/rr", "*/*/*"},
      {true, "foo/bb/aa/rr", "**/**/**"},
      {true, "abcXdefXghi", "*X*i"},
      {false, "ab/cXd/efXg/hi", "*X*i"},
      {true, "ab/cXd/efXg/hi", "*/*X*/*/*i"},
      {true, "ab/cXd/efXg/hi", "**/*X*/**/*i"},
      {false, "foo", "fo"},
      {true, "foo/bar", "foo/bar"},
      {true, "foo/bar", "foo/*"},
      {false, "foo/bba/arr", "foo/*"},
      {true, "foo/bba/arr", "foo/**"},
      {false, "foo/bba/arr", "foo*"},
      {false, "foo/bba/arr", "foo**"},
      {false, "foo/bba/arr", "foo/*arr"},
      {false, "foo/bba/arr", "foo/**arr"},
      {false, "foo/bba/arr", "foo/*z"},
      {false, "foo/bba/arr", "foo/**z"},
      {false, "ab/cXd/efXg/hi", "*Xg*i"},
      // Case-sensitive.
      {false, "a", "[A-Z]"},
      {true, "A", "[A-Z]"},
      {false, "A", "[a-z]"},
      {false, "a", "[[:upper:]]"},
      {false, "A", "[[:lower:]]"},
      {false, "A", "[B-Za]"},
      {true, "a", "[B-a]"},
      {false, "z", "[Z-y]"},
      {true, "Z", "[Z-y]"},
      {false, "Foo", "foo"},
      // Bytes, not UTF-8: '?' is one byte, classes are ASCII only, ranges compare unsigned bytes.
      {true, "caf\xc3\xa9", "caf??"},
      {false, "caf\xc3\xa9", "caf?"},
      {true, "\xff\xfe", "[\x80-\xff][\x80-\xff]"},
      {false, "\xc3\xa9", "[[:alpha:]]*"},
      {false, "\xc3\xa9", "[[:print:]]*"},
      {true, "\xc3\xa9", "[![:graph:]]*"},
      // git's own [:space:] is \t \n \r and ' ' only.
      {true, "\r", "[[:space:]]"},
      {false, "\v", "[[:space:]]"},
      {false, "\f", "[[:space:]]"},
      {true, "\v", "[[:cntrl:]]"},
      {true, "\x7f", "[[:cntrl:]]"},
      {true, "a\nb", "a?b"},
      // '**' only as a whole component; '**\/' has no "zero directories" form.
      {true, "a/b", "**\\/b"},
      {false, "b", "**\\/b"},
      {true, "x/y/z", "**"},
      {true, "x/y/z", "x/**"},
      {false, "x", "x/**"},
      {true, "x/", "x/**"},
      {true, "xy/z", "x**/z"},
      {false, "xy/w/z", "x**/z"},
      {true, "xy/z", "x*/z"},
      {true, "x/y/z/", "**/"},
      {false, "x/y/z", "**/"},
      // Escapes: any byte, and a trailing '\' never matches.
      {true, "a b", "a\\ b"},
      {true, "#x", "\\#x"},
      {true, "!x", "\\!x"},
      {false, "a\\", "a\\"},
  };
  return cases;
}

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// A fresh directory under the temp dir, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "airlock-ignore-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

struct GitRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// Runs `git -C repo ARGS` with a fixed environment (no system or global config, HOME in the temp
// dir), stdin from `input`; stdout and stderr go to files in `scratch` (no pipe to deadlock on).
GitRun RunGit(const fs::path& scratch, const fs::path& repo, std::vector<std::string> args,
              const std::string& input = "") {
  GitRun result;
  fs::path in_file = scratch / "git.in", out_file = scratch / "git.out", err_file = scratch / "git.err";
  WriteFile(in_file, input);
  args.insert(args.begin(), {"git", "-C", repo.string()});
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = {"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
                                  "HOME=" + scratch.string(), "XDG_CONFIG_HOME=" + scratch.string(),
                                  "LC_ALL=C", "PATH=/usr/local/bin:/usr/bin:/bin"};
  std::vector<char*> envp;
  for (std::string& var : env) envp.push_back(var.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in_file.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  // posix_spawnp looks "git" up in this process's PATH; the child gets `env` only.
  int rc = posix_spawnp(&pid, "git", &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    result.err = "posix_spawnp git failed: " + std::to_string(rc);
    return result;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      result.err = "waitpid failed";
      return result;
    }
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadFile(out_file);
  result.err = ReadFile(err_file);
  return result;
}

// A path as a printable INFO line: bytes outside printable ASCII as \xNN.
std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

struct WalkEntry {
  std::string path;
  bool is_dir = false;
  bool ignored = false;
};

// What change_walk does: each directory's .gitignore (a regular file only) pushed on the way down,
// every entry asked about, no descent into an ignored directory.
void Walk(const fs::path& root, const std::string& dir, IgnoreRules& rules, std::vector<WalkEntry>& out) {
  fs::path abs = dir.empty() ? root : root / dir;
  std::string gitignore;
  if (fs::is_regular_file(fs::symlink_status(abs / ".gitignore"))) gitignore = ReadFile(abs / ".gitignore");
  rules.Push(dir, gitignore);
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(abs)) {
    std::string name = entry.path().filename().string();
    if (dir.empty() && name == ".git") continue;
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    WalkEntry entry;
    entry.path = dir.empty() ? name : dir + "/" + name;
    entry.is_dir = fs::is_directory(fs::symlink_status(abs / name));
    entry.ignored = rules.IsIgnored(entry.path, entry.is_dir);
    out.push_back(entry);
    if (entry.is_dir && !entry.ignored) Walk(root, entry.path, rules, out);
  }
  rules.Pop();
}

// The files every differential scenario starts from (directories come with their files).
std::vector<std::string> CommonFiles() {
  return {"a.txt", "b.log", "c.o", "keep.o", ".hidden", "sp ace", "trail ", "trail", "#hash", "!bang",
          "star*", "starx", "q?", "qx", "br[ack]et", "brket", "back\\slash", "caf\xc3\xa9", "\xff\xfe.bin",
          "x.TXT", "new\nline", "cr\r", "tab\t", " lead", "42.txt", "7up", "fooy",
          "build/out.o", "build/keep.txt", "build/sub/deep.o",
          "src/main.c", "src/main.o", "src/a.txt", "src/gen/x.c", "src/gen/y.o", "src/build/z.txt",
          "src/lib/a.log", "src/lib/sub/b.log", "src/x/gen/w.c",
          "doc/a/b/c/d.md", "doc/a/x/c/d.md", "doc/a/d.md", "doc/b.md", "doc/a.md", "doc/d.md",
          "foo/bar", "foo/baz/bar", "foo/x/y/bar", "foox/y/bar", "foox/bar", "abc/def/ghi.txt", "abc/bar",
          "logs/today/1.log", "logs/old/2.log", "logs/x.log",
          "node_modules/pkg/index.js", "deep/node_modules/m.js", "deep/er/est/file",
          "vendor/lib.go", "1/2/3.txt", "UPPER/file", "lower/FILE"};
}

struct Scenario {
  std::string name;
  std::map<std::string, std::string> gitignores;  // directory ("" for the root) -> file bytes
};

std::vector<Scenario> Scenarios() {
  return {
      {"basics: comments, blanks, escapes, trailing spaces, negation, dir-only",
       {{"",
         "# a comment\n"
         "*.o\n"
         "\n"
         "   \n"
         "!keep.o\n"
         "\\#hash\n"
         "\\!bang\n"
         "/a.txt\n"
         "build/\n"
         "trail\\ \n"
         "sp ace   \n"
         " lead\n"
         "x.TXT\n"
         "logs/**\n"
         "!logs/today/\n"
         "!\n"
         "/\n"
         "#notapattern.md\n"}}},
      {"nested: the deepest .gitignore with a matching pattern decides",
       {{"", "*.log\n/src/gen/\ndoc/*.md\nfoo/\n"},
        {"src", "!*.log\n/main.*\n!main.c\nx/gen\n!gen/\n"},
        {"src/lib", "sub/\n*.log\n!a.log\n"},
        {"doc", "!b.md\n/a/**/d.md\n!a/d.md\n"},
        {"foo", "!bar\n"}}},
      {"stars: **/, /**, /**/, and ** that is not a whole component",
       {{"",
         "**/gen\n"
         "src/**/z.txt\n"
         "doc/**/c\n"
         "foo/**/bar\n"
         "a**/ghi.txt\n"
         "foo**/bar\n"
         "**/node_modules/\n"
         "/1/**\n"
         "*/bar\n"
         "deep/**/\n"
         "vendor/**\n"
         "lo**er/*\n"}}},
      {"classes and escapes",
       {{"",
         "[abc].txt\n"
         "*.[!o]\n"
         "[[:digit:]]*\n"
         "[[:upper:]]*\n"
         "!UPPER\n"
         "q\\?\n"
         "star\\*\n"
         "br\\[ack]et\n"
         "back\\\\slash\n"
         "caf\xc3\xa9\n"
         "\xff*\n"
         "*[[:cntrl:]]\n"
         "new?line\n"
         "[]]*\n"
         "*[\n"
         "[[:nope:]]*\n"
         "k*\\\n"
         "[!a-z0-9]*.md\n"
         "[^b]uild\n"},
        {"lower", "\xEF\xBB\xBF" "FILE\r\n#c\r\n\r\n"},
        {"src", "*.[ch]\n!main.?\n*.\\o\n[[:alpha:]]ib/\n"},
        {"doc", "[a-c].md  \n!a.md\\ \n[[:lower:]]/"}}},
      {"anchoring and directories only",
       {{"",
         "/empty/\n"
         "link/\n"
         "fooy/\n"
         "foo/x/\n"
         "/foo/baz\n"
         "abc/*\n"
         "!abc/def\n"
         "src/*/\n"
         "!src/lib\n"
         "doc/a/*/c/\n"
         "/deep/er\n"
         "node_modules\n"},
        {"abc", "!bar\n"},
        {"src/lib", "/sub\n"}}},
      {"everything but directories and .c files",
       {{"", "*\n!*/\n!*.c\n"}, {"src", "x/\n"}, {"src/gen", "*.c\n!x.*\n"}}},
  };
}

}  // namespace

TEST_CASE("wildmatch: git's t3070 cases and byte cases", "[run][ignore]") {
  for (const WildCase& c : WildCases()) {
    INFO("pattern [" << Printable(c.pattern) << "] text [" << Printable(c.text) << "]");
    CHECK(WildMatch(c.pattern, c.text) == c.match);
  }
}

TEST_CASE("wildmatch: hostile patterns finish with the right answer", "[run][ignore]") {
  std::string as(100000, 'a');
  CHECK_FALSE(WildMatch("*a*a*a*a*a*a*a*a*a*a*b", as));
  CHECK(WildMatch("*a*a*a*a*a*a*a*a*a*a*a", as));
  CHECK_FALSE(WildMatch(Repeat("*a", 1000) + "b", std::string(4000, 'a')));
  CHECK(WildMatch(Repeat("*a", 1000), std::string(4000, 'a')));
  // Chains of '**/' are exponential in git itself; here the probe's abort ends them.
  CHECK_FALSE(WildMatch(Repeat("**/", 1000) + "x", Repeat("a/", 2000) + "y"));
  CHECK(WildMatch(Repeat("**/", 1000) + "y", Repeat("a/", 2000) + "y"));
  CHECK_FALSE(WildMatch(Repeat("**/*a", 500) + "x", Repeat("aa/", 1500)));
  CHECK_FALSE(WildMatch(Repeat("*?", 2000) + "b", std::string(4000, 'a')));
  // Through IgnoreRules too, with a name as long as a file system allows.
  IgnoreRules rules;
  rules.Push("", "*a*a*a*a*a*a*a*a*a*a*b\n" + Repeat("**/", 1000) + "x\n");
  CHECK_FALSE(rules.IsIgnored(std::string(255, 'a'), false));
  CHECK_FALSE(rules.IsIgnored(Repeat("a/", 1000) + "y", false));
  CHECK(rules.IsIgnored(Repeat("a/", 1000) + "x", false));
}

TEST_CASE("ignore rules: parsing, precedence, anchoring", "[run][ignore]") {
  IgnoreRules rules;
  rules.Push("",
             "\xEF\xBB\xBF*.o\r\n"  // a BOM, CRLF
             "#comment\n"
             "\\#lit\n"
             "\\!lit\n"
             "!keep.o\n"
             "sp   \n"
             "esc\\ \n"
             "tabs\t\n"
             "tail\\\n"
             "out/\n"
             "/top\n"
             "mid/dle\n"
             "a**/b\n"
             "last");  // no final newline
  CHECK(rules.depth() == 1);
  CHECK(rules.IsIgnored("x.o", false));
  CHECK(rules.IsIgnored("d/x.o", false));
  CHECK_FALSE(rules.IsIgnored("keep.o", false));
  CHECK_FALSE(rules.IsIgnored("#comment", false));
  CHECK(rules.IsIgnored("#lit", false));
  CHECK(rules.IsIgnored("!lit", false));
  CHECK(rules.IsIgnored("sp", false));
  CHECK_FALSE(rules.IsIgnored("sp ", false));
  CHECK(rules.IsIgnored("esc ", false));
  CHECK_FALSE(rules.IsIgnored("esc", false));
  CHECK(rules.IsIgnored("tabs\t", false));  // only spaces are trimmed
  CHECK_FALSE(rules.IsIgnored("tail", false));  // a trailing '\' matches nothing
  CHECK_FALSE(rules.IsIgnored("tail\\", false));
  CHECK(rules.IsIgnored("out", true));
  CHECK(rules.IsIgnored("d/out", true));
  CHECK_FALSE(rules.IsIgnored("out", false));
  CHECK(rules.IsIgnored("top", false));
  CHECK_FALSE(rules.IsIgnored("d/top", false));
  CHECK(rules.IsIgnored("mid/dle", false));
  CHECK_FALSE(rules.IsIgnored("d/mid/dle", false));
  // git compares an anchored pattern's literal prefix ("a") apart: the "**/" left is then a
  // whole component, so "a**/b" takes "ax/y/b" (where plain wildmatch of "a**/b" would not).
  CHECK(rules.IsIgnored("ax/y/b", false));
  CHECK(rules.IsIgnored("a/b", false));
  CHECK_FALSE(WildMatch("a**/b", "ax/y/b"));
  CHECK(rules.IsIgnored("last", false));

  // A deeper file overrides for paths below it; its anchored patterns are relative to it.
  rules.Push("d", "!*.o\n/top\n");
  CHECK_FALSE(rules.IsIgnored("d/x.o", false));
  CHECK(rules.IsIgnored("d/top", false));
  rules.Push("d/e", "");
  CHECK_FALSE(rules.IsIgnored("d/e/x.o", false));
  CHECK_FALSE(rules.IsIgnored("d/e/top", false));
  CHECK(rules.depth() == 3);
  rules.Pop();
  rules.Pop();
  CHECK(rules.IsIgnored("d/x.o", false));
  rules.Pop();
  CHECK(rules.depth() == 0);
  CHECK_FALSE(rules.IsIgnored("x.o", false));
  rules.Pop();  // harmless when empty
  CHECK(rules.depth() == 0);
}

TEST_CASE("ignore rules: a pattern line over 4096 bytes is skipped", "[run][ignore]") {
  IgnoreRules rules;
  rules.Push("", "used" + std::string(4092, '*') + "\n" + "skipped" + std::string(4090, '*') + "\n");
  CHECK(rules.IsIgnored("used", false));            // 4096 bytes
  CHECK_FALSE(rules.IsIgnored("skipped", false));  // 4097 bytes
}

TEST_CASE("ignore rules: a NUL byte ends its line's pattern, as git's C strings do", "[run][ignore]") {
  IgnoreRules rules;
  rules.Push("", std::string("nul\0*\n*.x\0\n", 11));
  CHECK(rules.IsIgnored("nul", false));
  CHECK_FALSE(rules.IsIgnored("nulx", false));
  CHECK(rules.IsIgnored("a.x", false));
}

TEST_CASE("ignore rules: the same answers as git check-ignore", "[run][ignore]") {
  for (const Scenario& scenario : Scenarios()) {
    INFO("scenario: " << scenario.name);
    TempDir tmp;
    REQUIRE(!tmp.path.empty());
    fs::path repo = tmp.path / "repo";
    fs::create_directories(repo);
    GitRun init = RunGit(tmp.path, repo, {"init", "-q", "--template="});
    INFO("git init: " << init.err);
    REQUIRE(init.exit_code == 0);
    for (const std::string& file : CommonFiles()) WriteFile(repo / file, "x\n");
    fs::create_directories(repo / "empty");
    fs::create_symlink("build", repo / "link");
    for (const auto& [dir, text] : scenario.gitignores) WriteFile(repo / dir / ".gitignore", text);
    // A NUL byte in a line: git reads each line as a C string. (Not expressible in the literals.)
    std::ofstream(repo / "vendor/.gitignore", std::ios::binary | std::ios::app)
        << std::string("lib.go\0junk\n", 12);

    IgnoreRules rules;
    std::vector<WalkEntry> walked;
    Walk(repo, "", rules, walked);
    CHECK(rules.depth() == 0);
    REQUIRE(walked.size() > 50);

    std::string input;
    for (const WalkEntry& entry : walked) input += entry.path + '\0';
    GitRun check = RunGit(tmp.path, repo,
                          {"-c", "core.excludesFile=/dev/null", "check-ignore", "--no-index", "-v", "-n",
                           "-z", "--stdin"},
                          input);
    INFO("git check-ignore: exit " << check.exit_code << ": " << check.err);
    REQUIRE((check.exit_code == 0 || check.exit_code == 1));
    // Records of four NUL-terminated fields: source, line number, pattern, path.
    std::vector<std::string> fields;
    for (size_t start = 0; start < check.out.size();) {
      size_t end = check.out.find('\0', start);
      if (end == std::string::npos) end = check.out.size();
      fields.push_back(check.out.substr(start, end - start));
      start = end + 1;
    }
    REQUIRE(fields.size() == 4 * walked.size());

    std::vector<std::string> git_ignored_dirs;
    int compared = 0, ignored = 0;
    for (size_t i = 0; i < walked.size(); ++i) {
      const WalkEntry& entry = walked[i];
      const std::string& source = fields[4 * i];
      const std::string& pattern = fields[4 * i + 2];
      REQUIRE(fields[4 * i + 3] == entry.path);
      bool git_says = !source.empty() && (pattern.empty() || pattern[0] != '!');
      // git reports a path inside an ignored directory as ignored; a walker never gets there.
      bool under_ignored =
          std::any_of(git_ignored_dirs.begin(), git_ignored_dirs.end(),
                      [&](const std::string& dir) { return entry.path.rfind(dir + "/", 0) == 0; });
      if (under_ignored) continue;
      if (git_says && entry.is_dir) git_ignored_dirs.push_back(entry.path);
      std::string why;
      if (!source.empty()) why = " (" + source + ":" + fields[4 * i + 1] + ": " + Printable(pattern) + ")";
      INFO("path [" << Printable(entry.path) << "]" << (entry.is_dir ? " (dir)" : "") << ": git "
                    << (git_says ? "ignores" : "keeps") << " it" << why);
      CHECK(entry.ignored == git_says);
      ++compared;
      if (git_says) ++ignored;
    }
    // Each scenario decides something both ways.
    CHECK(compared > 40);
    CHECK(ignored > 3);
    CHECK(ignored < compared);
  }
}
