// How the sandbox commands show airlock.v1 answers: plain text for a person, JSON for programs.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "airlock/v1/control.pb.h"

namespace airlock::cli {

// `value` as JSON text (indent < 0: one line); invalid UTF-8 in strings becomes U+FFFD instead of
// throwing.
std::string JsonText(const nlohmann::json& value, int indent = -1);

// RFC 3339 (UTC, nanoseconds) of a protobuf Timestamp; "" when unset.
std::string FormatTimestamp(const google::protobuf::Timestamp& time);
// "3.214 ms" / "850 us" / "2.5 s"
std::string FormatLatency(int64_t nanoseconds);

nlohmann::json StatusJson(const airlock::v1::SandboxStatus& status);
// The multi-line report of `airlock status`.
std::string StatusText(const airlock::v1::SandboxStatus& status);
// One line: "sealed by api at TIME, verified in 3.214 ms" and the like.
std::string SealSummary(const airlock::v1::SandboxStatus& status);

nlohmann::json VerifyJson(const airlock::v1::VerifyResponse& response);
// Every probe as "held" / "BROKEN" / "error" / "info" with its detail, then a verdict line.
std::string VerifyText(const std::string& namespace_name, const airlock::v1::VerifyResponse& response);
// True when at least one probe ran and none is broken or in error.
bool VerifyHeld(const airlock::v1::VerifyResponse& response);

// One audit log line (JSON) for a person: "TIME  EVENT  key=value ..."; the line itself when it is
// not a JSON object.
std::string AuditLineText(const std::string& line);

}  // namespace airlock::cli
