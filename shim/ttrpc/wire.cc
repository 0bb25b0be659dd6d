#include "shim/ttrpc/wire.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "shim/ttrpc/frame.h"
#include "ttrpc/ttrpc.pb.h"

namespace airlock::ttrpc {

google::rpc::Status ToRpcStatus(const absl::Status& status) {
  google::rpc::Status out;
  out.set_code(static_cast<int32_t>(status.code()));
  out.set_message(std::string(status.message()));
  return out;
}

absl::Status FromRpcStatus(const google::rpc::Status& status) {
  int code = status.code();
  // Codes outside gRPC's range (a buggy peer) read as Unknown, as grpc-go does.
  if (code < 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnknownError(status.message());
  }
  return absl::Status(static_cast<absl::StatusCode>(code), status.message());
}

std::string EncodeResponse(absl::StatusOr<std::string> result) {
  ::ttrpc::Response response;
  if (result.ok()) {
    // ttrpc-go always sets Status, also for OK ({code: 0} on the wire as an empty message).
    response.mutable_status();
    *response.mutable_payload() = std::move(*result);
  } else {
    *response.mutable_status() = ToRpcStatus(result.status());
  }
  std::string body = response.SerializeAsString();
  if (body.size() > kMaxMessageSize) {
    ::ttrpc::Response too_big;
    *too_big.mutable_status() =
        ToRpcStatus(absl::ResourceExhaustedError(absl::StrCat("response of ", body.size(), " bytes exceeds maximum message size of ", kMaxMessageSize)));
    body = too_big.SerializeAsString();
  }
  return body;
}

}  // namespace airlock::ttrpc
