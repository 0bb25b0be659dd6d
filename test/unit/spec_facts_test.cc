#include "shim/task/spec_facts.h"

#include <catch2/catch.hpp>

using airlock::task::SpecFactsOf;
using nlohmann::json;

TEST_CASE("spec facts: poststart hooks send the start through the runtime's own start", "[task][spec]") {
  CHECK_FALSE(SpecFactsOf(json::parse(R"({"process": {}})")).poststart_hooks);
  CHECK_FALSE(SpecFactsOf(json::parse(R"({"hooks": null})")).poststart_hooks);
  CHECK_FALSE(SpecFactsOf(json::parse(R"({"hooks": {"prestart": [{"path": "/bin/true"}]}})")).poststart_hooks);
  CHECK_FALSE(SpecFactsOf(json::parse(R"({"hooks": {"poststart": []}})")).poststart_hooks);
  CHECK(SpecFactsOf(json::parse(R"({"hooks": {"poststart": [{"path": "/bin/true"}]}})")).poststart_hooks);
  // Whatever runc makes of a malformed hooks object, it is not ours to skip.
  CHECK(SpecFactsOf(json::parse(R"({"hooks": {"poststart": {"path": "/bin/true"}}})")).poststart_hooks);
  CHECK(SpecFactsOf(json::parse(R"({"hooks": "poststart"})")).poststart_hooks);
  CHECK(SpecFactsOf(json(nullptr)).poststart_hooks);
}

TEST_CASE("spec facts: the init's exit kills the rest unless it has its own pid namespace", "[task][spec]") {
  CHECK_FALSE(SpecFactsOf(json::parse(R"({"linux": {"namespaces": [{"type": "pid"}]}})")).kill_all_on_exit);
  CHECK(SpecFactsOf(json::parse(R"({"linux": {"namespaces": [{"type": "pid", "path": "/proc/1/ns/pid"}]}})"))
            .kill_all_on_exit);
  CHECK(SpecFactsOf(json::parse(R"({"linux": {"namespaces": [{"type": "mount"}]}})")).kill_all_on_exit);
  CHECK(SpecFactsOf(json::parse(R"({"linux": {}})")).kill_all_on_exit);
  CHECK(SpecFactsOf(json(nullptr)).kill_all_on_exit);
}
