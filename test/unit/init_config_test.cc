// airlock-init's JSON reader and config.json schema.
#include <catch2/catch.hpp>

#include <string>

#include "cmd/airlock-init/exec_util.h"
#include "cmd/airlock-init/init_config.h"
#include "cmd/airlock-init/json_reader.h"

using namespace airlock::init;

namespace {
bool Parses(const std::string& text) {
  JsonValue value;
  std::string error;
  return ParseJson(text, &value, &error);
}
}  // namespace

TEST_CASE("JSON reader accepts RFC 8259 documents", "[init][json]") {
  JsonValue v;
  std::string error;
  REQUIRE(ParseJson(R"( {"a": [1, -2, 3.5e1, true, false, null], "b": {"c": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}} )",
                    &v, &error));
  REQUIRE(v.type == JsonValue::Type::kObject);
  const JsonValue* a = v.Find("a");
  REQUIRE(a != nullptr);
  REQUIRE(a->array.size() == 6);
  CHECK(a->array[0].is_integer);
  CHECK(a->array[0].integer == 1);
  CHECK(a->array[1].integer == -2);
  CHECK(!a->array[2].is_integer);
  CHECK(a->array[2].number == 35.0);
  CHECK(a->array[3].boolean);
  CHECK(a->array[5].type == JsonValue::Type::kNull);
  CHECK(v.Find("b")->Find("c")->string == "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(v.Find("missing") == nullptr);
  CHECK(Parses("[]"));
  CHECK(Parses("{}"));
  CHECK(Parses("\"caf\xc3\xa9\""));
  CHECK(Parses("0"));
}

TEST_CASE("JSON reader rejects malformed and dangerous input", "[init][json]") {
  for (const char* bad : {"", " ", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[1 2]", "01", "1.", "-", "+1",
                          ".5", "1e", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
                          "\"\\u0000\"", "\"a\tb\"", "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "{} {}",
                          "{\"a\":1,\"a\":2}", "[1]x", "'a'"}) {
    INFO(bad);
    CHECK(!Parses(bad));
  }
  CHECK(!Parses(std::string(100, '[') + std::string(100, ']')));
  CHECK(Parses(std::string(50, '[') + std::string(50, ']')));
  JsonValue v;
  std::string error;
  CHECK(!ParseJson("[1, x]", &v, &error));
  CHECK(error == "offset 4: invalid value");
}

TEST_CASE("config.json: full form", "[init][config]") {
  InitConfig config;
  std::string error;
  REQUIRE(ParseInitConfig(R"({
      "setup": {"command": ["sh", "-c", "./setup.sh"], "timeout_ms": 600000},
      "secrets": ["NPM_TOKEN", "GITHUB_TOKEN"],
      "entrypoint": {"args": ["python3", "agent.py"], "env": ["PATH=/usr/bin", "NPM_TOKEN=x"], "cwd": "/workspace"}
    })",
                          &config, &error));
  CHECK(config.has_setup);
  CHECK(config.setup_command == std::vector<std::string>{"sh", "-c", "./setup.sh"});
  CHECK(config.secrets == std::vector<std::string>{"NPM_TOKEN", "GITHUB_TOKEN"});
  CHECK(config.entrypoint_args == std::vector<std::string>{"python3", "agent.py"});
  CHECK(config.entrypoint_env == std::vector<std::string>{"PATH=/usr/bin", "NPM_TOKEN=x"});
  CHECK(config.entrypoint_cwd == "/workspace");
}

TEST_CASE("config.json: minimal form", "[init][config]") {
  InitConfig config;
  std::string error;
  REQUIRE(ParseInitConfig(R"({"setup": null, "entrypoint": {"args": ["/bin/true"]}})", &config, &error));
  CHECK(!config.has_setup);
  CHECK(config.secrets.empty());
  CHECK(config.entrypoint_env.empty());
  CHECK(config.entrypoint_cwd == "/");
  REQUIRE(ParseInitConfig(R"({"entrypoint": {"args": ["/bin/true"]}, "setup": {"command": ["x"], "timeout_ms": null}})",
                          &config, &error));
  CHECK(config.has_setup);
}

TEST_CASE("config.json: schema errors name the key", "[init][config]") {
  struct Case {
    const char* json;
    const char* error;
  };
  for (const Case& c : std::initializer_list<Case>{
           {R"([])", "the top level must be an object"},
           {R"({})", "entrypoint is missing"},
           {R"({"entrypoint": {"args": []}})", "entrypoint.args must not be empty"},
           {R"({"entrypoint": {"args": [""]}})", "entrypoint.args[0] must not be empty"},
           {R"({"entrypoint": {"args": ["a", 1]}})", "entrypoint.args must be an array of strings"},
           {R"({"entrypoint": {"args": ["a"], "cwd": "rel"}})", "entrypoint.cwd must be an absolute path"},
           {R"({"entrypoint": {"args": ["a"], "user": 0}})", "unknown key \"entrypoint.user\""},
           {R"({"entrypoint": {"args": ["a"]}, "extra": 1})", "unknown key \"extra\""},
           {R"({"entrypoint": {"args": ["a"]}, "setup": {}})", "setup.command is missing"},
           {R"({"entrypoint": {"args": ["a"]}, "setup": []})", "setup must be an object or null"},
           {R"({"entrypoint": {"args": ["a"]}, "setup": {"command": ["x"], "timeout_ms": -1}})",
            "setup.timeout_ms must be a non-negative integer"},
           {R"({"entrypoint": {"args": ["a"]}, "secrets": ["A=B"]})", "secrets: invalid variable name \"A=B\""},
           {R"({"entrypoint": {"args": ["a"]}, "secrets": "A"})", "secrets must be an array of strings"},
           {R"({"entrypoint": )", "invalid JSON: offset 15: unexpected end of input"},
       }) {
    INFO(c.json);
    InitConfig config;
    std::string error;
    CHECK(!ParseInitConfig(c.json, &config, &error));
    CHECK(error == c.error);
  }
}

TEST_CASE("secrets are removed from an environment by name", "[init][config]") {
  std::vector<std::string> env = {"PATH=/bin", "NPM_TOKEN=a", "NPM_TOKEN_X=keep", "GITHUB_TOKEN", "X=NPM_TOKEN=b"};
  CHECK(WithoutSecrets(env, {"NPM_TOKEN", "GITHUB_TOKEN"}) ==
        std::vector<std::string>{"PATH=/bin", "NPM_TOKEN_X=keep", "X=NPM_TOKEN=b"});
  CHECK(WithoutSecrets(env, {}) == env);
}
