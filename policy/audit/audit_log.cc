#include "policy/audit/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "shim/base/errno_status.h"
#include "shim/base/files.h"
#include "shim/base/log.h"

namespace airlock::audit {
absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& dir, const std::string& ns,
                                                         const std::string& id) {
  if (dir.empty() || dir[0] != '/') return absl::InvalidArgumentError("audit dir must be an absolute path");
  // containerd validates namespaces and ids ([A-Za-z0-9_.-]); still, never let one name a path.
  for (const std::string* name : {&ns, &id}) {
    if (name->empty() || name->find('/') != std::string::npos || *name == "." || *name == "..") {
      return absl::InvalidArgumentError(absl::StrCat("cannot audit \"", *name, "\": not a plain name"));
    }
  }
  std::string ns_dir = absl::StrCat(dir, "/", ns);
  if (absl::Status made = MakeDirs(ns_dir, 0700); !made.ok()) return made;
  std::string path = absl::StrCat(ns_dir, "/", id, ".jsonl");
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return ErrnoStatus(absl::StrCat("open audit log ", path));
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(path), std::move(fd)));
}

void AuditLog::Record(const std::string& event, nlohmann::json fields) {
  nlohmann::json line = nlohmann::json::object();
  line["time"] = absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone());
  line["event"] = event;
  if (fields.is_object()) {
    for (auto& [key, value] : fields.items()) line[key] = value;
  }
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mu_);
  // O_APPEND and one write per line: lines from concurrent writers stay whole.
  ssize_t n = write(fd_.get(), text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size()) && !warned_) {
    warned_ = true;
    log::Error("audit log ", path_, ": write failed: ", strerror(errno));
  }
}

std::vector<std::string> AuditLog::Lines() const {
  std::vector<std::string> lines;
  std::ifstream in(path_);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace airlock::audit
