// The setup cache's capture of a workspace a hostile sandbox wrote (cmd/airlock/cache/
// workspace_capture.h): symlinks never followed, mounts never crossed, special files never opened,
// names never shown raw, bounds that refuse instead of truncating; then the plain capture rules
// (tracked paths left out, parents made), the check of a cached lower layer against a new tree,
// and the secret scan of a whole tree. Runs as root (mknod, chown, mount).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "cmd/airlock/cache/workspace_capture.h"
#include "cmd/airlock/run/change_walk.h"
#include "cmd/airlock/run/git_store.h"
#include "cmd/airlock/run/tree_checkout.h"
#include "policy/sandbox/secret_scan.h"
#include "shim/base/terminal_text.h"
#include "shim/base/unique_fd.h"

namespace {

using namespace airlock;
using namespace airlock::cache;
using airlock::run::BaseTree;
using airlock::run::GitStore;
using airlock::run::kModeExecutable;
using airlock::run::kModeFile;
using airlock::run::kModeGitlink;
using airlock::run::kModeSymlink;
namespace fs = std::filesystem;

constexpr uid_t kUid = 1234;
constexpr gid_t kGid = 2345;
const char kSecretValue[] = "s3cr3t-VALUE-0123456789-abcdef";

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// No byte a terminal would act on: no C0 control, no DEL, no ESC.
bool Printable(const std::string& text) {
  return std::none_of(text.begin(), text.end(), [](char c) {
    const unsigned char u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// A private temp directory, removed (whatever is in it) however the test ends.
struct TempDir {
  fs::path path;
  TempDir() {
    char name[] = "/tmp/airlock-cache-test-XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    path = name;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// A mount undone however the test ends (declared after the TempDir holding it: undone first).
struct ScopedMount {
  std::string target;
  bool mounted = false;
  std::string error;
  ScopedMount(const std::string& source, const std::string& where, const char* type, unsigned long flags,
              const char* data = nullptr)
      : target(where) {
    mounted = mount(source.c_str(), where.c_str(), type, flags, data) == 0;
    if (!mounted) error = std::strerror(errno);
  }
  ~ScopedMount() {
    if (mounted) umount2(target.c_str(), MNT_DETACH);
  }
  ScopedMount(const ScopedMount&) = delete;
  ScopedMount& operator=(const ScopedMount&) = delete;
};

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct stat Lstat(const fs::path& p) {
  struct stat st {};
  REQUIRE(lstat(p.c_str(), &st) == 0);
  return st;
}

bool Exists(const fs::path& p) {
  struct stat st {};
  return lstat(p.c_str(), &st) == 0;
}

UniqueFd OpenDir(const fs::path& p) {
  UniqueFd fd(open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(fd.valid());
  return fd;
}

// Every path beneath `root` (symlinks not followed), sorted.
std::vector<std::string> Listing(const fs::path& root) {
  std::vector<std::string> paths;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(root)) {
    paths.push_back(e.path().lexically_relative(root).string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

size_t OpenFds() { return static_cast<size_t>(std::distance(fs::directory_iterator("/proc/self/fd"), {})); }

// One entry of a tree to build: a file's bytes, a symlink's target; a gitlink's content is ignored.
struct Spec {
  std::string path;
  uint32_t mode = kModeFile;
  std::string content;
};

// An object store of its own, and trees made in it entry by entry (the way the run's store is used).
struct Store {
  fs::path dir;
  std::unique_ptr<GitStore> store;
  explicit Store(const fs::path& under) : dir(under / "git") {
    fs::create_directories(under / "no-alternate");
    absl::StatusOr<std::unique_ptr<GitStore>> made = GitStore::Create(dir.string(), (under / "no-alternate").string());
    INFO((made.ok() ? std::string() : std::string(made.status().message())));
    REQUIRE(made.ok());
    store = *std::move(made);
  }
  BaseTree Tree(const std::vector<Spec>& specs) {
    git_treebuilder* builder = nullptr;
    REQUIRE(git_treebuilder_new(&builder, store->repo(), nullptr) == 0);
    git_oid empty;
    const int wrote = git_treebuilder_write(&empty, builder);
    git_treebuilder_free(builder);
    REQUIRE(wrote == 0);
    std::vector<run::TreeUpdate> updates;
    for (const Spec& spec : specs) {
      run::TreeUpdate update{.path = spec.path, .mode = spec.mode};
      if (spec.mode == kModeGitlink) {
        absl::StatusOr<git_oid> commit = run::ParseOid("0123456789abcdef0123456789abcdef01234567");
        REQUIRE(commit.ok());
        update.blob = *commit;
      } else {
        absl::StatusOr<git_oid> blob = store->WriteBlob(spec.content);
        REQUIRE(blob.ok());
        update.blob = *blob;
      }
      updates.push_back(update);
    }
    absl::StatusOr<git_oid> tree = store->UpdateTree(empty, updates);
    INFO((tree.ok() ? std::string() : std::string(tree.status().message())));
    REQUIRE(tree.ok());
    absl::StatusOr<BaseTree> base = BaseTree::Load(*store, *tree);
    INFO((base.ok() ? std::string() : std::string(base.status().message())));
    REQUIRE(base.ok());
    return *std::move(base);
  }
};

std::vector<Spec> DefaultSpecs() {
  return {
      {"README.md", kModeFile, "readme\n"},
      {"package.json", kModeFile, "{}\n"},
      {"src/main.c", kModeFile, "int main() {}\n"},
      {"src/lib/util.c", kModeFile, "void util() {}\n"},
      {"tool.sh", kModeExecutable, "#!/bin/sh\n"},
      {"link", kModeSymlink, "README.md"},
      {"third_party/sub", kModeGitlink, ""},
      {"a-b", kModeFile, "sorts between a and a/\n"},
      {"a/x", kModeFile, "x\n"},
  };
}

// A workspace checked out from a tree (what `airlock run` writes), an empty cache directory, and
// the capture of what the test then adds as "setup".
struct Fixture {
  TempDir tmp;
  Store store{tmp.path};
  BaseTree base;
  fs::path ws = tmp.path / "ws";
  fs::path dest = tmp.path / "cache";
  fs::path outside = tmp.path / "outside";  // what the sandbox's symlinks point at
  std::vector<SecretFinding> findings;

  explicit Fixture(const std::vector<Spec>& specs = DefaultSpecs()) : base(store.Tree(specs)) {
    fs::create_directories(ws);
    fs::create_directories(dest);
    fs::create_directories(outside);
    UniqueFd ws_fd = OpenDir(ws);
    absl::StatusOr<run::CheckoutStamps> stamps = run::CheckoutTree(*store.store, base, ws_fd.get(), run::Owner{});
    INFO((stamps.ok() ? std::string() : std::string(stamps.status().message())));
    REQUIRE(stamps.ok());
  }

  absl::StatusOr<CaptureStats> Capture(const CaptureLimits& limits = {}, const std::vector<Secret>& secrets = {}) {
    UniqueFd ws_fd = OpenDir(ws);
    UniqueFd dest_fd = OpenDir(dest);
    SecretScanner scanner(secrets);
    absl::StatusOr<CaptureStats> stats = CaptureUntracked(ws_fd.get(), base, dest_fd.get(), run::Owner{kUid, kGid}, limits, scanner);
    findings = scanner.findings();
    return stats;
  }
  CaptureStats CaptureOk(const CaptureLimits& limits = {}, const std::vector<Secret>& secrets = {}) {
    absl::StatusOr<CaptureStats> stats = Capture(limits, secrets);
    INFO((stats.ok() ? std::string() : std::string(stats.status().message())));
    REQUIRE(stats.ok());
    return *std::move(stats);
  }
};

std::vector<std::string> Wheres(const std::vector<SecretFinding>& findings) {
  std::vector<std::string> out;
  for (const SecretFinding& f : findings) out.push_back(f.secret + " @ " + f.where);
  return out;
}

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

void MakeSocket(const fs::path& p) {
  UniqueFd s(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(s.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(p.string().size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, p.c_str(), p.string().size());
  REQUIRE(bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
}

void SetMtime(const fs::path& p, time_t seconds) {
  const struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
  REQUIRE(utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

// `levels` nested directories "d" under `top`, made by fd (never a long path).
void MakeDeep(const fs::path& top, size_t levels) {
  UniqueFd dir = OpenDir(top);
  for (size_t i = 0; i < levels; ++i) {
    REQUIRE(mkdirat(dir.get(), "d", 0755) == 0);
    UniqueFd next(openat(dir.get(), "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    REQUIRE(next.valid());
    dir = std::move(next);
  }
  UniqueFd leaf(openat(dir.get(), "leaf.txt", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  REQUIRE(leaf.valid());
}

}  // namespace

// ----------------------------------------------------------------------------------------------
// Attacks first.

TEST_CASE("capture: a symlink to /etc/passwd is copied as a symlink, /etc/passwd never read", "[cache][hostile]") {
  Fixture f;
  // The first line of /etc/passwd as the "secret": read once, it would be found.
  std::string passwd_line = ReadFile("/etc/passwd");
  passwd_line = passwd_line.substr(0, passwd_line.find('\n'));
  REQUIRE(passwd_line.size() >= 8);
  fs::create_directories(f.ws / "node_modules/.bin");
  fs::create_symlink("/etc/passwd", f.ws / "node_modules/.bin/passwd");
  fs::create_symlink("/etc", f.ws / "etc-link");
  WriteFile(f.outside / "secret.txt", kSecretValue);
  fs::create_symlink(f.outside, f.ws / "vendor");
  CaptureStats stats = f.CaptureOk({}, {{"PASSWD", passwd_line}, {"TOKEN", kSecretValue}});
  INFO(Catch::Detail::stringify(Wheres(f.findings)));
  CHECK(f.findings.empty());
  CHECK(S_ISLNK(Lstat(f.dest / "node_modules/.bin/passwd").st_mode));
  CHECK(fs::read_symlink(f.dest / "node_modules/.bin/passwd") == "/etc/passwd");
  CHECK(fs::read_symlink(f.dest / "etc-link") == "/etc");
  CHECK(fs::read_symlink(f.dest / "vendor") == f.outside);
  CHECK(Lstat(f.dest / "vendor").st_uid == kUid);
  CHECK(stats.symlinks == 3);
  CHECK(stats.files == 0);
  CHECK(stats.bytes == 0);
}

TEST_CASE("capture: a symlinked directory in the middle of a path is never walked through", "[cache][hostile]") {
  Fixture f;
  WriteFile(f.outside / "index.js", std::string("module.exports = '") + kSecretValue + "';\n");
  WriteFile(f.outside / "lib/deep.js", kSecretValue);
  // An untracked directory holding a symlink to a directory outside.
  fs::create_directories(f.ws / "node_modules");
  fs::create_symlink(f.outside, f.ws / "node_modules/pkg");
  // A tracked directory setup replaced by a symlink: a tracked path, left out, never followed.
  fs::remove_all(f.ws / "src");
  fs::create_symlink(f.outside, f.ws / "src");
  CaptureStats stats = f.CaptureOk({}, {{"TOKEN", kSecretValue}});
  INFO(Catch::Detail::stringify(Wheres(f.findings)));
  CHECK(f.findings.empty());
  CHECK(S_ISLNK(Lstat(f.dest / "node_modules/pkg").st_mode));
  CHECK(Listing(f.dest) == std::vector<std::string>{"node_modules", "node_modules/pkg"});
  CHECK(stats.files == 0);
  CHECK(stats.dirs == 1);
  CHECK(stats.symlinks == 1);
}

TEST_CASE("capture and scan: a mount point inside the workspace is an error, never crossed", "[cache][hostile]") {
  Fixture f;
  fs::create_directories(f.ws / "node_modules/mnt");
  {
    ScopedMount tmpfs("tmpfs", (f.ws / "node_modules/mnt").string(), "tmpfs", 0, "size=1m");
    if (!tmpfs.mounted) {
      WARN("cannot mount a tmpfs (" << tmpfs.error << "): the mount point test is skipped");
      return;
    }
    WriteFile(f.ws / "node_modules/mnt/inside.txt", kSecretValue);
    absl::StatusOr<CaptureStats> stats = f.Capture({}, {{"TOKEN", kSecretValue}});
    REQUIRE_FALSE(stats.ok());
    CHECK(stats.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(Has(std::string(stats.status().message()), "node_modules/mnt is a mount point"));
    CHECK(f.findings.empty());
    CHECK_FALSE(Exists(f.dest / "node_modules/mnt/inside.txt"));

    UniqueFd ws_fd = OpenDir(f.ws);
    SecretScanner scanner(std::vector<Secret>{{"TOKEN", kSecretValue}});
    absl::StatusOr<uint64_t> scanned = ScanTreeForSecrets(ws_fd.get(), scanner, {});
    REQUIRE_FALSE(scanned.ok());
    CHECK(scanned.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(scanner.findings().empty());
  }
  // A file bind-mounted over an untracked file: a mount point too, though no directory.
  fs::remove_all(f.dest);
  fs::create_directories(f.dest);
  WriteFile(f.ws / "node_modules/plain.txt", "plain\n");
  WriteFile(f.outside / "host-secret.txt", kSecretValue);
  ScopedMount bind((f.outside / "host-secret.txt").string(), (f.ws / "node_modules/plain.txt").string(), nullptr, MS_BIND);
  if (!bind.mounted) {
    WARN("cannot bind-mount a file (" << bind.error << "): that part is skipped");
    return;
  }
  absl::StatusOr<CaptureStats> stats = f.Capture({}, {{"TOKEN", kSecretValue}});
  REQUIRE_FALSE(stats.ok());
  CHECK(stats.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(Has(std::string(stats.status().message()), "node_modules/plain.txt is a mount point"));
  CHECK(f.findings.empty());
}

TEST_CASE("capture: fifos, sockets and devices are never opened, never copied, listed", "[cache][hostile]") {
  Fixture f;
  fs::create_directories(f.ws / "node_modules");
  REQUIRE(mkfifo((f.ws / "node_modules/fifo").c_str(), 0644) == 0);
  MakeSocket(f.ws / "node_modules/sock");
  REQUIRE(mknod((f.ws / "node_modules/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
  REQUIRE(mknod((f.ws / "node_modules/loop").c_str(), S_IFBLK | 0600, makedev(7, 0)) == 0);
  REQUIRE(mkfifo((f.ws / "top-fifo").c_str(), 0644) == 0);  // untracked at the top: not a captured path
  WriteFile(f.ws / "node_modules/real.js", "x\n");
  CaptureStats stats = f.CaptureOk();  // a fifo opened for reading would block here
  std::vector<std::string> skipped = stats.skipped;
  std::sort(skipped.begin(), skipped.end());
  CHECK(skipped == std::vector<std::string>{"node_modules/fifo (fifo)", "node_modules/loop (block device)",
                                            "node_modules/null (character device)", "node_modules/sock (socket)",
                                            "top-fifo (fifo)"});
  CHECK(stats.skipped_more == 0);
  for (const char* name : {"fifo", "sock", "null", "loop"}) CHECK_FALSE(Exists(f.dest / "node_modules" / name));
  CHECK_FALSE(Exists(f.dest / "top-fifo"));
  CHECK(ReadFile(f.dest / "node_modules/real.js") == "x\n");
  CHECK(stats.top_level == std::vector<std::string>{"node_modules"});
}

TEST_CASE("capture: setuid, setgid and sticky bits dropped; owner set; mtimes kept", "[cache][hostile]") {
  Fixture f;
  WriteFile(f.ws / "bin/suid", "#!/bin/sh\n");
  REQUIRE(chmod((f.ws / "bin/suid").c_str(), 04755) == 0);
  WriteFile(f.ws / "bin/sgid", "x");
  REQUIRE(chmod((f.ws / "bin/sgid").c_str(), 02750) == 0);
  fs::create_directories(f.ws / "bin/sticky");
  REQUIRE(chmod((f.ws / "bin/sticky").c_str(), 01777) == 0);
  REQUIRE(chmod((f.ws / "bin").c_str(), 02775) == 0);
  WriteFile(f.ws / "bin/private", "p");
  REQUIRE(chmod((f.ws / "bin/private").c_str(), 0600) == 0);
  fs::create_symlink("suid", f.ws / "bin/alias");
  SetMtime(f.ws / "bin/suid", 1'000'000'000);
  SetMtime(f.ws / "bin/alias", 1'100'000'000);
  SetMtime(f.ws / "bin/sticky", 1'200'000'000);
  SetMtime(f.ws / "bin", 1'300'000'000);
  f.CaptureOk();
  struct stat suid = Lstat(f.dest / "bin/suid");
  CHECK((suid.st_mode & 07777) == 0755);
  CHECK(suid.st_uid == kUid);
  CHECK(suid.st_gid == kGid);
  CHECK(suid.st_mtim.tv_sec == 1'000'000'000);
  CHECK((Lstat(f.dest / "bin/sgid").st_mode & 07777) == 0750);
  CHECK((Lstat(f.dest / "bin/private").st_mode & 07777) == 0600);
  struct stat sticky = Lstat(f.dest / "bin/sticky");
  CHECK((sticky.st_mode & 07777) == 0777);
  CHECK(sticky.st_mtim.tv_sec == 1'200'000'000);
  struct stat bin = Lstat(f.dest / "bin");
  CHECK((bin.st_mode & 07777) == 0775);
  CHECK(bin.st_uid == kUid);
  CHECK(bin.st_mtim.tv_sec == 1'300'000'000);
  struct stat alias = Lstat(f.dest / "bin/alias");
  CHECK(S_ISLNK(alias.st_mode));
  CHECK(alias.st_uid == kUid);
  CHECK(alias.st_mtim.tv_sec == 1'100'000'000);
}

TEST_CASE("capture: hard links become separate copies", "[cache][hostile]") {
  Fixture f;
  WriteFile(f.ws / "vendor/a", "shared bytes\n");
  fs::create_hard_link(f.ws / "vendor/a", f.ws / "vendor/b");
  fs::create_directories(f.ws / "vendor/deeper");
  fs::create_hard_link(f.ws / "vendor/a", f.ws / "vendor/deeper/c");
  // A hard link to a tracked file: the untracked name is a copy of its bytes, nothing more.
  fs::create_hard_link(f.ws / "README.md", f.ws / "vendor/readme-link");
  CaptureStats stats = f.CaptureOk();
  CHECK(stats.files == 4);
  struct stat a = Lstat(f.dest / "vendor/a"), b = Lstat(f.dest / "vendor/b"), c = Lstat(f.dest / "vendor/deeper/c");
  CHECK(a.st_nlink == 1);
  CHECK(b.st_nlink == 1);
  CHECK(a.st_ino != b.st_ino);
  CHECK(a.st_ino != c.st_ino);
  CHECK(ReadFile(f.dest / "vendor/b") == "shared bytes\n");
  CHECK(ReadFile(f.dest / "vendor/readme-link") == "readme\n");
  CHECK(Lstat(f.dest / "vendor/readme-link").st_nlink == 1);
  // Writing the copy leaves the workspace's file as it was.
  WriteFile(f.dest / "vendor/b", "changed");
  CHECK(ReadFile(f.ws / "vendor/a") == "shared bytes\n");
}

TEST_CASE("capture: names with a newline and ESC bytes are shown quoted, never raw", "[cache][hostile]") {
  Fixture f;
  const std::string evil = "evil\n\x1b[31mred\x1b]0;title\x07";
  WriteFile(f.ws / evil, "x");
  fs::create_directories(f.ws / "node_modules");
  REQUIRE(mkfifo((f.ws / "node_modules" / (evil + "-fifo")).c_str(), 0644) == 0);
  CaptureStats stats = f.CaptureOk();
  REQUIRE(stats.top_level.size() == 2);
  CHECK(Contains(stats.top_level, QuotePath(evil)));
  REQUIRE(stats.skipped.size() == 1);
  CHECK(stats.skipped[0] == QuotePath("node_modules/" + evil + "-fifo") + " (fifo)");
  for (const std::string& s : stats.top_level) CHECK(Printable(s));
  for (const std::string& s : stats.skipped) CHECK(Printable(s));
  CHECK(ReadFile(f.dest / evil) == "x");  // the bytes of the name kept exactly in the cache

  // An error naming such a path is quoted too.
  Fixture g({{"README.md", kModeFile, "r"}});
  fs::create_directories(g.ws / (evil + "dir") / "inner");
  CaptureLimits limits;
  limits.max_depth = 1;
  absl::StatusOr<CaptureStats> refused = g.Capture(limits);
  REQUIRE_FALSE(refused.ok());
  CHECK(Has(std::string(refused.status().message()), QuotePath(evil + "dir/inner")));
  CHECK(Printable(std::string(refused.status().message())));
}

TEST_CASE("capture: a secret's value in a file, in base64, in a file name is found; the name is never shown", "[cache][hostile][secret]") {
  Fixture f;
  WriteFile(f.ws / "node_modules/.cache/raw.txt", std::string("token: ") + kSecretValue + "\n");
  WriteFile(f.ws / ".venv/encoded.txt", "auth=" + absl::Base64Escape(std::string("user:") + kSecretValue) + "\n");
  WriteFile(f.ws / "vendor" / (std::string("key-") + kSecretValue), "harmless\n");
  // A value across the boundary of two read chunks (1 MiB) is found as well.
  std::string big(1 << 20, 'a');
  big.replace(big.size() - 5, 5, std::string(kSecretValue).substr(0, 5));
  big += std::string(kSecretValue).substr(5);
  WriteFile(f.ws / "build/big.bin", big);
  CaptureStats stats = f.CaptureOk({}, {{"TOKEN", kSecretValue}});
  std::vector<std::string> found = Wheres(f.findings);
  INFO(Catch::Detail::stringify(found));
  CHECK(Contains(found, "TOKEN @ node_modules/.cache/raw.txt"));
  CHECK(Contains(found, "TOKEN @ build/big.bin"));
  CHECK(std::any_of(found.begin(), found.end(), [](const std::string& w) { return Has(w, ".venv/encoded.txt (base64"); }));
  CHECK(Contains(found, "TOKEN @ a file name: (a path holding TOKEN)"));
  for (const std::string& w : found) CHECK_FALSE(Has(w, kSecretValue));
  // Nowhere in what the caller shows.
  for (const std::string& s : stats.top_level) CHECK_FALSE(Has(s, kSecretValue));
  CHECK(stats.files == 4);
}

TEST_CASE("capture: past max_entries, max_bytes or the path length: ResourceExhausted, never a partial result", "[cache][hostile][limits]") {
  SECTION("entries") {
    Fixture f;
    for (int i = 0; i < 30; ++i) WriteFile(f.ws / "node_modules" / ("f" + std::to_string(i)), "x");
    CaptureLimits limits;
    limits.max_entries = 20;
    absl::StatusOr<CaptureStats> stats = f.Capture(limits);
    REQUIRE_FALSE(stats.ok());
    CHECK(stats.status().code() == absl::StatusCode::kResourceExhausted);
    CHECK(Has(std::string(stats.status().message()), "more than 20 entries (the entry limit)"));
  }
  SECTION("bytes") {
    Fixture f;
    WriteFile(f.ws / "node_modules/small", std::string(600, 'x'));
    WriteFile(f.ws / "node_modules/zbig", std::string(600, 'y'));
    CaptureLimits limits;
    limits.max_bytes = 1000;
    absl::StatusOr<CaptureStats> stats = f.Capture(limits);
    REQUIRE_FALSE(stats.ok());
    CHECK(stats.status().code() == absl::StatusCode::kResourceExhausted);
    CHECK(Has(std::string(stats.status().message()), "the byte limit"));
  }
  SECTION("a sparse file of 1 TiB: refused from its size, never read") {
    Fixture f;
    fs::create_directories(f.ws / "node_modules");
    {
      UniqueFd fd(open((f.ws / "node_modules/huge").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
      REQUIRE(fd.valid());
      REQUIRE(ftruncate(fd.get(), off_t{1} << 40) == 0);
    }
    absl::StatusOr<CaptureStats> stats = f.Capture();
    REQUIRE_FALSE(stats.ok());
    CHECK(stats.status().code() == absl::StatusCode::kResourceExhausted);
    CHECK(Has(std::string(stats.status().message()), "more than 16 GiB (the byte limit)"));
    CHECK(Has(std::string(stats.status().message()), "node_modules/huge"));
  }
  SECTION("path length") {
    Fixture f;
    UniqueFd dir = OpenDir(f.ws);
    const std::string name(250, 'n');
    for (int i = 0; i < 20; ++i) {  // 20 x 251 bytes > 4096
      REQUIRE(mkdirat(dir.get(), name.c_str(), 0755) == 0);
      dir = UniqueFd(openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      REQUIRE(dir.valid());
    }
    absl::StatusOr<CaptureStats> stats = f.Capture();
    REQUIRE_FALSE(stats.ok());
    CHECK(stats.status().code() == absl::StatusCode::kResourceExhausted);
    CHECK(Has(std::string(stats.status().message()), "over the path length limit of 4096"));
  }
}

TEST_CASE("capture and scan: 300 nested directories exceed the depth limit, fds stay bounded", "[cache][hostile][limits]") {
  Fixture f;
  MakeDeep(f.ws, 300);
  const size_t fds_before = OpenFds();
  absl::StatusOr<CaptureStats> stats = f.Capture();
  REQUIRE_FALSE(stats.ok());
  CHECK(stats.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(Has(std::string(stats.status().message()), "is nested deeper than 256 levels (the depth limit)"));
  CHECK(OpenFds() == fds_before);  // every fd closed on the way out of an error
  UniqueFd ws_fd = OpenDir(f.ws);
  SecretScanner scanner({});
  absl::StatusOr<uint64_t> scanned = ScanTreeForSecrets(ws_fd.get(), scanner, {});
  REQUIRE_FALSE(scanned.ok());
  CHECK(scanned.status().code() == absl::StatusCode::kResourceExhausted);

  // 250 levels are within the limit: captured whole.
  Fixture g;
  MakeDeep(g.ws, 250);
  CaptureStats ok = g.CaptureOk();
  CHECK(ok.dirs == 250);
  CHECK(ok.files == 1);
}

TEST_CASE("capture: .git anywhere is copied as data and counted", "[cache][hostile]") {
  Fixture f;
  WriteFile(f.ws / "node_modules/pkg/.git/hooks/post-checkout", "#!/bin/sh\nrm -rf ~\n");
  WriteFile(f.ws / "node_modules/pkg/.git/config", "[core]\n\tfsmonitor = evil\n");
  WriteFile(f.ws / ".GIT/HEAD", "ref: refs/heads/main\n");
  WriteFile(f.ws / "vendor/x/git~1", "gitdir: /etc\n");
  CaptureStats stats = f.CaptureOk();
  CHECK(stats.git_dirs == 3);
  CHECK(ReadFile(f.dest / "node_modules/pkg/.git/hooks/post-checkout") == "#!/bin/sh\nrm -rf ~\n");
  CHECK(ReadFile(f.dest / "vendor/x/git~1") == "gitdir: /etc\n");
  CHECK(Exists(f.dest / ".GIT/HEAD"));
}

TEST_CASE("capture: the destination must be empty", "[cache]") {
  Fixture f;
  WriteFile(f.dest / "stale", "x");
  absl::StatusOr<CaptureStats> stats = f.Capture();
  REQUIRE_FALSE(stats.ok());
  CHECK(stats.status().code() == absl::StatusCode::kFailedPrecondition);
}

// ----------------------------------------------------------------------------------------------
// What is captured.

TEST_CASE("capture: an untracked directory under a tracked one, with its parents made", "[cache]") {
  Fixture f;
  WriteFile(f.ws / "src/lib/generated/x.o", "object");
  WriteFile(f.ws / "src/lib/generated/sub/y.o", "object y");
  fs::create_directories(f.ws / "src/lib/empty-untracked");
  CaptureStats stats = f.CaptureOk();
  CHECK(ReadFile(f.dest / "src/lib/generated/x.o") == "object");
  CHECK(ReadFile(f.dest / "src/lib/generated/sub/y.o") == "object y");
  CHECK(fs::is_directory(f.dest / "src/lib/empty-untracked"));
  struct stat src = Lstat(f.dest / "src");
  CHECK((src.st_mode & 07777) == 0755);
  CHECK(src.st_uid == kUid);
  CHECK(src.st_gid == kGid);
  CHECK((Lstat(f.dest / "src/lib").st_mode & 07777) == 0755);
  // The tracked files beside them are not copied.
  CHECK_FALSE(Exists(f.dest / "src/main.c"));
  CHECK_FALSE(Exists(f.dest / "src/lib/util.c"));
  std::vector<std::string> top = stats.top_level;
  std::sort(top.begin(), top.end());
  CHECK(top == std::vector<std::string>{"src/lib/empty-untracked", "src/lib/generated"});
  CHECK(stats.files == 2);
  CHECK(stats.dirs == 3);
  CHECK(stats.bytes == 14);
}

TEST_CASE("capture: tracked paths setup changed are not captured", "[cache]") {
  Fixture f;
  WriteFile(f.ws / "README.md", "setup rewrote me\n");
  WriteFile(f.ws / "package.json", "{\"lock\": true}\n");
  fs::remove(f.ws / "tool.sh");
  fs::create_directories(f.ws / "tool.sh");  // a tracked file replaced by a directory
  WriteFile(f.ws / "tool.sh/inside", "x");
  fs::remove(f.ws / "link");
  WriteFile(f.ws / "link", "now a file");  // a tracked symlink replaced by a file
  fs::remove_all(f.ws / "a");
  WriteFile(f.ws / "a", "a tracked directory replaced by a file");
  WriteFile(f.ws / "package-lock.json", "{}\n");  // untracked: captured
  CaptureStats stats = f.CaptureOk();
  for (const char* tracked : {"README.md", "package.json", "tool.sh", "link", "a"}) {
    INFO(tracked);
    CHECK_FALSE(Exists(f.dest / tracked));
  }
  CHECK(ReadFile(f.dest / "package-lock.json") == "{}\n");
  CHECK(stats.top_level == std::vector<std::string>{"package-lock.json"});
}

TEST_CASE("capture: a submodule path is skipped whole", "[cache]") {
  Fixture f;
  REQUIRE(fs::is_directory(f.ws / "third_party/sub"));  // checked out as an empty directory
  WriteFile(f.ws / "third_party/sub/setup-wrote", "x");
  fs::create_directories(f.ws / "third_party/sub/.git");
  WriteFile(f.ws / "third_party/other/kept", "k");
  CaptureStats stats = f.CaptureOk();
  CHECK_FALSE(Exists(f.dest / "third_party/sub"));
  CHECK(ReadFile(f.dest / "third_party/other/kept") == "k");
  CHECK(stats.git_dirs == 0);
  CHECK(stats.top_level == std::vector<std::string>{"third_party/other"});
}

TEST_CASE("capture: a typical setup (node_modules, .venv) keeps bytes, modes and symlinks; top level listed at most 20", "[cache]") {
  Fixture f;
  WriteFile(f.ws / "node_modules/left-pad/index.js", "module.exports = 1;\n");
  WriteFile(f.ws / "node_modules/.bin/tsc", "#!/usr/bin/env node\n");
  REQUIRE(chmod((f.ws / "node_modules/.bin/tsc").c_str(), 0755) == 0);
  fs::create_directories(f.ws / ".venv/bin");
  fs::create_symlink("/usr/bin/python3", f.ws / ".venv/bin/python");
  std::string big(3 * (1 << 20) + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  WriteFile(f.ws / ".venv/lib/big.so", big);
  for (int i = 0; i < 25; ++i) WriteFile(f.ws / ("gen" + std::to_string(i)), "g");
  for (bool with_secret : {false, true}) {  // copy_file_range, then read/write with the scanner fed
    INFO("with a secret to search: " << with_secret);
    fs::remove_all(f.dest);
    fs::create_directories(f.dest);
    std::vector<Secret> secrets;
    if (with_secret) secrets.push_back({"TOKEN", kSecretValue});
    CaptureStats stats = f.CaptureOk({}, secrets);
    CHECK(f.findings.empty());
    CHECK(ReadFile(f.dest / ".venv/lib/big.so") == big);
    CHECK((Lstat(f.dest / "node_modules/.bin/tsc").st_mode & 0777) == 0755);
    CHECK(fs::read_symlink(f.dest / ".venv/bin/python") == "/usr/bin/python3");
    CHECK(stats.files == 2 + 1 + 25);
    CHECK(stats.symlinks == 1);
    CHECK(stats.bytes == 20 + 20 + big.size() + 25);
    CHECK(stats.top_level.size() == kMaxTopLevelListed);
    CHECK(stats.top_level_more == 27 - kMaxTopLevelListed);
  }
}

// ----------------------------------------------------------------------------------------------
// A cached lower layer against a new tree.

namespace {

struct LowerCheck {
  TempDir tmp;
  Store store{tmp.path};
  BaseTree tree;
  fs::path lower = tmp.path / "lower";
  LowerCheck()
      : tree(store.Tree({{"a.txt", kModeFile, "a"},
                         {"dir/b.txt", kModeFile, "b"},
                         {"dir/sub/c.txt", kModeFile, "c"},
                         {"link", kModeSymlink, "a.txt"},
                         {"x-y", kModeFile, "between x and x/"},
                         {"x/z", kModeFile, "z"}})) {
    fs::create_directories(lower);
  }
  absl::Status Check() {
    UniqueFd fd = OpenDir(lower);
    return CheckLowerAgainstTree(fd.get(), tree);
  }
};

}  // namespace

TEST_CASE("lower layer: ok when it shares only directories with the new tree", "[cache][lower]") {
  LowerCheck c;
  WriteFile(c.lower / "dir/node_modules/x.js", "x");
  WriteFile(c.lower / "dir/sub/generated.o", "o");
  WriteFile(c.lower / "other/file", "f");
  fs::create_directories(c.lower / "x");
  absl::Status s = c.Check();
  INFO(s.ToString());
  CHECK(s.ok());
  CHECK(CheckLowerAgainstTree(OpenDir(c.lower).get(), c.tree).ok());
}

TEST_CASE("lower layer: a conflict at a tracked path is refused, naming it", "[cache][lower]") {
  LowerCheck c;
  std::string expected;
  SECTION("file vs file") {
    WriteFile(c.lower / "dir/b.txt", "cached");
    expected = "the new HEAD tracks dir/b.txt, which the cache holds as untracked (a file)";
  }
  SECTION("the tree's file, the cache's directory") {
    fs::create_directories(c.lower / "a.txt/inner");
    expected = "the new HEAD tracks a.txt, which the cache holds as untracked (a directory)";
  }
  SECTION("the tree's directory, the cache's file") {
    WriteFile(c.lower / "dir", "a file where the tree has a directory");
    expected = "the new HEAD tracks dir, which the cache holds as untracked (a file)";
  }
  SECTION("a symlink as a parent component: never looked through") {
    WriteFile(c.tmp.path / "elsewhere/b.txt", "b");
    fs::create_symlink(c.tmp.path / "elsewhere", c.lower / "dir");
    expected = "the new HEAD tracks dir, which the cache holds as untracked (a symlink)";
  }
  SECTION("a tracked symlink path") {
    WriteFile(c.lower / "link", "x");
    expected = "the new HEAD tracks link, which the cache holds as untracked (a file)";
  }
  SECTION("deep, past a name that sorts between x and x/") {
    WriteFile(c.lower / "x/z", "z");
    expected = "the new HEAD tracks x/z, which the cache holds as untracked (a file)";
  }
  SECTION("a fifo") {
    fs::create_directories(c.lower / "dir/sub");
    REQUIRE(mkfifo((c.lower / "dir/sub/c.txt").c_str(), 0644) == 0);
    expected = "the new HEAD tracks dir/sub/c.txt, which the cache holds as untracked (a special file)";
  }
  absl::Status s = c.Check();
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(s.message()) == expected);
}

TEST_CASE("lower layer: a path with control bytes is shown quoted", "[cache][lower]") {
  TempDir tmp;
  Store store(tmp.path);
  const std::string evil = "bad\n\x1b[2Jname";
  BaseTree tree = store.Tree({{evil, kModeFile, "x"}});
  fs::create_directories(tmp.path / "lower");
  WriteFile(tmp.path / "lower" / evil, "cached");
  absl::Status s = CheckLowerAgainstTree(OpenDir(tmp.path / "lower").get(), tree);
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(Has(std::string(s.message()), QuotePath(evil)));
  CHECK(Printable(std::string(s.message())));
}

// ----------------------------------------------------------------------------------------------
// The scan of a whole tree.

TEST_CASE("scan: every file and name searched, whiteouts and specials skipped, symlinks not followed", "[cache][scan]") {
  TempDir tmp;
  fs::path upper = tmp.path / "upper";
  WriteFile(upper / "home/.npmrc", std::string("//registry/:_authToken=") + kSecretValue + "\n");
  WriteFile(upper / "clean.txt", "nothing here\n");
  const std::string encoded_name = "name-" + absl::Base64Escape(kSecretValue);
  REQUIRE(encoded_name.find('/') == std::string::npos);
  WriteFile(upper / encoded_name, "x");
  WriteFile(tmp.path / "outside/secret", kSecretValue);
  fs::create_symlink(tmp.path / "outside", upper / "out-dir");
  fs::create_symlink(tmp.path / "outside/secret", upper / "out-file");
  REQUIRE(mknod((upper / "whiteout").c_str(), S_IFCHR | 0, makedev(0, 0)) == 0);
  REQUIRE(mkfifo((upper / "fifo").c_str(), 0644) == 0);
  UniqueFd fd = OpenDir(upper);
  SecretScanner scanner(std::vector<Secret>{{"TOKEN", kSecretValue}});
  absl::StatusOr<uint64_t> bytes = ScanTreeForSecrets(fd.get(), scanner, {});
  INFO((bytes.ok() ? std::string() : std::string(bytes.status().message())));
  REQUIRE(bytes.ok());
  const uint64_t expected = 23 + std::strlen(kSecretValue) + 1 + 13 + 1;
  CHECK(*bytes == expected);
  std::vector<std::string> found = Wheres(scanner.findings());
  INFO(Catch::Detail::stringify(found));
  CHECK(Contains(found, "TOKEN @ home/.npmrc"));
  CHECK(std::any_of(found.begin(), found.end(), [](const std::string& w) { return Has(w, "a file name: (a path holding TOKEN)"); }));
  CHECK(found.size() == 2);  // nothing from outside: the symlinks were not followed

  SECTION("bounded like the capture") {
    ScanLimits limits;
    limits.max_bytes = 10;
    SecretScanner other({});
    absl::StatusOr<uint64_t> over = ScanTreeForSecrets(fd.get(), other, limits);
    REQUIRE_FALSE(over.ok());
    CHECK(over.status().code() == absl::StatusCode::kResourceExhausted);
    limits = {};
    limits.max_entries = 3;
    over = ScanTreeForSecrets(fd.get(), other, limits);
    REQUIRE_FALSE(over.ok());
    CHECK(over.status().code() == absl::StatusCode::kResourceExhausted);
  }
}
