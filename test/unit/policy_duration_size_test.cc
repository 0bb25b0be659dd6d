#include <catch2/catch.hpp>

#include "policy/duration_size.h"
#include "policy/model.h"

using namespace airlock::policy;

TEST_CASE("byte sizes", "[policy][size]") {
  CHECK(*ParseByteSize("512Mi") == 512 * kMiB);
  CHECK(*ParseByteSize("64Ki") == 64 * kKiB);
  CHECK(*ParseByteSize("1Gi") == kGiB);
  CHECK(*ParseByteSize("2Ti") == (uint64_t{2} << 40));
  CHECK(*ParseByteSize("1048576") == kMiB);
  CHECK(*ParseByteSize("0") == 0);
  CHECK(*ParseByteSize("18446744073709551615") == UINT64_MAX);
  for (const char* bad : {"", "Mi", "1.5Mi", "-1", "+1", "1 Mi", "1mi", "1MiB", "1M", "1K", "1k", "1G", "0x10",
                          "18446744073709551616", "16777216Ti"}) {
    INFO(bad);
    CHECK_FALSE(ParseByteSize(bad).ok());
  }
  CHECK(FormatByteSize(512 * kMiB) == "512Mi");
  CHECK(FormatByteSize(kGiB) == "1Gi");
  CHECK(FormatByteSize(1536 * kKiB) == "1536Ki");
  CHECK(FormatByteSize(1000) == "1000");
  CHECK(FormatByteSize(0) == "0");
  for (uint64_t size : {uint64_t{1}, kKiB, 3 * kMiB, 5 * kGiB, uint64_t{12345}, UINT64_MAX}) {
    CHECK(*ParseByteSize(FormatByteSize(size)) == size);
  }
  CHECK(HumanByteSize(512 * kMiB) == "512 MiB");
  CHECK(HumanByteSize(1536 * kMiB) == "1.5 GiB");
  CHECK(HumanByteSize(1000) == "1000 bytes");
  CHECK(HumanByteSize(1) == "1 byte");
}

TEST_CASE("Go-style durations", "[policy][duration]") {
  CHECK(*ParseGoDuration("500ms") == absl::Milliseconds(500));
  CHECK(*ParseGoDuration("30s") == absl::Seconds(30));
  CHECK(*ParseGoDuration("10m") == absl::Minutes(10));
  CHECK(*ParseGoDuration("1h30m") == absl::Minutes(90));
  CHECK(*ParseGoDuration("1.5h") == absl::Minutes(90));
  CHECK(*ParseGoDuration("0") == absl::ZeroDuration());
  for (const char* bad : {"", "10", "inf", "-inf", "1d", "10 m", "m", "1h 30m"}) {
    INFO(bad);
    CHECK_FALSE(ParseGoDuration(bad).ok());
  }
  CHECK(ParseGoDuration("-1s").status().message() == "negative duration \"-1s\"");
  CHECK(FormatGoDuration(absl::Minutes(10)) == "10m");
  CHECK(FormatGoDuration(absl::Minutes(90)) == "1h30m");
  CHECK(FormatGoDuration(absl::Milliseconds(500)) == "500ms");
}
