#include "cmd/airlock/run/git_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "shim/base/files.h"
#include "shim/base/fs_beneath.h"
#include "shim/base/errno_status.h"
#include "shim/base/unique_fd.h"

namespace airlock::run {
namespace {

constexpr size_t kChunk = 256 * 1024;
constexpr char kUnbornHead[] = "airlock-unborn";

template <typename T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const {
    if (p != nullptr) Free(p);
  }
};
using TreePtr = std::unique_ptr<git_tree, Freer<git_tree, git_tree_free>>;
using CommitPtr = std::unique_ptr<git_commit, Freer<git_commit, git_commit_free>>;
using StreamPtr = std::unique_ptr<git_odb_stream, Freer<git_odb_stream, git_odb_stream_free>>;
using OdbObjectPtr = std::unique_ptr<git_odb_object, Freer<git_odb_object, git_odb_object_free>>;
using SignaturePtr = std::unique_ptr<git_signature, Freer<git_signature, git_signature_free>>;
using ConfigPtr = std::unique_ptr<git_config, Freer<git_config, git_config_free>>;
using OdbPtr = std::unique_ptr<git_odb, Freer<git_odb, git_odb_free>>;

absl::Status GitError(const std::string& what) {
  const git_error* e = git_error_last();
  return absl::InternalError(absl::StrCat(what, ": ", e != nullptr && e->message != nullptr ? e->message : "libgit2 error"));
}

// Once per process: libgit2 up, and no configuration of this host's git (system, global, XDG,
// ProgramData) ever read: only the private repository's own config, which airlock writes.
absl::Status InitLibgit2() {
  static std::once_flag once;
  static absl::Status status;
  std::call_once(once, [] {
    if (git_libgit2_init() < 0) {
      status = GitError("libgit2 init");
      return;
    }
    for (int level : {GIT_CONFIG_LEVEL_PROGRAMDATA, GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL}) {
      if (git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "") < 0) {
        status = GitError("libgit2: clear config search path");
        return;
      }
    }
    // Names are checked when trees are made (the default; said so it stays so).
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1);
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
  });
  return status;
}

ssize_t ReadSome(int fd, char* buf, size_t len) {
  for (;;) {
    ssize_t got = ::read(fd, buf, len);
    if (got >= 0 || errno != EINTR) return got;
  }
}

bool IsHex(const std::string& text, size_t len) {
  if (text.size() != len) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// `from` (a loose object file) to `to_dir`/`name`, through a temporary file renamed into place
// (never replacing one that exists), 0444, fsync'ed, owned by `owner`.
absl::Status CopyObjectFile(int from_fd, int to_dir_fd, const std::string& name, const struct stat& owner) {
  std::string tmp = absl::StrCat("tmp_airlock_", getpid(), "_", name);  // two runs may copy the same object
  int fd = openat(to_dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
  if (fd < 0) return ErrnoStatus(absl::StrCat("create ", tmp));
  UniqueFd out(fd);
  std::string buf(kChunk, '\0');
  absl::Status status;
  for (;;) {
    ssize_t got = ReadSome(from_fd, buf.data(), buf.size());
    if (got < 0) {
      status = ErrnoStatus("read object");
      break;
    }
    if (got == 0) break;
    if (status = WriteAll(fd, absl::string_view(buf.data(), static_cast<size_t>(got)), "object"); !status.ok()) break;
  }
  if (status.ok() && fchown(fd, owner.st_uid, owner.st_gid) != 0 && errno != EPERM) status = ErrnoStatus("chown object");
  if (status.ok() && fsync(fd) != 0) status = ErrnoStatus("fsync object");
  if (status.ok() && renameat2(to_dir_fd, tmp.c_str(), to_dir_fd, name.c_str(), RENAME_NOREPLACE) != 0 && errno != EEXIST) {
    status = ErrnoStatus(absl::StrCat("place object ", name));
  }
  unlinkat(to_dir_fd, tmp.c_str(), 0);  // gone already after a successful rename
  return status;
}

}  // namespace

std::string OidHex(const git_oid& oid) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &oid);
  return hex;
}

absl::StatusOr<git_oid> ParseOid(absl::string_view hex) {
  git_oid oid;
  if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstrn(&oid, hex.data(), hex.size()) < 0) {
    return absl::InvalidArgumentError(absl::StrCat("not an object id: ", hex.substr(0, 64)));
  }
  return oid;
}

GitStore::~GitStore() {
  if (odb_ != nullptr) git_odb_free(odb_);
  if (repo_ != nullptr) git_repository_free(repo_);
}

absl::StatusOr<std::unique_ptr<GitStore>> GitStore::Create(const std::string& git_dir, const std::string& alternate_objects_dir) {
  if (absl::Status s = InitLibgit2(); !s.ok()) return s;
  git_repository_init_options init = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  init.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT | GIT_REPOSITORY_INIT_MKDIR;
  init.mode = GIT_REPOSITORY_INIT_SHARED_UMASK;
  init.initial_head = kUnbornHead;
  git_repository* made = nullptr;
  if (git_repository_init_ext(&made, git_dir.c_str(), &init) < 0) return GitError(absl::StrCat("create ", git_dir));
  git_config* raw_config = nullptr;
  int rc = git_repository_config(&raw_config, made);
  ConfigPtr config(raw_config);
  if (rc == 0) {
    rc = git_config_set_bool(config.get(), "core.protectNTFS", 1);
    if (rc == 0) rc = git_config_set_bool(config.get(), "core.protectHFS", 1);
  }
  config.reset();
  git_repository_free(made);
  if (rc < 0) return GitError(absl::StrCat("configure ", git_dir));
  {
    std::ofstream alternates(git_dir + "/objects/info/alternates");
    alternates << alternate_objects_dir << "\n";
    if (!alternates) return absl::InternalError(absl::StrCat("cannot write ", git_dir, "/objects/info/alternates"));
  }
  return Open(git_dir);
}

absl::StatusOr<std::unique_ptr<GitStore>> GitStore::Open(const std::string& git_dir) {
  if (absl::Status s = InitLibgit2(); !s.ok()) return s;
  std::unique_ptr<GitStore> store(new GitStore());
  store->git_dir_ = git_dir;
  if (git_repository_open_bare(&store->repo_, git_dir.c_str()) < 0) return GitError(absl::StrCat("open ", git_dir));
  if (git_repository_odb(&store->odb_, store->repo_) < 0) return GitError(absl::StrCat("object store of ", git_dir));
  return store;
}

absl::StatusOr<git_oid> GitStore::TreeOfCommit(const git_oid& commit) const {
  git_commit* raw = nullptr;
  if (git_commit_lookup(&raw, repo_, &commit) < 0) return GitError(absl::StrCat("commit ", OidHex(commit)));
  CommitPtr c(raw);
  return *git_commit_tree_id(c.get());
}

absl::Status GitStore::WalkTree(
    const git_oid& tree_id,
    absl::FunctionRef<absl::Status(const std::string& path, uint32_t mode, const git_oid& oid)> visit) const {
  git_tree* raw = nullptr;
  if (git_tree_lookup(&raw, repo_, &tree_id) < 0) return GitError(absl::StrCat("tree ", OidHex(tree_id)));
  TreePtr tree(raw);
  struct Walk {
    absl::FunctionRef<absl::Status(const std::string&, uint32_t, const git_oid&)> visit;
    absl::Status status;
  } walk{visit, absl::OkStatus()};
  auto callback = [](const char* root, const git_tree_entry* entry, void* payload) -> int {
    auto* w = static_cast<Walk*>(payload);
    std::string path = absl::StrCat(root, git_tree_entry_name(entry));
    w->status = w->visit(path, static_cast<uint32_t>(git_tree_entry_filemode_raw(entry)), *git_tree_entry_id(entry));
    return w->status.ok() ? 0 : -1;
  };
  int rc = git_tree_walk(tree.get(), GIT_TREEWALK_PRE, callback, &walk);
  if (!walk.status.ok()) return walk.status;
  if (rc < 0) return GitError(absl::StrCat("walk tree ", OidHex(tree_id)));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> GitStore::BlobSize(const git_oid& blob) const {
  size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  if (git_odb_read_header(&size, &type, odb_, &blob) < 0) return GitError(absl::StrCat("object ", OidHex(blob)));
  if (type != GIT_OBJECT_BLOB) return absl::InternalError(absl::StrCat("object ", OidHex(blob), " is not a blob"));
  return static_cast<uint64_t>(size);
}

absl::Status GitStore::ReadBlob(const git_oid& blob, absl::FunctionRef<absl::Status(absl::string_view chunk)> sink) const {
  git_odb_stream* raw = nullptr;
  size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  if (git_odb_open_rstream(&raw, &size, &type, odb_, &blob) == 0) {
    StreamPtr stream(raw);
    if (type != GIT_OBJECT_BLOB) return absl::InternalError(absl::StrCat("object ", OidHex(blob), " is not a blob"));
    std::string buf(kChunk, '\0');
    uint64_t total = 0;
    for (;;) {
      int got = git_odb_stream_read(stream.get(), buf.data(), buf.size());
      if (got < 0) return GitError(absl::StrCat("read blob ", OidHex(blob)));
      if (got == 0) break;
      total += static_cast<uint64_t>(got);
      if (absl::Status s = sink(absl::string_view(buf.data(), static_cast<size_t>(got))); !s.ok()) return s;
    }
    if (total != size) return absl::InternalError(absl::StrCat("blob ", OidHex(blob), ": read ", total, " of ", size, " bytes"));
    return absl::OkStatus();
  }
  // Packed objects (the user's, through the alternates) have no stream reader in libgit2: whole.
  git_error_clear();
  git_odb_object* whole_raw = nullptr;
  if (git_odb_read(&whole_raw, odb_, &blob) < 0) return GitError(absl::StrCat("read blob ", OidHex(blob)));
  OdbObjectPtr whole(whole_raw);
  if (git_odb_object_type(whole.get()) != GIT_OBJECT_BLOB) {
    return absl::InternalError(absl::StrCat("object ", OidHex(blob), " is not a blob"));
  }
  absl::string_view data(static_cast<const char*>(git_odb_object_data(whole.get())), git_odb_object_size(whole.get()));
  for (size_t at = 0; at < data.size(); at += kChunk) {
    if (absl::Status s = sink(data.substr(at, kChunk)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<git_oid> GitStore::HashFd(int fd, uint64_t size) const {
  // libgit2 hashes a file by path in a stream; /proc/self/fd/N is the very file airlock opened
  // (opened without following symlinks), never a name resolved again.
  std::string path = absl::StrCat("/proc/self/fd/", fd);
  git_oid oid;
  if (git_odb_hashfile(&oid, path.c_str(), GIT_OBJECT_BLOB) < 0) return GitError("hash file");
  struct stat st {};
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != size) {
    return absl::DataLossError("the file changed while it was read");
  }
  return oid;
}

absl::StatusOr<git_oid> GitStore::WriteBlobFromFd(int fd, uint64_t size, absl::FunctionRef<void(absl::string_view)> observe) {
  git_odb_stream* raw = nullptr;
  if (git_odb_open_wstream(&raw, odb_, static_cast<git_object_size_t>(size), GIT_OBJECT_BLOB) < 0) {
    return GitError("open blob stream");
  }
  StreamPtr stream(raw);
  std::string buf(kChunk, '\0');
  uint64_t total = 0;
  while (total < size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - total));
    ssize_t got = ReadSome(fd, buf.data(), want);
    if (got < 0) return absl::InternalError(absl::StrCat("read: ", strerror(errno)));
    if (got == 0) return absl::DataLossError(absl::StrCat("the file shrank while it was read (", total, " of ", size, " bytes)"));
    absl::string_view chunk(buf.data(), static_cast<size_t>(got));
    observe(chunk);
    if (git_odb_stream_write(stream.get(), chunk.data(), chunk.size()) < 0) return GitError("write blob");
    total += static_cast<uint64_t>(got);
  }
  char extra;
  ssize_t more = ReadSome(fd, &extra, 1);
  if (more != 0) return absl::DataLossError("the file grew while it was read");
  git_oid oid;
  if (git_odb_stream_finalize_write(&oid, stream.get()) < 0) return GitError("store blob");
  return oid;
}

absl::StatusOr<git_oid> GitStore::WriteBlob(absl::string_view bytes) {
  git_oid oid;
  if (git_odb_write(&oid, odb_, bytes.data(), bytes.size(), GIT_OBJECT_BLOB) < 0) return GitError("store blob");
  return oid;
}

absl::StatusOr<git_oid> GitStore::UpdateTree(const git_oid& base_tree, const std::vector<TreeUpdate>& updates) {
  git_tree* raw = nullptr;
  if (git_tree_lookup(&raw, repo_, &base_tree) < 0) return GitError(absl::StrCat("tree ", OidHex(base_tree)));
  TreePtr base(raw);
  std::vector<git_tree_update> list;
  list.reserve(updates.size());
  for (const TreeUpdate& u : updates) {
    git_tree_update entry{};
    entry.action = u.kind == TreeUpdate::Kind::kUpsert ? GIT_TREE_UPDATE_UPSERT : GIT_TREE_UPDATE_REMOVE;
    entry.path = u.path.c_str();
    entry.id = u.blob;
    entry.filemode = static_cast<git_filemode_t>(u.mode);
    list.push_back(entry);
  }
  git_oid out;
  if (git_tree_create_updated(&out, repo_, base.get(), list.size(), list.data()) < 0) return GitError("build the tree");
  return out;
}

absl::StatusOr<size_t> GitStore::CopyOwnObjectsTo(const std::string& objects_dir) const {
  git_odb* raw = nullptr;
  if (git_odb_open(&raw, objects_dir.c_str()) < 0) return GitError(absl::StrCat("objects of ", objects_dir));
  OdbPtr target(raw);
  UniqueFd to_root(open(objects_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!to_root) return ErrnoStatus(absl::StrCat("open ", objects_dir));
  struct stat owner {};
  if (fstat(to_root.get(), &owner) != 0) return ErrnoStatus(absl::StrCat("stat ", objects_dir));
  const std::string own = git_dir_ + "/objects";
  UniqueFd from_root(open(own.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!from_root) return ErrnoStatus(absl::StrCat("open ", own));
  absl::StatusOr<std::vector<std::string>> fans = ListDirectory(from_root.get(), 1000);
  if (!fans.ok()) return fans.status();
  size_t copied = 0;
  for (const std::string& fan : *fans) {
    if (!IsHex(fan, 2)) continue;  // info/, pack/
    UniqueFd from_dir(openat(from_root.get(), fan.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!from_dir) return ErrnoStatus(absl::StrCat("open ", own, "/", fan));
    absl::StatusOr<std::vector<std::string>> names = ListDirectory(from_dir.get(), 10'000'000);
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      if (!IsHex(name, GIT_OID_HEXSZ - 2)) continue;
      absl::StatusOr<git_oid> oid = ParseOid(fan + name);
      if (!oid.ok()) continue;
      if (git_odb_exists(target.get(), &*oid)) continue;
      if (mkdirat(to_root.get(), fan.c_str(), 0755) == 0) {
        if (fchownat(to_root.get(), fan.c_str(), owner.st_uid, owner.st_gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != EPERM) {
          return ErrnoStatus(absl::StrCat("chown ", objects_dir, "/", fan));
        }
      } else if (errno != EEXIST) {
        return ErrnoStatus(absl::StrCat("mkdir ", objects_dir, "/", fan));
      }
      UniqueFd to_dir(openat(to_root.get(), fan.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!to_dir) return ErrnoStatus(absl::StrCat("open ", objects_dir, "/", fan));
      UniqueFd from(openat(from_dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!from) return ErrnoStatus(absl::StrCat("open object ", fan, name));
      if (absl::Status s = CopyObjectFile(from.get(), to_dir.get(), name, owner); !s.ok()) return s;
      ++copied;
    }
  }
  return copied;
}

absl::StatusOr<git_oid> GitStore::BranchCommit(const std::string& branch) const {
  git_oid oid;
  std::string ref = "refs/heads/" + branch;
  if (git_reference_name_to_id(&oid, repo_, ref.c_str()) < 0) return GitError(ref);
  return oid;
}

absl::StatusOr<git_oid> GitStore::Commit(const git_oid& tree_id, const git_oid& parent_id, const std::string& message,
                                         const std::string& branch) {
  git_tree* raw_tree = nullptr;
  if (git_tree_lookup(&raw_tree, repo_, &tree_id) < 0) return GitError(absl::StrCat("tree ", OidHex(tree_id)));
  TreePtr tree(raw_tree);
  git_commit* raw_parent = nullptr;
  if (git_commit_lookup(&raw_parent, repo_, &parent_id) < 0) return GitError(absl::StrCat("commit ", OidHex(parent_id)));
  CommitPtr parent(raw_parent);
  git_signature* raw_sig = nullptr;
  if (git_signature_now(&raw_sig, "airlock run", "airlock@localhost") < 0) return GitError("signature");
  SignaturePtr sig(raw_sig);
  const git_commit* parents[] = {parent.get()};
  git_oid out;
  std::string ref = "refs/heads/" + branch;
  if (git_commit_create(&out, repo_, ref.c_str(), sig.get(), sig.get(), nullptr, message.c_str(), tree.get(), 1, parents) < 0) {
    return GitError("commit");
  }
  return out;
}

}  // namespace airlock::run
