// The review patch writer against real git: every patch must apply (`git apply --index`, or
// `git am`) at the parent and give the commit's tree, text cases must be byte for byte what
// `git format-patch` prints (less its diffstat, which WritePatch leaves out), big files go as
// streamed binary literals in bounded memory, and attributes never change what the patch shows.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <git2.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cmd/airlock/run/patch_writer.h"

extern char** environ;

namespace {

using airlock::run::PatchOptions;
using airlock::run::PatchStats;
using airlock::run::WritePatch;
namespace fs = std::filesystem;

struct Cmd {
  int code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(FILE* f) {
  std::string s;
  rewind(f);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) s.append(buf, n);
  return s;
}

// Runs `git ARGS` in `cwd` with the user's and the system's git configuration shut out, in the C
// locale, with fixed dates unless `env` sets them.
Cmd Git(const std::vector<std::string>& args, const std::string& cwd, const std::vector<std::string>& env = {}) {
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    if (strncmp(*e, "GIT_", 4) != 0 && strncmp(*e, "LC_", 3) != 0 && strncmp(*e, "LANG", 4) != 0) envs.push_back(*e);
  }
  envs.insert(envs.end(), env.begin(), env.end());  // first: getenv() takes the first of a name
  for (const char* fixed : {"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C",
                            "GIT_AUTHOR_DATE=@1700000000 +0130", "GIT_COMMITTER_DATE=@1700000000 +0130"}) {
    envs.push_back(fixed);
  }
  std::vector<char*> envp;
  for (std::string& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_s{"git"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  FILE* out = tmpfile();
  FILE* err = tmpfile();
  REQUIRE(out != nullptr);
  REQUIRE(err != nullptr);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the test main blocks SIGCHLD; git must not inherit that
    int in = open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(fileno(out), 1) < 0 || dup2(fileno(err), 2) < 0 || chdir(cwd.c_str()) != 0) {
      _exit(126);
    }
    execvpe("git", argv.data(), envp.data());
    _exit(127);
  }
  int status = 0;
  pid_t waited;
  while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  Cmd r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  if (waited != pid) {  // someone else reaped it (a reaper left running): its status is unknown
    r.code = -1;
    r.err += "\nwaitpid: " + std::string(strerror(errno));
  }
  fclose(out);
  fclose(err);
  return r;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// libgit2 as airlock sets it up: no system, global, XDG or ProgramData configuration.
void InitLibgit2() {
  static bool done = [] {
    git_libgit2_init();
    for (int level :
         {GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_GLOBAL, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_PROGRAMDATA}) {
      git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "");
    }
    return true;
  }();
  (void)done;
}

// Drops git's diffstat (from after the "---" line to the blank line before the first diff).
std::string WithoutStat(const std::string& patch) {
  size_t dash = patch.find("\n---\n");
  REQUIRE(dash != std::string::npos);
  size_t start = dash + 5;
  size_t end = patch.find("\n\n", start);
  REQUIRE(end != std::string::npos);
  return patch.substr(0, start) + patch.substr(end + 1);
}

struct Written {
  std::string text;
  PatchStats stats;
  std::string path;
};

// WritePatch on the repository at `dir` (opened with its work tree and index, whose .gitattributes
// must not count) into `path`.
Written WritePatchAt(const std::string& dir, const std::string& commit, const PatchOptions& options,
                     const std::string& path) {
  InitLibgit2();
  git_repository* repo = nullptr;
  REQUIRE(git_repository_open(&repo, dir.c_str()) == 0);
  git_oid id;
  REQUIRE(git_oid_fromstr(&id, commit.c_str()) == 0);
  Written w;
  w.path = path;
  int fd = open(w.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  absl::StatusOr<PatchStats> stats = WritePatch(repo, id, fd, options);
  close(fd);
  git_repository_free(repo);
  INFO(stats.status().ToString());
  REQUIRE(stats.ok());
  w.stats = *stats;
  w.text = ReadFile(w.path);
  CHECK(w.stats.bytes_written == w.text.size());
  return w;
}

// A repository made by git in a temp dir: commits with fixed dates, as user t <t@t> unless told.
class Repo {
 public:
  Repo() {
    char tmpl[] = "/tmp/airlock-patch-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    root_ = tmpl;
    dir_ = root_ + "/src";
    Ok({"init", "-q", "-b", "main", dir_}, root_);
  }
  ~Repo() { fs::remove_all(root_); }
  Repo(const Repo&) = delete;
  Repo& operator=(const Repo&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& root() const { return root_; }

  std::string Ok(const std::vector<std::string>& args, const std::string& cwd = "",
                 const std::vector<std::string>& env = {}) {
    Cmd r = Git(args, cwd.empty() ? dir_ : cwd, env);
    INFO("git " << args.front() << ": " << r.err);
    REQUIRE(r.code == 0);
    return r.out;
  }

  void Write(const std::string& rel, const std::string& bytes, bool executable = false) {
    fs::path p = fs::path(dir_) / rel;
    fs::create_directories(p.parent_path());
    if (fs::is_symlink(p)) fs::remove(p);
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
    fs::permissions(p, executable ? fs::perms(0755) : fs::perms(0644));
  }
  void Link(const std::string& rel, const std::string& target) {
    fs::path p = fs::path(dir_) / rel;
    fs::create_directories(p.parent_path());
    if (fs::exists(fs::symlink_status(p))) fs::remove_all(p);
    fs::create_symlink(target, p);
  }
  void Remove(const std::string& rel) { fs::remove_all(fs::path(dir_) / rel); }
  void Chmod(const std::string& rel, int mode) { fs::permissions(fs::path(dir_) / rel, fs::perms(mode)); }

  std::string Commit(const std::string& message, const std::string& name = "t", const std::string& email = "t@t",
                     bool add_all = true) {
    if (add_all) Ok({"add", "-A"});
    Ok({"-c", "user.name=" + name, "-c", "user.email=" + email, "commit", "-q", "--allow-empty", "-m", message});
    return Trimmed(Ok({"rev-parse", "HEAD"}));
  }

  // WritePatch as airlock calls it: HEAD on an unborn branch, libgit2 without user configuration.
  Written Patch(const std::string& commit, const PatchOptions& options = {}, const std::string& dir = "") {
    Ok({"symbolic-ref", "HEAD", "refs/heads/airlock-unborn"});
    std::string path = root_ + "/out-" + std::to_string(++patches_) + ".patch";
    Written w = WritePatchAt(dir.empty() ? dir_ : dir, commit, options, path);
    Ok({"symbolic-ref", "HEAD", "refs/heads/main"});
    return w;
  }

  // What git prints (minus the diffstat), in `cwd` (default: this repository).
  std::string FormatPatch(const std::string& commit, const std::string& cwd = "") {
    return WithoutStat(Ok({"format-patch", "-1", "--stdout", "--binary", "--full-index", "--no-renames",
                           "--no-signature", commit},
                          cwd));
  }

  // Insertions and deletions by git's numstat (binary files count 0).
  std::pair<int64_t, int64_t> NumStat(const std::string& commit) {
    std::istringstream in(Ok({"diff", "--numstat", "--no-renames", commit + "^", commit}));
    std::string added, removed, rest;
    int64_t ins = 0, del = 0;
    while (in >> added >> removed && std::getline(in, rest)) {
      if (added != "-") ins += std::stoll(added);
      if (removed != "-") del += std::stoll(removed);
    }
    return {ins, del};
  }

  // A fresh clone at the parent, `git apply --index` of the patch: the index must become the
  // commit's tree.
  void CheckApplies(const std::string& commit, const Written& patch) {
    std::string clone = root_ + "/clone-" + std::to_string(++clones_);
    Ok({"clone", "-q", "--no-checkout", dir_, clone}, root_);
    Ok({"checkout", "-q", "--detach", commit + "^"}, clone);
    Cmd applied = Git({"apply", "--index", patch.path}, clone);
    INFO("git apply: " << applied.err);
    CHECK(applied.code == 0);
    CHECK(Trimmed(Ok({"write-tree"}, clone)) == Trimmed(Ok({"rev-parse", commit + "^{tree}"})));
    fs::remove_all(clone);
  }

  // Text changes: the patch must apply, equal git's, and count lines as git's numstat.
  void CheckLikeGit(const std::string& commit) {
    Written w = Patch(commit);
    CHECK(w.text == FormatPatch(commit));
    auto [ins, del] = NumStat(commit);
    CHECK(w.stats.insertions == ins);
    CHECK(w.stats.deletions == del);
    CheckApplies(commit, w);
  }

 private:
  std::string root_;
  std::string dir_;
  int patches_ = 0;
  int clones_ = 0;
};

std::string Lines(int from, int to, const std::string& tag = "line") {
  std::string s;
  for (int i = from; i <= to; ++i) s += tag + " " + std::to_string(i) + "\n";
  return s;
}

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(gen() & 0xff);
  return s;
}

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("patch: text added, modified, deleted; no newline at end; empty files", "[run][patch]") {
  Repo r;
  r.Write("a.txt", Lines(1, 40));
  r.Write("b.txt", "keep\nlast line\n");
  r.Write("gone.txt", "bye\n");
  r.Write("empty-gone", "");
  r.Write("noeol-mod.txt", "one\ntwo");
  r.Write("fn.c", "int f(void)\n{\n" + Lines(1, 20, "  x") + "}\n\nint g(void)\n{\n" + Lines(1, 20, "  y") + "}\n");
  // A function line whose 80th byte is a space: git cuts it there and trims the space.
  r.Write("long.c", "f" + std::string(78, 'x') + " tail(int a)\n{\n" + Lines(1, 10, "  a") + "}\n");
  r.Write("heuristic.c", "int f() {\n\t/*\n\t * comment B\n\t */\n\tb();\n}\n");
  r.Write("crlf.txt", "one\r\ntwo\r\nthree\r\n");
  r.Commit("base");

  std::string a = Lines(1, 40);
  a.replace(a.find("line 5\n"), 7, "line five\n");
  a.replace(a.find("line 30\n"), 8, "line thirty\nline thirty-one and a half\n");
  r.Write("a.txt", a);
  r.Write("b.txt", "keep\nlast line");  // loses its final newline
  r.Remove("gone.txt");
  r.Remove("empty-gone");
  r.Write("new.txt", "fresh\nfile\n");
  r.Write("new-noeol.txt", "no newline");
  r.Write("noeol-mod.txt", "one\nTWO");
  r.Write("empty-new", "");
  r.Write("to-empty.txt", "");
  std::string fn = ReadFile(r.dir() + "/fn.c");
  fn.replace(fn.find("  y 15\n"), 7, "  y fifteen\n");  // hunk header names g()
  r.Write("fn.c", fn);
  std::string long_c = ReadFile(r.dir() + "/long.c");
  long_c.replace(long_c.find("  a 8\n"), 6, "  a eight\n");
  r.Write("long.c", long_c);
  // Myers alone starts the insertion one line late; git's default indent heuristic does not.
  r.Write("heuristic.c", "int f() {\n\t/*\n\t * comment A\n\t */\n\ta();\n\n\t/*\n\t * comment B\n\t */\n\tb();\n}\n");
  r.Write("crlf.txt", "one\r\n2\r\nthree\r\n");
  std::string c = r.Commit("Edit text files\n\nA body line.\n\nAnd a second paragraph.");
  r.CheckLikeGit(c);

  r.Write("to-empty.txt", "now\nsomething\n");
  r.Write("new.txt", "");
  std::string c2 = r.Commit("fill and empty");
  r.CheckLikeGit(c2);
}

TEST_CASE("patch: mode changes, with and without content", "[run][patch]") {
  Repo r;
  r.Write("script.sh", "echo hi\n");
  r.Write("tool.sh", "echo tool\n");
  r.Write("was-exec.sh", "echo x\n", true);
  r.Commit("base");
  r.Chmod("script.sh", 0755);                   // mode only: no index line, no hunk
  r.Write("tool.sh", "echo tool v2\n", true);   // mode and content
  r.Chmod("was-exec.sh", 0644);
  r.Write("new-exec.sh", "#!/bin/sh\n", true);  // added executable
  std::string c = r.Commit("modes");
  Written w = r.Patch(c);
  CHECK(Has(w.text, "diff --git a/script.sh b/script.sh\nold mode 100644\nnew mode 100755\ndiff --git"));
  CHECK(Has(w.text, "old mode 100644\nnew mode 100755\nindex "));
  r.CheckLikeGit(c);
}

TEST_CASE("patch: symlinks added, retargeted, and type changes as deletion plus addition", "[run][patch]") {
  Repo r;
  r.Write("target.txt", "t\n");
  r.Write("becomes-link", "file content\n");
  r.Link("old-link", "target.txt");
  r.Link("link-becomes-file", "target.txt");
  r.Write("x", "x was a file\n");
  r.Write("x.txt", "sibling\n");
  r.Commit("base");
  r.Link("new-link", "some/where else");
  r.Link("old-link", "elsewhere.txt");
  r.Remove("becomes-link");
  r.Link("becomes-link", "target.txt");
  r.Remove("link-becomes-file");
  r.Write("link-becomes-file", "now a file\n");
  r.Remove("x");
  r.Write("x/inside", "x is a directory now\n");
  std::string c = r.Commit("links");
  Written w = r.Patch(c);
  // Deletion first, then the addition, each with its own header.
  CHECK(Has(w.text, "diff --git a/becomes-link b/becomes-link\ndeleted file mode 100644\n"));
  CHECK(Has(w.text, "diff --git a/becomes-link b/becomes-link\nnew file mode 120000\n"));
  CHECK(w.text.find("deleted file mode 100644\nindex") < w.text.find("new file mode 120000"));
  CHECK(Has(w.text, "+target.txt\n\\ No newline at end of file\n"));
  r.CheckLikeGit(c);
}

TEST_CASE("patch: small binary files added, modified, deleted", "[run][patch]") {
  Repo r;
  std::string blob = RandomBytes(6000, 1);
  blob[10] = '\0';
  r.Write("blob.bin", blob);
  r.Write("gone.bin", std::string("\0\1\2\3", 4));
  r.Write("text-then-binary", "plain\n");
  r.Commit("base");
  blob[3000] ^= 0x55;  // a small change: libgit2 picks a delta hunk
  r.Write("blob.bin", blob);
  r.Remove("gone.bin");
  r.Write("new.bin", std::string("N\0L", 3));
  r.Write("text-then-binary", std::string("now\0binary", 10));
  std::string c = r.Commit("binaries");
  Written w = r.Patch(c);
  CHECK(Has(w.text, "GIT binary patch\ndelta "));
  CHECK(Has(w.text, "GIT binary patch\nliteral 3\n"));
  CHECK(w.stats.insertions == 0);
  CHECK(w.stats.deletions == 0);  // "text-then-binary" is a binary pair: git's numstat says "-"
  r.CheckApplies(c, w);
}

TEST_CASE("patch: files over inline_diff_max are streamed literals of the new content", "[run][patch]") {
  Repo r;
  PatchOptions small;
  small.inline_diff_max = 1024;
  r.Write("keep.txt", "k\n");
  r.Commit("base");

  r.Write("big.bin", RandomBytes(300 << 10, 2));
  r.Write("big.txt", Lines(1, 400));  // text, but over the limit: a literal too
  std::string added = r.Commit("add big");
  Written w = r.Patch(added, small);
  CHECK(Has(w.text, "new file mode 100644\nindex 0000000000000000000000000000000000000000.."));
  CHECK(Has(w.text, "GIT binary patch\nliteral 307200\n"));
  CHECK(Has(w.text, "GIT binary patch\nliteral " + std::to_string(Lines(1, 400).size()) + "\n"));
  CHECK(w.stats.insertions == 0);
  r.CheckApplies(added, w);

  // The same bytes whichever way the blob is read: loose in this repository (read here), loose
  // behind objects/info/alternates (libgit2's stream), packed (libgit2 reads it whole).
  std::string shared = r.root() + "/shared";
  r.Ok({"clone", "-q", "--shared", "--no-checkout", r.dir(), shared}, r.root());
  CHECK(r.Patch(added, small, shared).text == w.text);
  r.Ok({"repack", "-a", "-d", "-q"});
  CHECK(r.Patch(added, small).text == w.text);

  std::string big = RandomBytes(300 << 10, 2);
  big.replace(1000, 5000, RandomBytes(5000, 3));
  r.Write("big.bin", big);
  std::string text = Lines(1, 400);
  text += "one more\n";
  r.Write("big.txt", text);
  r.Chmod("big.txt", 0755);
  r.Write("keep.txt", "k2\n");  // small: a text diff in the same patch
  std::string modified = r.Commit("modify big");
  w = r.Patch(modified, small);
  CHECK(Has(w.text, "old mode 100644\nnew mode 100755\nindex "));
  CHECK(Has(w.text, "-k\n+k2\n"));
  CHECK(w.stats.insertions == 1);
  r.CheckApplies(modified, w);

  r.Remove("big.bin");
  r.Write("big.txt", "small again\n");  // old side over the limit, new side small: a literal
  std::string deleted = r.Commit("delete big");
  w = r.Patch(deleted, small);
  CHECK(Has(w.text, "deleted file mode 100644\nindex "));
  CHECK(Has(w.text, "GIT binary patch\nliteral 0\n"));
  CHECK(Has(w.text, "GIT binary patch\nliteral 12\n"));
  r.CheckApplies(deleted, w);
}

TEST_CASE("patch: files of very short lines go as literals too (xdiff's cost is per line)", "[run][patch]") {
  Repo r;
  PatchOptions small;
  small.inline_diff_max = 1024;  // at most 1024 / 16 = 64 lines, both sides together
  r.Write("short-lines.txt", std::string(40, '\n'));
  r.Write("few-lines.txt", "a\nb\n");
  r.Commit("base");
  r.Write("short-lines.txt", std::string(20, '\n') + "x\n" + std::string(19, '\n'));  // 41 bytes; 81 lines in all
  r.Write("few-lines.txt", "a\nB\n");
  std::string c = r.Commit("short lines");
  Written w = r.Patch(c, small);
  CHECK(Has(w.text, "GIT binary patch\nliteral 41\n"));
  CHECK(Has(w.text, "-b\n+B\n"));
  r.CheckApplies(c, w);
}

TEST_CASE("patch: names with spaces, newline, quote, backslash, high bytes and tab", "[run][patch]") {
  Repo r;
  r.Write("with space.txt", "s\n");
  r.Write("gone space.txt", "bye\n");
  r.Commit("base");
  r.Write("with space.txt", "s2\n");
  r.Remove("gone space.txt");
  r.Write("new\nline.txt", "n\n");
  r.Write("quo\"te.txt", "q\n");
  r.Write("back\\slash.txt", "b\n");
  r.Write("\xff\xfehigh.txt", "h\n");
  r.Write("tab\there.txt", "t\n");
  r.Write("dir with space/inner \"both\"\t.txt", "x\n");
  std::string c = r.Commit("odd names");
  Written w = r.Patch(c);
  CHECK(Has(w.text, "diff --git \"a/new\\nline.txt\" \"b/new\\nline.txt\"\n"));
  CHECK(Has(w.text, "diff --git \"a/\\377\\376high.txt\" \"b/\\377\\376high.txt\"\n"));
  CHECK(Has(w.text, "--- a/with space.txt\t\n+++ b/with space.txt\t\n"));
  r.CheckLikeGit(c);
}

TEST_CASE("patch: attributes in the tree, index and info/ change nothing", "[run][patch]") {
  Repo r;
  r.Write(".gitattributes", "* binary -diff filter=x diff=foo\n");
  r.Write("notes.txt", Lines(1, 10));
  r.Write("code.c", "int main(void)\n{\n" + Lines(1, 10, "  s") + "}\n");
  r.Commit("base");
  fs::create_directories(r.dir() + "/.git/info");
  std::ofstream(r.dir() + "/.git/info/attributes") << "* binary -diff\n*.c diff=foo\n";
  r.Ok({"config", "diff.foo.funcname", "^(never matches)$"});
  r.Ok({"config", "filter.x.clean", "false"});
  std::string notes = Lines(1, 10);
  notes.replace(notes.find("line 4\n"), 7, "line four\n");
  r.Write("notes.txt", notes);
  std::string code = ReadFile(r.dir() + "/code.c");
  code.replace(code.find("  s 8\n"), 6, "  s eight\n");
  r.Write("code.c", code);
  std::string c = r.Commit("edit under attributes");
  Written w = r.Patch(c);
  CHECK_FALSE(Has(w.text, "GIT binary patch"));
  CHECK(Has(w.text, "-line 4\n+line four\n"));
  CHECK(Has(w.text, "@@ -7,7 +7,7 @@ int main(void)\n"));  // the default function line, not diff.foo's
  CHECK(w.stats.insertions == 2);
  // git itself honours them in this repository; a bare clone (git 2.39 reads no attributes from a
  // bare repository's trees) shows the attribute-free diff.
  std::string bare = r.root() + "/bare.git";
  r.Ok({"clone", "-q", "--bare", r.dir(), bare}, r.root());
  CHECK(w.text == r.FormatPatch(c, bare));
  r.CheckApplies(c, w);
}

TEST_CASE("patch: submodule entries as their Subproject lines", "[run][patch]") {
  Repo r;
  r.Write("a.txt", "a\n");
  std::string base = r.Commit("base");
  r.Ok({"update-index", "--add", "--cacheinfo", "160000," + base + ",sub"});
  std::string added = r.Commit("add submodule", "t", "t@t", false);
  r.CheckLikeGit(added);
  r.Ok({"update-index", "--cacheinfo", "160000," + added + ",sub"});
  std::string moved = r.Commit("move submodule", "t", "t@t", false);
  r.CheckLikeGit(moved);
}

TEST_CASE("patch: mail header as git's, and git am recreates the commit", "[run][patch]") {
  Repo r;
  r.Write("f.txt", "0\n");
  r.Commit("base");
  struct Case {
    std::string name, email, date, message;
    bool am_keeps_name = true;
  };
  std::vector<Case> cases = {
      {"Zoë Ünicode", "zoe@example.org", "@1600000000 -0330",
       "Ünicode subject that is long enough to be folded when encoded as RFC 2047 words\n\n"
       "Body paragraph one\n  indented line   \n\n\n\nparagraph two, trailing spaces   \n"},
      {"J. R. \"Bob\" Dobbs", "bob@example.org", "@0 +0000",
       "an ASCII subject that is long enough to be wrapped by git at seventy-eight columns, yes\n"
       "second line of the first paragraph\n\nbody"},
      {"A Rather Long Author Name That Goes On And On Beyond The Usual Width Of Headers",
       "a.rather.long.address@some.example.org", "@1700000000 +1400", "short\n",
       false},  // git folds this From: line, and its own `git am` then takes the address for the name
      {"Equals =?q", "e@e", "@1700000000 -1200", "subject with =? and_underscore\n\n\n"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& k = cases[i];
    r.Write("f.txt", std::to_string(i + 1) + "\n");
    r.Ok({"add", "-A"});
    r.Ok({"-c", "user.name=" + k.name, "-c", "user.email=" + k.email, "commit", "-q", "-m", k.message}, "",
         {"GIT_AUTHOR_DATE=" + k.date});
    std::string c = Trimmed(r.Ok({"rev-parse", "HEAD"}));
    INFO("case " << i);
    Written w = r.Patch(c);
    CHECK(w.text == r.FormatPatch(c));

    std::string clone = r.root() + "/am-" + std::to_string(i);
    r.Ok({"clone", "-q", "--no-checkout", r.dir(), clone}, r.root());
    r.Ok({"checkout", "-q", "-b", "work", c + "^"}, clone);
    r.Ok({"-c", "user.name=x", "-c", "user.email=x@x", "am", "-q", w.path}, clone);
    // The subject comes back as one line (format-patch joins the first paragraph), the rest as is.
    std::string format = absl::StrCat("--format=", k.am_keeps_name ? "%an" : "", "%n%ae%n%ad%n%T%n%s%n%b");
    CHECK(r.Ok({"log", "-1", "--date=raw", format}, clone) == r.Ok({"log", "-1", "--date=raw", format, c}));
    fs::remove_all(clone);
  }
}

TEST_CASE("patch: a root commit is all additions", "[run][patch]") {
  Repo r;
  r.Write("a.txt", "a\n");
  r.Write("b/c.txt", "c\n");
  std::string c = r.Commit("root");
  Written w = r.Patch(c);
  CHECK(w.text == r.FormatPatch(c));
  CHECK(w.stats.insertions == 2);
}

TEST_CASE("patch: write failures are errors, never a partial success", "[run][patch]") {
  Repo r;
  r.Write("a.txt", "a\n");
  r.Commit("base");
  r.Write("a.txt", Lines(1, 5000));
  std::string c = r.Commit("big enough to need several writes");
  InitLibgit2();
  git_repository* repo = nullptr;
  REQUIRE(git_repository_open(&repo, r.dir().c_str()) == 0);
  git_oid id;
  REQUIRE(git_oid_fromstr(&id, c.c_str()) == 0);
  int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
  REQUIRE(full >= 0);
  absl::StatusOr<PatchStats> s = WritePatch(repo, id, full);
  close(full);
  REQUIRE_FALSE(s.ok());
  CHECK(Has(std::string(s.status().message()), "No space left on device"));
  int read_only = open("/dev/null", O_RDONLY | O_CLOEXEC);
  s = WritePatch(repo, id, read_only);
  close(read_only);
  CHECK_FALSE(s.ok());
  git_oid missing;
  git_oid_fromstr(&missing, "0123456789012345678901234567890123456789");
  s = WritePatch(repo, missing, read_only);
  CHECK_FALSE(s.ok());
  git_repository_free(repo);
}

TEST_CASE("patch: a 64 MiB file is written in bounded memory", "[run][patch]") {
  Repo r;
  r.Write("small.txt", "s\n");
  r.Commit("base");
  const size_t kSize = 64 << 20;
  r.Write("huge.bin", RandomBytes(kSize, 7));
  std::string c = r.Commit("huge");
  InitLibgit2();
  r.Ok({"symbolic-ref", "HEAD", "refs/heads/airlock-unborn"});

  // In a child, so the peak is this write's alone: reset the high-water mark, write, read it.
  int pipefd[2];
  REQUIRE(pipe(pipefd) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto status_kib = [](const char* key) -> long {
      std::ifstream in("/proc/self/status");
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind(key, 0) == 0) return atol(line.c_str() + strlen(key));
      }
      return -1;
    };
    git_repository* repo = nullptr;
    git_oid id;
    if (git_repository_open(&repo, r.dir().c_str()) != 0 || git_oid_fromstr(&id, c.c_str()) != 0) _exit(1);
    std::ofstream("/proc/self/clear_refs") << "5";  // VmHWM := VmRSS
    long before = status_kib("VmRSS:");
    int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    PatchOptions options;
    options.inline_diff_max = 1 << 20;
    absl::StatusOr<PatchStats> s = WritePatch(repo, id, out, options);
    long peak = status_kib("VmHWM:");
    std::string report = std::to_string(s.ok() ? 1 : 0) + " " + std::to_string(before) + " " + std::to_string(peak) +
                         " " + std::to_string(s.ok() ? s->bytes_written : 0);
    if (write(pipefd[1], report.data(), report.size()) < 0) _exit(2);
    _exit(0);
  }
  close(pipefd[1]);
  char buf[256] = {};
  ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
  close(pipefd[0]);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  r.Ok({"symbolic-ref", "HEAD", "refs/heads/main"});
  REQUIRE(n > 0);
  std::istringstream in(buf);
  int ok = 0;
  long before = 0, peak = 0;
  uint64_t bytes = 0;
  in >> ok >> before >> peak >> bytes;
  INFO("RSS before " << before << " KiB, peak " << peak << " KiB, patch " << bytes << " bytes");
  CHECK(ok == 1);
  CHECK(bytes > kSize);  // deflate cannot shrink random bytes; base85 adds a quarter
  CHECK(peak - before < 32 * 1024);
}
