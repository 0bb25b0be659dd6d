// The policy's resources as ceilings over the spec's linux.resources (policy/sandbox/spec_resources.h).
#include "policy/sandbox/spec_resources.h"

#include <catch2/catch.hpp>

using nlohmann::json;
using namespace airlock::policy;

TEST_CASE("resources: the policy's limits where the spec has none or higher ones; lower ones stay", "[policy][resources]") {
  Resources r;
  r.pids = 100;
  r.memory_bytes = 1 * kGiB;
  r.memory_swap_bytes = 1 * kGiB;
  r.cpu_millis = 1500;
  std::vector<std::string> notes;

  json none = json::object();
  REQUIRE(ApplyResourceCeilings(none, r, true, &notes).ok());
  CHECK(none["resources"]["pids"]["limit"] == 100);
  CHECK(none["resources"]["memory"]["limit"] == int64_t{1} << 30);
  CHECK(none["resources"]["memory"]["swap"] == int64_t{1} << 30);
  CHECK(none["resources"]["cpu"]["quota"] == 150000);
  CHECK(none["resources"]["cpu"]["period"] == 100000);
  CHECK(notes.size() == 4);

  // Kubernetes asked for less: kept. More, or unlimited (-1): lowered.
  json lower = {{"resources", {{"pids", {{"limit", 10}}}, {"memory", {{"limit", 64 << 20}, {"swap", -1}}},
                               {"cpu", {{"quota", 50000}, {"period", 100000}, {"shares", 512}}}, {"devices", json::array()}}}};
  notes.clear();
  REQUIRE(ApplyResourceCeilings(lower, r, true, &notes).ok());
  CHECK(lower["resources"]["pids"]["limit"] == 10);
  CHECK(lower["resources"]["memory"]["limit"] == 64 << 20);
  CHECK(lower["resources"]["memory"]["swap"] == int64_t{1} << 30);  // unlimited swap capped
  CHECK(lower["resources"]["cpu"]["quota"] == 50000);
  CHECK(lower["resources"]["cpu"]["shares"] == 512);
  CHECK(lower["resources"]["devices"].is_array());

  json higher = {{"resources", {{"memory", {{"limit", int64_t{8} << 30}}}, {"cpu", {{"quota", 400000}, {"period", 100000}}}}}};
  notes.clear();
  REQUIRE(ApplyResourceCeilings(higher, r, true, &notes).ok());
  CHECK(higher["resources"]["memory"]["limit"] == int64_t{1} << 30);
  CHECK(higher["resources"]["cpu"]["quota"] == 150000);
  CHECK(higher["resources"]["cpu"]["period"] == 100000);

  // memory+swap never below memory, and left out where the host cannot limit swap.
  json low_swap = {{"resources", {{"memory", {{"limit", 32 << 20}, {"swap", 16 << 20}}}}}};
  REQUIRE(ApplyResourceCeilings(low_swap, r, true, &notes).ok());
  CHECK(low_swap["resources"]["memory"]["swap"] == 32 << 20);
  json no_swap = {{"resources", {{"memory", {{"swap", 16 << 20}}}}}};
  notes.clear();
  REQUIRE(ApplyResourceCeilings(no_swap, r, false, &notes).ok());
  CHECK_FALSE(no_swap["resources"]["memory"].contains("swap"));

  json bad = {{"resources", {{"memory", "lots"}}}};
  CHECK_FALSE(ApplyResourceCeilings(bad, r, true, &notes).ok());
}
