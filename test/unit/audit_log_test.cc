#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "nlohmann/json.hpp"
#include "policy/audit/audit_log.h"

using namespace airlock;

TEST_CASE("audit log: JSON lines per sandbox, appended, private", "[audit]") {
  char tmpl[] = "/tmp/airlock-audit-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    auto log = audit::AuditLog::Open(dir + "/audit", "ns1", "c1");
    REQUIRE(log.ok());
    (*log)->Record("created", {{"policy_digest", "sha256:abc"}});
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) (*log)->Record("exec", {{"n", t * 100 + i}});
      });
    }
    for (auto& w : writers) w.join();
    auto lines = (*log)->Lines();
    REQUIRE(lines.size() == 201);
    for (const auto& line : lines) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      REQUIRE(j.is_object());
      CHECK(j.contains("time"));
      CHECK(j.contains("event"));
    }
    CHECK(nlohmann::json::parse(lines[0])["policy_digest"] == "sha256:abc");
    struct stat st;
    REQUIRE(stat((*log)->path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK((*log)->path() == dir + "/audit/ns1/c1.jsonl");
  }
  // Reopening appends.
  auto again = audit::AuditLog::Open(dir + "/audit", "ns1", "c1");
  REQUIRE(again.ok());
  (*again)->Record("destroyed");
  CHECK((*again)->Lines().size() == 202);
  std::filesystem::remove_all(dir);
}

TEST_CASE("audit log refuses names that are paths", "[audit]") {
  CHECK(!audit::AuditLog::Open("/tmp/x", "..", "c").ok());
  CHECK(!audit::AuditLog::Open("/tmp/x", "ns", "a/b").ok());
  CHECK(!audit::AuditLog::Open("relative", "ns", "c").ok());
}
