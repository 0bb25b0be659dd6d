// ttrpc message bodies: Request/Response (ttrpc/ttrpc.proto) and the google.rpc.Status they carry.
// absl::StatusCode values are gRPC's numeric codes, so the mapping is one to one.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/rpc/status.pb.h"

namespace airlock::ttrpc {

google::rpc::Status ToRpcStatus(const absl::Status& status);
absl::Status FromRpcStatus(const google::rpc::Status& status);

// A serialized ttrpc.Response for `result`: status OK + payload, or the error status. A payload that
// would push the body past the frame limit becomes a ResourceExhausted error instead, so the peer
// gets an answer rather than a frame it must refuse.
std::string EncodeResponse(absl::StatusOr<std::string> result);

}  // namespace airlock::ttrpc
