// The sandbox's audit record on the host: JSON lines at <dir>/<namespace>/<id>.jsonl, one object per
// event ({"time", "event", ...fields}). It outlives the sandbox: it is the record of what happened.
// Secret values never go in; callers pass names only.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "shim/base/unique_fd.h"

namespace airlock::audit {

class AuditLog {
 public:
  // Creates the directories (0700) and opens the file for appending (0600).
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& dir, const std::string& ns,
                                                        const std::string& id);
  // Appends one line; never fails the caller (a write error is logged once).
  void Record(const std::string& event, nlohmann::json fields = nlohmann::json::object());
  // Every line written so far by anyone (the file is the truth).
  std::vector<std::string> Lines() const;
  const std::string& path() const { return path_; }

 private:
  AuditLog(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;
  std::mutex mu_;
  bool warned_ = false;
};

}  // namespace airlock::audit
