// airlock run's repository side against real git repositories in a temp dir: checks on the
// user's repository, the disposable workspace, the change set, the branch; and the secret scan.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cmd/airlock/run/git.h"
#include "cmd/airlock/run/secret_scan.h"
#include "cmd/airlock/run/workspace.h"

namespace {

using namespace airlock::run;
namespace fs = std::filesystem;

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

struct TempRepo {
  fs::path root;
  std::string repo;
  TempRepo() {
    root = fs::temp_directory_path() / ("airlock-run-git-" + std::to_string(getpid()) + "-" + std::to_string(rand()));
    fs::create_directories(root / "src");
    repo = (root / "src").string();
    Write("a.txt", "alpha\n");
    Write("dir/b.txt", "beta\n");
    Write(".gitignore", "vendor/\n");
    GitOk({"init", "-q", "-b", "main"});
    GitOk({"add", "-A"});
    GitOk({"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"});
  }
  ~TempRepo() { fs::remove_all(root); }
  void Write(const std::string& rel, const std::string& text, const std::string& base = "") const {
    fs::path p = fs::path(base.empty() ? repo : base) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string GitOk(const std::vector<std::string>& args) const {
    absl::StatusOr<std::string> out = Git(args, {.cwd = repo});
    REQUIRE(out.ok());
    return *out;
  }
};

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

TEST_CASE("workspace: HEAD without .git, change set of exactly the edits, branch only in the user's repo", "[run][git]") {
  TempRepo t;
  SourceRepo repo = *InspectRepo(t.repo);
  std::string head_before = t.GitOk({"rev-parse", "main"});
  fs::create_directories(t.root / "task");
  absl::StatusOr<Workspace> ws = Workspace::Create(repo, (t.root / "task").string(), "airlock/t1");
  REQUIRE(ws.ok());
  CHECK(fs::exists(fs::path(ws->dir()) / "a.txt"));
  CHECK(fs::exists(fs::path(ws->dir()) / "dir" / "b.txt"));
  CHECK_FALSE(fs::exists(fs::path(ws->dir()) / ".git"));

  // The sandbox's edits: a change, a new file, a deletion, an ignored file, hooks it cannot plant.
  t.Write("a.txt", "alpha\nmore\n", ws->dir());
  t.Write("new.txt", "new\n", ws->dir());
  fs::remove(fs::path(ws->dir()) / "dir" / "b.txt");
  t.Write("vendor/dep", "fetched by setup\n", ws->dir());
  t.Write(".git/hooks/pre-commit", "#!/bin/sh\ntouch /tmp/airlock-run-test-hook-ran\nexit 1\n", ws->dir());
  fs::permissions(fs::path(ws->dir()) / ".git/hooks/pre-commit", fs::perms::owner_all);

  absl::StatusOr<ChangeSet> changes = ws->Collect("airlock run t1\n");
  REQUIRE(changes.ok());
  REQUIRE(changes->files.size() == 3);
  CHECK(changes->files[0].status == 'M');
  CHECK(changes->files[0].path == "a.txt");
  CHECK(changes->files[1].status == 'D');
  CHECK(changes->files[1].path == "dir/b.txt");
  CHECK(changes->files[2].status == 'A');
  CHECK(changes->files[2].path == "new.txt");
  CHECK(changes->insertions == 2);
  CHECK(changes->deletions == 1);
  CHECK(Has(changes->patch, "Subject: [PATCH] airlock run t1"));
  CHECK(Has(changes->patch, "+more"));
  CHECK_FALSE(Has(changes->patch, "vendor/dep"));
  CHECK(*ws->BlobBytes(changes->files[2].new_blob) == "new\n");
  CHECK_FALSE(fs::exists("/tmp/airlock-run-test-hook-ran"));

  REQUIRE(PublishBranch(repo, *ws, "airlock/t1").ok());
  CHECK(t.GitOk({"rev-parse", "airlock/t1"}) == changes->commit + "\n");
  CHECK(t.GitOk({"rev-parse", "main"}) == head_before);
  CHECK(t.GitOk({"status", "--porcelain"}).empty());
  CHECK(t.GitOk({"rev-parse", "--abbrev-ref", "HEAD"}) == "main\n");
  // The branch holds exactly the workspace's edits on top of HEAD.
  CHECK(t.GitOk({"diff", "--name-status", "main", "airlock/t1"}) == "M\ta.txt\nD\tdir/b.txt\nA\tnew.txt\n");
  CHECK(t.GitOk({"rev-parse", "airlock/t1^"}) == head_before);
}

TEST_CASE("workspace: no edits, no commit", "[run][git]") {
  TempRepo t;
  SourceRepo repo = *InspectRepo(t.repo);
  fs::create_directories(t.root / "task");
  absl::StatusOr<Workspace> ws = Workspace::Create(repo, (t.root / "task").string(), "airlock/t2");
  REQUIRE(ws.ok());
  t.Write("vendor/only-ignored", "x\n", ws->dir());
  absl::StatusOr<ChangeSet> changes = ws->Collect("nothing\n");
  REQUIRE(changes.ok());
  CHECK(changes->commit.empty());
  CHECK(changes->files.empty());
}

TEST_CASE("diff-tree parsing", "[run][git]") {
  std::string raw;
  for (const char* field : {":100644 100644 aaa bbb M", "a b.txt", ":000000 120000 000 ccc A", "link",
                            ":100644 000000 ddd 000 D", "gone"}) {
    raw += field;
    raw.push_back('\0');
  }
  absl::StatusOr<std::vector<ChangedFile>> files = ParseDiffTree(raw);
  REQUIRE(files.ok());
  REQUIRE(files->size() == 3);
  CHECK((*files)[0].path == "a b.txt");
  CHECK((*files)[0].new_blob == "bbb");
  CHECK((*files)[1].new_mode == "120000");
  CHECK((*files)[2].status == 'D');
  CHECK((*files)[2].new_blob.empty());
  CHECK_FALSE(ParseDiffTree(std::string("garbage\0x\0", 10)).ok());
  CHECK(ParseDiffTree("")->empty());
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
