#include <catch2/catch.hpp>

#include "policy/setup_annotation.h"

using namespace airlock::policy;
using Words = std::vector<std::string>;

TEST_CASE("setup annotation: JSON array or sh -c string", "[policy][annotation]") {
  CHECK(*ParseSetupAnnotation(R"(["npm", "ci"])") == Words{"npm", "ci"});
  CHECK(*ParseSetupAnnotation(R"(  ["./setup.sh"]  )") == Words{"./setup.sh"});
  CHECK(*ParseSetupAnnotation("make deps && make") == Words{"sh", "-c", "make deps && make"});
  CHECK(*ParseSetupAnnotation("echo '[x]'") == Words{"sh", "-c", "echo '[x]'"});
  for (const char* bad : {"", "   ", "[]", "[1]", "[\"a\", 2]", "[\"\"]", "[\"a\"", "[not json]", "[{\"a\": 1}]"}) {
    INFO(bad);
    CHECK(absl::IsInvalidArgument(ParseSetupAnnotation(bad).status()));
  }
  CHECK(ParseSetupAnnotation("[]").status().message() ==
        "annotation airlock.dev/setup: an empty array (want a JSON array of strings or a shell command)");
  CHECK_FALSE(ParseSetupAnnotation(std::string("echo a\0b", 8)).ok());
}
