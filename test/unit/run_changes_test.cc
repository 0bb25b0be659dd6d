// airlock run's repository side against real git repositories in a temp dir: checks on the
// user's repository, the workspace airlock writes itself, the change set its own walk finds (compared
// with what `git add --all` makes of the same edits in a trusted copy), the refusals (.git entries,
// submodule paths), the limits, the check's workspace reset, the branch.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

#include "absl/strings/match.h"
#include "cmd/airlock/run/change_walk.h"
#include "shim/base/fs_beneath.h"
#include "cmd/airlock/run/git_names.h"
#include "shim/base/terminal_text.h"
#include "cmd/airlock/run/git.h"
#include "policy/sandbox/secret_scan.h"
#include "cmd/airlock/run/workspace.h"

namespace {

using namespace airlock;
using namespace airlock::run;
namespace fs = std::filesystem;

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

struct TempRepo {
  fs::path root;
  std::string repo;
  TempRepo() {
    root = fs::temp_directory_path() / ("airlock-run-git-" + std::to_string(getpid()) + "-" + std::to_string(rand()));
    fs::create_directories(root / "src");
    repo = (root / "src").string();
    Write("a.txt", "alpha\n");
    Write("dir/b.txt", "beta\n");
    Write("dir/sub/c.txt", "gamma\n");
    Write("tool.sh", "#!/bin/sh\necho tool\n");
    fs::permissions(fs::path(repo) / "tool.sh", fs::perms::owner_exec, fs::perm_options::add);
    Write("same.txt", "12345\n");
    Write("gone/x.txt", "x\n");
    Write("becomes-dir", "file\n");
    Write("becomes-file/y.txt", "y\n");
    Write("vendor-tracked/keep.txt", "tracked though ignored\n");
    Write(".gitignore", "vendor/\n*.log\n!important.log\nvendor-tracked/\n");
    fs::create_symlink("a.txt", fs::path(repo) / "link");
    GitOk({"init", "-q", "-b", "main"});
    GitOk({"add", "-A", "-f"});
    GitOk({"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"});
  }
  ~TempRepo() { fs::remove_all(root); }
  void Write(const std::string& rel, const std::string& text) const { WriteFile(fs::path(repo) / rel, text); }
  std::string GitOk(const std::vector<std::string>& args, const std::string& cwd = "") const {
    absl::StatusOr<std::string> out = Git(args, {.cwd = cwd.empty() ? repo : cwd});
    INFO((out.ok() ? std::string() : std::string(out.status().message())));
    REQUIRE(out.ok());
    return *out;
  }
  // A trusted twin of the workspace: a clone whose `git add -A; git write-tree` is the reference.
  std::string Twin(const std::string& name) const {
    std::string path = (root / name).string();
    GitOk({"clone", "-q", repo, path}, root.string());
    return path;
  }
};

// The run's private repository and one workspace from it.
struct Stage {
  TempRepo t;
  SourceRepo repo;
  std::unique_ptr<RunRepository> run_repo;
  std::optional<Workspace> ws;
  Stage() {
    absl::StatusOr<SourceRepo> r = InspectRepo(t.repo);
    REQUIRE(r.ok());
    repo = *r;
    fs::create_directories(t.root / "task");
    absl::StatusOr<std::unique_ptr<RunRepository>> rr = RunRepository::Create(repo, (t.root / "task" / "git").string());
    REQUIRE(rr.ok());
    run_repo = *std::move(rr);
    absl::StatusOr<Workspace> w = Workspace::Create(*run_repo, (t.root / "task" / "repo").string(), {});
    REQUIRE(w.ok());
    ws = *std::move(w);
  }
  fs::path W() const { return ws->dir(); }
  absl::StatusOr<ChangeSet> Collect(const ChangeLimits& limits = {}, const std::vector<Secret>& secrets = {}) {
    SecretScanner scanner(secrets);
    return ws->Collect(limits, scanner, "airlock run test\n", "airlock/test");
  }
};

std::string Statuses(const ChangeSet& c) {
  std::string out;
  for (const ChangedFile& f : c.files) out += std::string(1, f.status) + " " + f.path + "\n";
  return out;
}

}  // namespace

TEST_CASE("source repository: inspected, uncommitted paths found, branch collisions refused", "[run][git]") {
  TempRepo t;
  absl::StatusOr<SourceRepo> repo = InspectRepo(t.repo);
  REQUIRE(repo.ok());
  CHECK(repo->head_name == "main");
  CHECK(repo->head_commit.size() == 40);
  CHECK(Has(repo->objects_dir, "/.git/objects"));
  CHECK(UncommittedPaths(*repo)->empty());
  t.Write("a.txt", "changed\n");
  t.Write("untracked.txt", "new\n");  // untracked files are not "uncommitted changes"
  CHECK(*UncommittedPaths(*repo) == std::vector<std::string>{"a.txt"});
  CHECK(CheckBranchAbsent(*repo, "airlock/x").ok());
  t.GitOk({"branch", "airlock/x"});
  absl::Status taken = CheckBranchAbsent(*repo, "airlock/x");
  CHECK(absl::IsAlreadyExists(taken));

  absl::StatusOr<SourceRepo> not_repo = InspectRepo(t.root.string());
  REQUIRE_FALSE(not_repo.ok());
  CHECK(Has(std::string(not_repo.status().message()), "is not a git repository"));
  CHECK(Has(std::string(InspectRepo((t.root / "nope").string()).status().message()), "No such file"));
  fs::create_directories(t.root / "empty");
  REQUIRE(Git({"init", "-q"}, {.cwd = (t.root / "empty").string()}).ok());
  CHECK(Has(std::string(InspectRepo((t.root / "empty").string()).status().message()), "no commits yet"));
}

TEST_CASE("workspace: the base's bytes, modes and symlinks, no .git, no filter of any kind", "[run][git]") {
  TempRepo t;
  // Attributes that would make git convert on checkout; airlock writes the blobs as they are.
  t.Write(".gitattributes", "*.txt text eol=crlf ident\n");
  t.Write("ident.txt", "$Id$\nline\n");
  t.GitOk({"add", "-A"});
  t.GitOk({"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "attrs"});
  SourceRepo repo = *InspectRepo(t.repo);
  fs::create_directories(t.root / "task");
  std::unique_ptr<RunRepository> rr = *RunRepository::Create(repo, (t.root / "task" / "git").string());
  absl::StatusOr<Workspace> ws = Workspace::Create(*rr, (t.root / "task" / "repo").string(), {});
  REQUIRE(ws.ok());
  fs::path w = ws->dir();
  CHECK_FALSE(fs::exists(w / ".git"));
  std::ifstream in(w / "ident.txt", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "$Id$\nline\n");
  CHECK((fs::status(w / "tool.sh").permissions() & fs::perms::owner_exec) != fs::perms::none);
  CHECK((fs::status(w / "a.txt").permissions() & fs::perms::owner_exec) == fs::perms::none);
  CHECK(fs::is_symlink(w / "link"));
  CHECK(fs::read_symlink(w / "link") == "a.txt");
  CHECK(fs::exists(w / "vendor-tracked" / "keep.txt"));
  // Nothing changed: nothing to commit.
  SecretScanner scanner({});
  absl::StatusOr<ChangeSet> none = ws->Collect({}, scanner, "m\n", "airlock/x");
  REQUIRE(none.ok());
  CHECK(none->commit.empty());
}

TEST_CASE("change set: equal to git's for the same edits, made without git reading the workspace", "[run][git]") {
  Stage s;
  std::string twin = s.t.Twin("twin");
  auto edit = [](const fs::path& w) {
    WriteFile(w / "a.txt", "alpha\nmore\n");                // modified
    WriteFile(w / "same.txt", "54321\n");                   // same size, other bytes
    WriteFile(w / "new dir/with space.txt", "new\n");       // added
    WriteFile(w / std::string("odd\nname\xff\tx"), "odd\n");  // a name with a newline, 0xff and a tab
    fs::remove(w / "dir" / "b.txt");                        // deleted
    fs::remove_all(w / "gone");                             // a whole directory deleted
    fs::remove(w / "becomes-dir");                          // file -> directory
    WriteFile(w / "becomes-dir" / "inner.txt", "inner\n");
    fs::remove_all(w / "becomes-file");                     // directory -> file
    WriteFile(w / "becomes-file", "now a file\n");
    fs::remove(w / "link");                                 // symlink retargeted
    fs::create_symlink("dir/sub/c.txt", w / "link");
    fs::create_symlink("/etc/shadow", w / "abs-link");      // a symlink is data, never followed
    fs::permissions(w / "tool.sh", fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                    fs::perm_options::remove);               // mode change only
    fs::permissions(w / "dir" / "sub" / "c.txt", fs::perms::owner_exec, fs::perm_options::add);
    WriteFile(w / "vendor" / "dep.js", "installed\n");      // ignored
    WriteFile(w / "build.log", "ignored\n");                // ignored by *.log
    WriteFile(w / "important.log", "kept\n");               // re-included by !important.log
    WriteFile(w / "vendor-tracked" / "keep.txt", "tracked, changed\n");  // tracked inside an ignored dir
    WriteFile(w / "vendor-tracked" / "new.txt", "untracked in an ignored dir\n");
    WriteFile(w / "dir" / ".gitignore", "*.tmp\n");        // a nested .gitignore
    WriteFile(w / "dir" / "scratch.tmp", "ignored below\n");
    // Touched but unchanged: not a change.
    fs::last_write_time(w / "dir" / "sub", fs::file_time_type::clock::now());
  };
  edit(s.W());
  edit(twin);
  s.t.GitOk({"add", "--all"}, twin);
  std::string want_tree = s.t.GitOk({"write-tree"}, twin);
  want_tree.pop_back();

  absl::StatusOr<ChangeSet> c = s.Collect();
  INFO((c.ok() ? Statuses(*c) : std::string(c.status().message())));
  REQUIRE(c.ok());
  CHECK(c->tree == want_tree);
  CHECK(Has(Statuses(*c), "M a.txt\n"));
  CHECK(Has(Statuses(*c), "M same.txt\n"));
  CHECK(Has(Statuses(*c), "D gone/x.txt\n"));
  CHECK(Has(Statuses(*c), "D becomes-dir\n"));
  CHECK(Has(Statuses(*c), "A becomes-dir/inner.txt\n"));
  CHECK(Has(Statuses(*c), "D becomes-file/y.txt\n"));
  CHECK(Has(Statuses(*c), "A becomes-file\n"));
  CHECK(Has(Statuses(*c), "M tool.sh\n"));
  CHECK(Has(Statuses(*c), "A abs-link\n"));
  CHECK_FALSE(Has(Statuses(*c), "vendor/"));
  CHECK_FALSE(Has(Statuses(*c), "build.log"));
  CHECK_FALSE(Has(Statuses(*c), "scratch.tmp"));
  CHECK_FALSE(Has(Statuses(*c), "vendor-tracked/new.txt"));
  CHECK(Has(Statuses(*c), "M vendor-tracked/keep.txt\n"));

  // The branch: exactly that commit on top of HEAD; the user's checkout untouched.
  std::string head_before = s.t.GitOk({"rev-parse", "main"});
  REQUIRE(PublishBranch(s.repo, *s.run_repo, "airlock/test").ok());
  CHECK(s.t.GitOk({"rev-parse", "airlock/test^{tree}"}) == want_tree + "\n");
  CHECK(s.t.GitOk({"rev-parse", "airlock/test^"}) == head_before);
  CHECK(s.t.GitOk({"rev-parse", "main"}) == head_before);
  CHECK(s.t.GitOk({"status", "--porcelain"}).empty());
}

TEST_CASE("change set: a .git entry anywhere is refused, in every spelling git refuses", "[run][git][hostile]") {
  const std::string canary = (fs::temp_directory_path() / ("airlock-canary-" + std::to_string(getpid()))).string();
  struct Case {
    std::string name;
    std::function<void(const fs::path&)> plant;
    std::string named;
  };
  const std::string payload = "!touch " + canary;
  std::vector<Case> cases = {
      {"nested repository", [&](const fs::path& w) {
         WriteFile(w / "dir/sub/.git/HEAD", "ref: refs/heads/nope\n");
         WriteFile(w / "dir/sub/.git/config", "[core]\n\tfsmonitor = " + payload + "\n[filter \"x\"]\n\tclean = sh -c 'touch " + canary + "; cat'\n");
         WriteFile(w / "dir/sub/.gitattributes", "* filter=x\n");
       }, "dir/sub/.git"},
      {".git file at the top", [&](const fs::path& w) { WriteFile(w / ".git", "gitdir: /root\n"); }, ".git"},
      {".git symlink at the top", [&](const fs::path& w) { fs::create_symlink("/root", w / ".git"); }, ".git"},
      {"NTFS backslash end", [&](const fs::path& w) { WriteFile(w / ".git .\\z", "x"); }, ".git ."},
      {"NTFS short name with a stream", [&](const fs::path& w) { WriteFile(w / "GIT~1:x", "x"); }, "GIT~1"},
      {"symlinked .gitmodules short name", [&](const fs::path& w) { fs::create_symlink("/etc/passwd", w / "gitmod~2"); }, "gitmod~2"},
      {"symlinked .gitmodules fall-back short name", [&](const fs::path& w) { fs::create_symlink("/", w / "GI7EBA~1"); },
       "GI7EBA~1"},
      {".git file with gitdir", [&](const fs::path& w) { WriteFile(w / "dir/.git", "gitdir: /root\n"); }, "dir/.git"},
      {".git symlink", [&](const fs::path& w) { fs::create_symlink("/", w / "dir/sub/.git"); }, "dir/sub/.git"},
      {"upper case", [&](const fs::path& w) { WriteFile(w / ".GIT/config", "x"); }, ".GIT"},
      {"mixed case file", [&](const fs::path& w) { WriteFile(w / "dir/.Git", "gitdir: /\n"); }, "dir/.Git"},
      {"NTFS short name", [&](const fs::path& w) { WriteFile(w / "git~1/config", "x"); }, "git~1"},
      {"trailing dot and space", [&](const fs::path& w) { WriteFile(w / ".git. /config", "x"); }, ".git. "},
      {"HFS ignorable", [&](const fs::path& w) { WriteFile(w / ".g\xe2\x80\x8cit/config", "x"); }, ".g"},
      {"inside an ignored-but-tracked directory", [&](const fs::path& w) { WriteFile(w / "vendor-tracked/.git/config", "x"); },
       "vendor-tracked/.git"},
      {"symlinked .gitmodules", [&](const fs::path& w) { fs::create_symlink("/etc/passwd", w / ".gitmodules"); }, ".gitmodules"},
  };
  for (const Case& k : cases) {
    DYNAMIC_SECTION(k.name) {
      Stage s;
      WriteFile(s.W() / "fine.txt", "a legitimate edit\n");
      k.plant(s.W());
      absl::StatusOr<ChangeSet> c = s.Collect();
      REQUIRE_FALSE(c.ok());
      INFO(c.status().message());
      CHECK(absl::IsPermissionDenied(c.status()));
      CHECK(Has(std::string(c.status().message()), k.named));
      CHECK(Has(std::string(c.status().message()), "refused"));
      CHECK_FALSE(fs::exists(canary));
    }
  }
  // An ignored directory is never entered: what it holds never leaves the sandbox either.
  Stage s;
  WriteFile(s.W() / "vendor/pkg/.git/config", "[core]\n\tfsmonitor = " + payload + "\n");
  absl::StatusOr<ChangeSet> ignored = s.Collect();
  REQUIRE(ignored.ok());
  CHECK(ignored->commit.empty());
}

TEST_CASE("change set: a submodule path must stay the empty directory it was", "[run][git][hostile]") {
  TempRepo t;
  std::string head = t.GitOk({"rev-parse", "HEAD"});
  head.pop_back();
  t.GitOk({"update-index", "--add", "--cacheinfo", "160000," + head + ",lib/sub"});
  t.Write(".gitmodules", "[submodule \"sub\"]\n\tpath = lib/sub\n\turl = https://example.invalid/sub\n");
  t.GitOk({"add", ".gitmodules"});
  t.GitOk({"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "submodule"});
  SourceRepo repo = *InspectRepo(t.repo);
  int n = 0;
  for (const char* how : {"untouched", "rewritten .gitmodules", "file", "symlink", "contents", "removed", "nested repo"}) {
    DYNAMIC_SECTION(how) {
      fs::path task = t.root / ("task" + std::to_string(n++));
      fs::create_directories(task);
      std::unique_ptr<RunRepository> rr = *RunRepository::Create(repo, (task / "git").string());
      absl::StatusOr<Workspace> ws = Workspace::Create(*rr, (task / "repo").string(), {});
      REQUIRE(ws.ok());
      fs::path w = ws->dir();
      REQUIRE(fs::is_directory(w / "lib/sub"));
      REQUIRE(fs::is_empty(w / "lib/sub"));
      if (how == std::string("rewritten .gitmodules")) {
        WriteFile(w / ".gitmodules", "[submodule \"sub\"]\n\tpath = lib/sub\n\turl = ext::sh -c touch% /tmp/x\n\tupdate = !sh\n");
      } else if (how == std::string("file")) {
        fs::remove(w / "lib/sub");
        WriteFile(w / "lib/sub", "not a submodule\n");
      } else if (how == std::string("symlink")) {
        fs::remove(w / "lib/sub");
        fs::create_symlink("/etc", w / "lib/sub");
      } else if (how == std::string("contents")) {
        WriteFile(w / "lib/sub/file.txt", "x\n");
      } else if (how == std::string("removed")) {
        fs::remove(w / "lib/sub");
      } else if (how == std::string("nested repo")) {
        WriteFile(w / "lib/sub/.git/HEAD", "ref: refs/heads/x\n");
      }
      SecretScanner scanner({});
      absl::StatusOr<ChangeSet> c = ws->Collect({}, scanner, "m\n", "airlock/x");
      if (how == std::string("untouched")) {
        REQUIRE(c.ok());
        CHECK(c->commit.empty());
      } else if (how == std::string("rewritten .gitmodules")) {
        REQUIRE(c.ok());  // data: the review shows it
        REQUIRE(c->files.size() == 1);
        CHECK(c->files[0].path == ".gitmodules");
      } else {
        REQUIRE_FALSE(c.ok());
        INFO(c.status().message());
        CHECK(absl::IsPermissionDenied(c.status()));
        CHECK(Has(std::string(c.status().message()), "lib/sub"));
      }
    }
  }
}

TEST_CASE("change set: fifos, sockets are left out and said; a fifo never blocks the walk", "[run][git]") {
  Stage s;
  REQUIRE(mkfifo((s.W() / "pipe").c_str(), 0644) == 0);
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string sock_path = (s.W() / "sock").string();
  REQUIRE(sock_path.size() < sizeof addr.sun_path);
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path.c_str());
  REQUIRE(bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  close(sock);
  WriteFile(s.W() / "real.txt", "x\n");
  absl::StatusOr<ChangeSet> c = s.Collect();
  REQUIRE(c.ok());
  REQUIRE(c->files.size() == 1);
  CHECK(c->files[0].path == "real.txt");
  REQUIRE(c->skipped.size() == 2);
  CHECK(c->skipped[0].path == "pipe");
  CHECK(c->skipped[0].kind == "fifo");
  CHECK(c->skipped[1].path == "sock");
  CHECK(c->skipped[1].kind == "socket");
  // Listed, and bounded: past the limit a refusal, not an ever longer list.
  for (int i = 0; i < 5; ++i) REQUIRE(mkfifo((s.W() / ("p" + std::to_string(i))).c_str(), 0644) == 0);
  absl::StatusOr<ChangeSet> many = s.Collect({.max_skipped = 4});
  REQUIRE(absl::IsResourceExhausted(many.status()));
  CHECK(Has(std::string(many.status().message()), "more than 4 fifos"));
}

TEST_CASE("change set: limits refuse before anything is stored", "[run][git][limits]") {
  SECTION("files") {
    Stage s;
    for (int i = 0; i < 4; ++i) WriteFile(s.W() / ("n" + std::to_string(i)), "x\n");
    absl::StatusOr<ChangeSet> c = s.Collect({.max_files = 3});
    REQUIRE(absl::IsResourceExhausted(c.status()));
    CHECK(Has(std::string(c.status().message()), "more than 3 files changed (--max-files)"));
    CHECK(s.Collect({.max_files = 4}).ok());
  }
  SECTION("one file's size") {
    Stage s;
    WriteFile(s.W() / "big.bin", std::string(2048, 'b'));
    absl::StatusOr<ChangeSet> c = s.Collect({.max_file_size = 2047});
    REQUIRE(absl::IsResourceExhausted(c.status()));
    CHECK(Has(std::string(c.status().message()), "big.bin has 2048 bytes"));
    CHECK(Has(std::string(c.status().message()), "--max-file-size"));
  }
  SECTION("the total") {
    Stage s;
    WriteFile(s.W() / "one", std::string(600, '1'));
    WriteFile(s.W() / "two", std::string(600, '2'));
    absl::StatusOr<ChangeSet> c = s.Collect({.max_total_size = 1024});
    REQUIRE(absl::IsResourceExhausted(c.status()));
    CHECK(Has(std::string(c.status().message()), "--max-total-size"));
  }
  SECTION("entries looked at, depth, a huge .gitignore") {
    Stage s;
    for (int i = 0; i < 50; ++i) WriteFile(s.W() / "vendor" / ".." / ("x" + std::to_string(i) + ".log"), "");
    absl::StatusOr<ChangeSet> many = s.Collect({.max_entries = 20});
    REQUIRE(absl::IsResourceExhausted(many.status()));
    CHECK(Has(std::string(many.status().message()), "entries"));
    fs::path deep = s.W();
    for (int i = 0; i < 12; ++i) deep /= "d";
    WriteFile(deep / "f", "x");
    absl::StatusOr<ChangeSet> too_deep = s.Collect({.max_depth = 8});
    REQUIRE(absl::IsResourceExhausted(too_deep.status()));
    CHECK(Has(std::string(too_deep.status().message()), "deeper than 8"));
    WriteFile(s.W() / "dir" / ".gitignore", std::string(5000, '#'));
    absl::StatusOr<ChangeSet> big_ignore = s.Collect({.max_gitignore_bytes = 4096});
    REQUIRE(absl::IsResourceExhausted(big_ignore.status()));
    CHECK(Has(std::string(big_ignore.status().message()), "dir/.gitignore"));
  }
}

TEST_CASE("change set: every byte of every changed file is scanned, whatever its size", "[run][git][scan]") {
  Stage s;
  std::string big(17u << 20, 'p');
  big += "tok-after-the-padding-42";
  WriteFile(s.W() / "big.txt", big);
  absl::StatusOr<ChangeSet> c = s.Collect({}, {{"TOKEN", "tok-after-the-padding-42"}});
  REQUIRE(c.ok());
  REQUIRE(c->leaks.size() == 1);
  CHECK(c->leaks[0].secret == "TOKEN");
  CHECK(c->leaks[0].where == "big.txt");
}

TEST_CASE("check workspace: reset to the change set's tree after setup, without following what setup planted", "[run][git][hostile]") {
  Stage s;
  WriteFile(s.W() / "a.txt", "agent's edit\n");
  WriteFile(s.W() / "dir" / "sub" / "new.txt", "agent's file\n");
  fs::remove(s.W() / "gone" / "x.txt");
  absl::StatusOr<ChangeSet> c = s.Collect();
  REQUIRE(c.ok());
  REQUIRE_FALSE(c->tree.empty());

  // The check's workspace from the same base; setup then plants things.
  absl::StatusOr<Workspace> check = Workspace::Create(*s.run_repo, (s.t.root / "task" / "check").string(), {});
  REQUIRE(check.ok());
  fs::path w = check->dir();
  fs::path outside = s.t.root / "outside";
  fs::create_directories(outside);
  WriteFile(outside / "victim.txt", "host file\n");
  fs::remove_all(w / "dir");
  fs::create_symlink(outside, w / "dir");                  // the tree's directory as a symlink out
  WriteFile(w / "setup-generated.txt", "not ignored\n");   // not in the tree: goes
  WriteFile(w / "vendor" / "installed.js", "kept\n");      // ignored: stays
  WriteFile(w / "a.txt", "setup rewrote it\n");
  absl::StatusOr<size_t> reset = check->ResetTo(c->tree, {});
  INFO((reset.ok() ? std::string() : std::string(reset.status().message())));
  REQUIRE(reset.ok());
  CHECK(*reset > 0);
  CHECK_FALSE(fs::is_symlink(w / "dir"));
  CHECK(fs::is_regular_file(w / "dir" / "sub" / "new.txt"));
  CHECK(fs::exists(outside / "victim.txt"));
  CHECK_FALSE(fs::exists(outside / "sub"));
  CHECK_FALSE(fs::exists(w / "setup-generated.txt"));
  CHECK(fs::exists(w / "vendor" / "installed.js"));
  CHECK_FALSE(fs::exists(w / "gone" / "x.txt"));
  // A second collection of the check's workspace gives the same tree.
  SecretScanner scanner({});
  absl::StatusOr<ChangeSet> again = check->Collect({}, scanner, "again\n", "airlock/again");
  REQUIRE(again.ok());
  CHECK(again->tree == c->tree);
}

TEST_CASE("secret scan: contents, file names, the patch; names only, each place once", "[run][scan]") {
  std::vector<Secret> secrets = {{"NPM_TOKEN", "npm_s3cr3t"}, {"GH_TOKEN", "ghp_abc"}, {"EMPTY", ""}};
  std::vector<ScanInput> files = {
      {"src/config.js", "const t = 'npm_s3cr3t'; // and again npm_s3cr3t"},
      {"notes/ghp_abc.txt", "harmless"},
      {"clean.txt", "nothing here"},
      {"bin.dat", std::string("\0\1npm_s3cr3t\0", 14)},
  };
  std::vector<SecretFinding> found = ScanForSecrets(secrets, files, "patch text");
  REQUIRE(found.size() == 3);
  CHECK(found[0].secret == "NPM_TOKEN");
  CHECK(found[0].where == "src/config.js");
  CHECK(found[1].where == "bin.dat");
  CHECK(found[2].secret == "GH_TOKEN");
  CHECK(found[2].where == "a file name: notes/ghp_abc.txt");
  // A value only the patch holds (e.g. the commit message).
  std::vector<SecretFinding> in_patch = ScanForSecrets(secrets, {{"a", "x"}}, "Subject: ghp_abc");
  REQUIRE(in_patch.size() == 1);
  CHECK(in_patch[0].where == "the patch");
  CHECK(ScanForSecrets(secrets, {{"a", "clean"}}, "clean").empty());
  CHECK(ScanForSecrets({}, files, "npm_s3cr3t").empty());
}

TEST_CASE("change set: the agent's own `git init` at the top is left out, never read", "[run][git][hostile]") {
  Stage s;
  WriteFile(s.W() / ".git/config", "[core]\n\tfsmonitor = touch /tmp/never\n");
  WriteFile(s.W() / ".git/HEAD", "ref: refs/heads/main\n");
  WriteFile(s.W() / "a.txt", "edited\n");
  absl::StatusOr<ChangeSet> c = s.Collect();
  REQUIRE(c.ok());
  REQUIRE(c->files.size() == 1);
  CHECK(c->files[0].path == "a.txt");
  REQUIRE(c->left_out.size() == 1);
  CHECK(Has(c->left_out[0], ".git (a repository made in the workspace"));
}

TEST_CASE("git names: the same names git refuses with protectNTFS and protectHFS", "[run][git][names]") {
  TempRepo t;
  std::string blob = *Git({"hash-object", "-w", "a.txt"}, {.cwd = t.repo});
  blob.pop_back();
  const std::vector<std::string> names = {
      ".git", ".GIT", ".Git", "git~1", "GIT~1", ".git.", ".git ", ".git. .", ".git .\\z", "git~1 \\y", ".git:x", "git~1:y",
      ".gitx", "x.git", ".gi", "git~2", "git~10", ".g\xe2\x80\x8cit", ".git\xe2\x80\x8c", "\xef\xbb\xbf.git", ".gi\xe2\x80\xaet",
      "normal", ".gitignore", ".gitmodules", ".GITMODULES", ".gitmodules .", "gitmod~1", "gitmod~4", "gitmod~5", "gi7eba~1",
      "gi7eba~9", "GI7EBA~2", "gi7ebb~1", ".gitmodules:x", ".gitmodulesx", ".g\xe2\x80\x8citmodules", "gitmodules"};
  for (const std::string& name : names) {
    INFO("name: " << QuotePath(name));
    // git's verify_path on a directory component (any mode) and on a symlink's own name, each
    // into an empty index (no other entry to conflict with).
    REQUIRE(Git({"read-tree", "--empty"}, {.cwd = t.repo}).ok());
    absl::StatusOr<GitResult> as_dir = RunGit({"-c", "core.protectNTFS=true", "-c", "core.protectHFS=true", "update-index",
                                               "--add", "--cacheinfo", "100644," + blob + "," + name + "/f"},
                                              {.cwd = t.repo});
    REQUIRE(as_dir.ok());
    CHECK(IsGitDirName(name) == (as_dir->exit_code != 0));
    REQUIRE(Git({"read-tree", "--empty"}, {.cwd = t.repo}).ok());
    absl::StatusOr<GitResult> as_link = RunGit({"-c", "core.protectNTFS=true", "-c", "core.protectHFS=true", "update-index",
                                                "--add", "--cacheinfo", "120000," + blob + "," + name},
                                               {.cwd = t.repo});
    REQUIRE(as_link.ok());
    CHECK((IsGitDirName(name) || IsGitModulesName(name)) == (as_link->exit_code != 0));
  }
}

TEST_CASE("change set: .gitignore files cannot make the walk costly", "[run][git][limits][hostile]") {
  SECTION("nested .gitignore files that ignore themselves: bounded together") {
    Stage s;
    fs::path d = s.W();
    std::string patterns(3000, 'q');
    patterns += "\n.gitignore\n";
    for (int i = 0; i < 5; ++i) {
      d /= "d";
      WriteFile(d / ".gitignore", patterns);
    }
    WriteFile(d / "x.txt", "x\n");
    CHECK(s.Collect({.max_gitignore_bytes = 16000}).ok());
    absl::StatusOr<ChangeSet> c = s.Collect({.max_gitignore_bytes = 12000});
    REQUIRE(absl::IsResourceExhausted(c.status()));
    CHECK(Has(std::string(c.status().message()), "together"));
  }
  SECTION("rule levels asked, over the walk") {
    Stage s;
    for (int i = 0; i < 200; ++i) WriteFile(s.W() / ("x" + std::to_string(i) + ".log"), "");
    CHECK(s.Collect({.max_ignore_work = 100000}).ok());
    absl::StatusOr<ChangeSet> c = s.Collect({.max_ignore_work = 50});
    REQUIRE(absl::IsResourceExhausted(c.status()));
    CHECK(Has(std::string(c.status().message()), ".gitignore"));
  }
}

TEST_CASE("change set: a tree deeper than the fd limit is walked and removed with a few fds", "[run][git][hostile]") {
  Stage s;
  fs::path deep = s.W() / "deep";
  std::string rel = "deep";
  for (int i = 0; i < 300; ++i) rel += "/d";
  // Made by relative mkdirs (the full path is longer than the kernel takes in one call).
  int fd = open(s.W().c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(mkdirat(fd, "deep", 0755) == 0);
  int cur = openat(fd, "deep", O_RDONLY | O_DIRECTORY);
  close(fd);
  for (int i = 0; i < 1500; ++i) {
    REQUIRE(mkdirat(cur, "d", 0755) == 0);
    int next = openat(cur, "d", O_RDONLY | O_DIRECTORY);
    close(cur);
    cur = next;
  }
  int file = openat(cur, "f", O_WRONLY | O_CREAT, 0644);
  close(file);
  close(cur);
  rlimit saved{};
  getrlimit(RLIMIT_NOFILE, &saved);
  rlimit low{64, saved.rlim_max};
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  absl::StatusOr<ChangeSet> c = s.Collect();  // deeper than the walk goes: a limit, not EMFILE
  int top = open(s.W().c_str(), O_RDONLY | O_DIRECTORY);
  absl::Status removed = RemoveEntry(top, "deep");
  close(top);
  setrlimit(RLIMIT_NOFILE, &saved);
  REQUIRE_FALSE(c.ok());
  INFO(c.status().message());
  CHECK(absl::IsResourceExhausted(c.status()));
  CHECK(Has(std::string(c.status().message()), "deeper than 1024"));
  CHECK(removed.ok());
  CHECK_FALSE(fs::exists(deep));
}

TEST_CASE("change set: a name holding a secret is never shown, only which secret", "[run][git][scan]") {
  Stage s;
  const std::string value = "tok-in-a-name-1234";
  WriteFile(s.W() / ("notes-" + value + ".txt"), "harmless\n");
  REQUIRE(mkfifo((s.W() / ("fifo-" + value)).c_str(), 0644) == 0);
  absl::StatusOr<ChangeSet> c = s.Collect({}, {{"TOKEN", value}});
  REQUIRE(c.ok());
  REQUIRE(c->files.size() == 1);
  CHECK(c->files[0].name_hidden);
  CHECK(c->files[0].path == "<a name holding secret TOKEN>");
  REQUIRE(c->skipped.size() == 1);
  CHECK(c->skipped[0].path == "<a name holding secret TOKEN>");
  REQUIRE_FALSE(c->leaks.empty());
  for (const SecretFinding& leak : c->leaks) CHECK(leak.where.find(value) == std::string::npos);
}

TEST_CASE("check workspace: a tracked file the .gitignore files exclude, deleted by the agent, is gone too", "[run][git][hostile]") {
  Stage s;
  // vendor-tracked/ is ignored but its keep.txt is tracked; the agent deletes it and a directory.
  fs::remove(s.W() / "vendor-tracked" / "keep.txt");
  fs::remove_all(s.W() / "dir" / "sub");
  absl::StatusOr<ChangeSet> c = s.Collect();
  REQUIRE(c.ok());
  REQUIRE(Has(Statuses(*c), "D vendor-tracked/keep.txt\n"));
  absl::StatusOr<Workspace> check = Workspace::Create(*s.run_repo, (s.t.root / "task" / "check").string(), {});
  REQUIRE(check.ok());
  WriteFile(fs::path(check->dir()) / "vendor-tracked" / "installed-by-setup", "stays\n");
  REQUIRE(check->ResetTo(c->tree, {}).ok());
  CHECK_FALSE(fs::exists(fs::path(check->dir()) / "vendor-tracked" / "keep.txt"));
  CHECK(fs::exists(fs::path(check->dir()) / "vendor-tracked" / "installed-by-setup"));
  CHECK_FALSE(fs::exists(fs::path(check->dir()) / "dir" / "sub"));  // no empty directory left behind
}
