// Finding a sandbox's shim and calling airlock.v1.Control on it.
//
// Each live sandbox has a record file <run dir>/tasks/<namespace>/<id> holding its shim's address
// ("unix:///run/airlock/s/<hash>"); the run dir is /run/airlock, or $AIRLOCK_RUN_DIR (tests).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "airlock/v1/control.pb.h"
#include "shim/ttrpc/client.h"

namespace airlock::cli {

// /run/airlock, or $AIRLOCK_RUN_DIR when set and not empty.
std::string RunDir();
// <run dir>/tasks/<namespace>
std::string TasksDir(const std::string& namespace_name);

// The record files of a namespace (sorted IDs); an absent directory is an empty list.
absl::StatusOr<std::vector<std::string>> ListSandboxIds(const std::string& namespace_name);
// Namespaces with a tasks directory (sorted).
absl::StatusOr<std::vector<std::string>> ListNamespaces();

struct Timeouts {
  absl::Duration connect = absl::Seconds(2);
  absl::Duration call = absl::Seconds(15);
};

// A connection to the shim serving one sandbox. Errors are worded for a person:
//   NotFound     "no airlock sandbox ID in namespace NS"
//   Unavailable  "the shim of sandbox ID in namespace NS is not answering (...)"
//   others       what the shim said, prefixed with the call
class ControlClient {
 public:
  static absl::StatusOr<std::unique_ptr<ControlClient>> Open(const std::string& namespace_name, const std::string& id,
                                                             Timeouts timeouts = {});

  absl::StatusOr<airlock::v1::SandboxStatus> Status();
  absl::StatusOr<airlock::v1::SandboxStatus> Seal();
  absl::StatusOr<airlock::v1::AuditResponse> Audit();
  absl::StatusOr<airlock::v1::VerifyResponse> Verify(absl::Duration timeout);

  const std::string& address() const { return address_; }

 private:
  ControlClient(std::string namespace_name, std::string id, std::string address, Timeouts timeouts,
                std::unique_ptr<ttrpc::Client> client)
      : namespace_(std::move(namespace_name)),
        id_(std::move(id)),
        address_(std::move(address)),
        timeouts_(timeouts),
        client_(std::move(client)) {}

  template <typename Response, typename Request>
  absl::StatusOr<Response> Call(const char* method, const Request& request, absl::Duration timeout);
  absl::Status Explain(const char* method, const absl::Status& status) const;

  std::string namespace_;
  std::string id_;
  std::string address_;
  Timeouts timeouts_;
  std::unique_ptr<ttrpc::Client> client_;
};

// Prints "airlock: <message>" to stderr; returns kExitFailure.
int ReportFailure(const absl::Status& status);

}  // namespace airlock::cli
