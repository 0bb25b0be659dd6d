// The setup cache's key and the labels it writes: every input changes the key, no two inputs
// spell the same text, credentials never reach a label.
#include <catch2/catch.hpp>
#include <set>

#include "cmd/airlock/cache/cache_key.h"
#include "cmd/airlock/cache/cache_store.h"

namespace airlock::cache {
namespace {

KeyInputs Base() {
  KeyInputs in;
  in.image_name = "docker.io/library/busybox:latest";
  in.image_digest = "sha256:aa";
  in.chain_id = "sha256:bb";
  in.snapshotter = "overlayfs";
  in.policy_digest = "sha256:cc";
  in.setup_command = "npm ci";
  in.repository = {"0123456789012345678901234567890123456789", "https://example.com/x.git"};
  in.key_files = {{"package-lock.json", "blob 1111"}};
  return in;
}

TEST_CASE("the cache key is 32 hex characters and stable", "[cache]") {
  std::string key = CacheKey(Base());
  CHECK(key.size() == kKeyLength);
  CHECK(IsCacheKey(key));
  CHECK(CacheKey(Base()) == key);
}

TEST_CASE("every input of the cache key changes it", "[cache]") {
  const std::string base = CacheKey(Base());
  std::vector<void (*)(KeyInputs&)> changes = {
      [](KeyInputs& k) { k.image_name += "x"; },
      [](KeyInputs& k) { k.image_digest = "sha256:ab"; },
      [](KeyInputs& k) { k.chain_id = "sha256:bc"; },
      [](KeyInputs& k) { k.snapshotter = "native"; },
      [](KeyInputs& k) { k.policy_digest = "sha256:cd"; },
      [](KeyInputs& k) { k.setup_command = "npm install"; },
      [](KeyInputs& k) { k.repository.root_commit[0] = '1'; },
      [](KeyInputs& k) { k.repository.remote = "https://example.com/y.git"; },
      [](KeyInputs& k) { k.key_files[0].content = "blob 2222"; },
      [](KeyInputs& k) { k.key_files[0].content = "absent"; },
      [](KeyInputs& k) { k.key_files[0].path = "yarn.lock"; },
      [](KeyInputs& k) { k.key_files.push_back({"setup.sh", "absent"}); },
      [](KeyInputs& k) { k.key_files.clear(); },
  };
  std::set<std::string> seen = {base};
  for (auto change : changes) {
    KeyInputs in = Base();
    change(in);
    CHECK(seen.insert(CacheKey(in)).second);
  }
}

TEST_CASE("cache key fields cannot run into each other", "[cache]") {
  // The same bytes split differently between two fields give different keys.
  KeyInputs a = Base(), b = Base();
  a.setup_command = "x";
  a.repository.root_commit = "root=3:abc";
  b.setup_command = "x\0root=3:abc";
  b.setup_command.resize(2);
  CHECK(CacheKey(a) != CacheKey(b));
  KeyInputs c = Base(), d = Base();
  c.key_files = {{"a", "blob 1"}, {"b", "absent"}};
  d.key_files = {{"a", "blob 1"}};
  d.key_files[0].path = "a";
  d.key_files.push_back({"b", "absent"});
  CHECK(CacheKey(c) == CacheKey(d));
  d.key_files = {{"ab", "absent"}};
  CHECK(CacheKey(c) != CacheKey(d));
  // Bytes that are not UTF-8 are key material like any other.
  KeyInputs e = Base(), f = Base();
  e.setup_command = "\xff";
  f.setup_command = "\xfe";
  CHECK(CacheKey(e) != CacheKey(f));
  CHECK_NOTHROW(KeyInputsJson(e).dump());
}

TEST_CASE("a remote's credentials never reach the key's display form", "[cache]") {
  CHECK(WithoutUserInfo("https://user:tok3n@example.com/x.git") == "https://example.com/x.git");
  CHECK(WithoutUserInfo("https://tok3n@example.com/a@b") == "https://example.com/a@b");
  CHECK(WithoutUserInfo("git@example.com:x/y.git") == "example.com:x/y.git");
  CHECK(WithoutUserInfo("https://example.com/x.git") == "https://example.com/x.git");
  CHECK(WithoutUserInfo("/srv/git/x.git") == "/srv/git/x.git");
  CHECK(WithoutUserInfo("") == "");
}

TEST_CASE("cache names and keys", "[cache]") {
  EntryNames n = NamesOf("0123456789abcdef0123456789abcdef");
  CHECK(n.lease == "airlock-cache-0123456789abcdef0123456789abcdef");
  CHECK(n.rootfs == "airlock-cache/0123456789abcdef0123456789abcdef/rootfs");
  CHECK(n.workspace == "airlock-cache/0123456789abcdef0123456789abcdef/workspace");
  CHECK_FALSE(IsCacheKey("0123456789ABCDEF0123456789abcdef"));
  CHECK_FALSE(IsCacheKey("../../etc"));
  CHECK_FALSE(IsCacheKey(""));
  CHECK_FALSE(IsCacheKey("0123456789abcdef0123456789abcdef0"));
}

TEST_CASE("label text is escaped and a cut is said", "[cache]") {
  CHECK(LabelText("npm ci") == "npm ci");
  std::string escaped = LabelText("a\x1b[31mb\n");
  CHECK(escaped.find('\x1b') == std::string::npos);
  CHECK(escaped.find('\n') == std::string::npos);
  std::string long_text(5000, 'x');
  std::string cut = LabelText(long_text, 100);
  CHECK(cut.size() < 200);
  CHECK(cut.find("(5000 bytes in all)") != std::string::npos);
  // A multi-byte character is never cut in half.
  std::string wide;
  for (int i = 0; i < 100; ++i) wide += "\xc3\xa9";
  std::string cut_wide = LabelText(wide, 51);
  CHECK(IsCacheKey("0123456789abcdef0123456789abcdef"));
  CHECK(cut_wide.substr(0, 50) == wide.substr(0, 50));
}

TEST_CASE("the key files' content comes from the tree", "[cache]") {
  // KeyFilesAt over an empty tree: each file absent.
  run::BaseTree empty;
  std::vector<KeyFile> files = KeyFilesAt(empty, {"package-lock.json", "setup.sh"});
  REQUIRE(files.size() == 2);
  CHECK(files[0].path == "package-lock.json");
  CHECK(files[0].content == "absent");
  CHECK(files[1].content == "absent");
}

}  // namespace
}  // namespace airlock::cache
