#include <catch2/catch.hpp>

#include "nlohmann/json.hpp"
#include "policy/sandbox/exec_rewrite.h"

using namespace airlock;
using nlohmann::json;

namespace {
policy::Policy TestPolicy() {
  policy::Policy p;
  p.secrets = {"NPM_TOKEN", "GITHUB_TOKEN"};
  p.capabilities = {"CAP_CHOWN", "CAP_KILL"};
  return p;
}

const char* kExec = R"({"args":["sh","-c","echo hi"],"env":["PATH=/bin","NPM_TOKEN=s3cret","GITHUB_TOKEN=x","HOME=/root"],
  "cwd":"/","capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_ADMIN","CAP_KILL"],"effective":["CAP_SYS_ADMIN"],
  "permitted":["CAP_KILL","CAP_NET_RAW"]},"noNewPrivileges":false})";
}  // namespace

TEST_CASE("exec before the seal: capabilities and no_new_privileges only", "[sandbox]") {
  auto out = sandbox::RewriteExecSpec(kExec, TestPolicy(), /*sealed=*/false, "/.airlock");
  REQUIRE(out.ok());
  json p = json::parse(*out);
  CHECK(p["args"] == json({"sh", "-c", "echo hi"}));
  CHECK(p["env"].size() == 4);  // setup-phase execs keep the secrets
  CHECK(p["capabilities"]["bounding"] == json({"CAP_CHOWN", "CAP_KILL"}));
  CHECK(p["capabilities"]["effective"] == json::array());
  CHECK(p["capabilities"]["permitted"] == json({"CAP_KILL"}));
  CHECK(p["noNewPrivileges"] == true);
}

TEST_CASE("exec after the seal: through airlock-init, secrets gone", "[sandbox]") {
  auto out = sandbox::RewriteExecSpec(kExec, TestPolicy(), /*sealed=*/true, "/.airlock");
  REQUIRE(out.ok());
  json p = json::parse(*out);
  CHECK(p["args"] == json({"/.airlock", "exec", "--", "sh", "-c", "echo hi"}));
  CHECK(p["env"] == json({"PATH=/bin", "HOME=/root"}));
  CHECK(p["noNewPrivileges"] == true);
  CHECK(out->find("s3cret") == std::string::npos);
}

TEST_CASE("bad exec specs are clear errors", "[sandbox]") {
  CHECK(sandbox::RewriteExecSpec("[]", TestPolicy(), true, "/i").status().message() ==
        "exec: the process spec is not a JSON object");
  CHECK(sandbox::RewriteExecSpec("{\"args\":[]}", TestPolicy(), true, "/i").status().message() ==
        "exec: the process spec has no args");
  CHECK(!sandbox::RewriteExecSpec("{\"args\":[1]}", TestPolicy(), true, "/i").ok());
  CHECK(!sandbox::RewriteExecSpec("not json", TestPolicy(), true, "/i").ok());
}
