#include "cmd/airlock/control_client.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cmd/airlock/command.h"
#include "cmd/airlock/sandbox_args.h"

namespace airlock::cli {
namespace {

constexpr char kService[] = "airlock.v1.Control";
constexpr size_t kMaxRecordBytes = 4096;
constexpr int kMaxEntries = 100000;

absl::Status ErrnoError(const std::string& what, int err) {
  if (err == ENOENT) return absl::NotFoundError(absl::StrCat(what, ": ", strerror(err)));
  return absl::UnknownError(absl::StrCat(what, ": ", strerror(err)));
}

// Entries of `dir` that are valid identifiers and of the wanted type; sorted.
absl::StatusOr<std::vector<std::string>> ListEntries(const std::string& dir, bool directories) {
  std::vector<std::string> names;
  DIR* handle = opendir(dir.c_str());
  if (handle == nullptr) {
    if (errno == ENOENT) return names;
    return ErrnoError(dir, errno);
  }
  for (int i = 0; i < kMaxEntries; ++i) {
    dirent* entry = readdir(handle);
    if (entry == nullptr) break;
    std::string name = entry->d_name;
    if (!IsValidIdentifier(name)) continue;
    struct stat st {};
    if (fstatat(dirfd(handle), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (directories ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)) names.push_back(name);
  }
  closedir(handle);
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<std::string> ReadRecord(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoError(path, errno);
  std::string text;
  char buf[1024];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return ErrnoError(path, err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxRecordBytes) {
      close(fd);
      return absl::DataLossError(absl::StrCat(path, ": not a shim address (too long)"));
    }
  }
  close(fd);
  std::string address(absl::StripAsciiWhitespace(text));
  if (address.rfind("unix://", 0) != 0 || address.size() == 7) {
    return absl::DataLossError(absl::StrCat(path, ": not a shim address: \"", address, "\""));
  }
  return address;
}

}  // namespace

std::string RunDir() {
  const char* dir = std::getenv("AIRLOCK_RUN_DIR");
  return dir != nullptr && dir[0] != '\0' ? dir : "/run/airlock";
}

std::string TasksDir(const std::string& namespace_name) { return RunDir() + "/tasks/" + namespace_name; }

absl::StatusOr<std::vector<std::string>> ListSandboxIds(const std::string& namespace_name) {
  return ListEntries(TasksDir(namespace_name), false);
}

absl::StatusOr<std::vector<std::string>> ListNamespaces() { return ListEntries(RunDir() + "/tasks", true); }

absl::StatusOr<std::unique_ptr<ControlClient>> ControlClient::Open(const std::string& namespace_name,
                                                                   const std::string& id, Timeouts timeouts) {
  const std::string record = TasksDir(namespace_name) + "/" + id;
  absl::StatusOr<std::string> address = ReadRecord(record);
  if (absl::IsNotFound(address.status())) {
    return absl::NotFoundError(absl::StrCat("no airlock sandbox ", id, " in namespace ", namespace_name));
  }
  if (!address.ok()) return address.status();
  absl::StatusOr<std::unique_ptr<ttrpc::Client>> client = ttrpc::Client::Connect(*address, timeouts.connect);
  if (!client.ok()) {
    return absl::UnavailableError(absl::StrCat("the shim of sandbox ", id, " in namespace ", namespace_name,
                                               " is not running (", *address, ": ", client.status().message(),
                                               "); stale record ", record));
  }
  return std::unique_ptr<ControlClient>(
      new ControlClient(namespace_name, id, *std::move(address), timeouts, *std::move(client)));
}

absl::Status ControlClient::Explain(const char* method, const absl::Status& status) const {
  if (absl::IsUnavailable(status)) {
    return absl::UnavailableError(absl::StrCat("the shim of sandbox ", id_, " in namespace ", namespace_,
                                               " went away (", address_, ": ", status.message(), ")"));
  }
  if (absl::IsUnimplemented(status)) {
    return absl::UnimplementedError(
        absl::StrCat("the shim at ", address_, " does not offer airlock.v1.Control/", method, " (", status.message(), ")"));
  }
  if (absl::IsDeadlineExceeded(status)) {
    return absl::DeadlineExceededError(absl::StrCat("the shim of sandbox ", id_, " did not answer ", method, " in time"));
  }
  return absl::Status(status.code(), absl::StrCat(method, ": ", status.message()));
}

template <typename Response, typename Request>
absl::StatusOr<Response> ControlClient::Call(const char* method, const Request& request, absl::Duration timeout) {
  absl::StatusOr<std::string> payload = client_->Call(kService, method, request.SerializeAsString(), timeout);
  if (!payload.ok()) return Explain(method, payload.status());
  Response response;
  if (!response.ParseFromString(*payload)) {
    return absl::DataLossError(absl::StrCat(method, ": the shim's answer does not parse"));
  }
  return response;
}

absl::StatusOr<airlock::v1::SandboxStatus> ControlClient::Status() {
  airlock::v1::StatusRequest request;
  request.set_id(id_);
  return Call<airlock::v1::SandboxStatus>("Status", request, timeouts_.call);
}

absl::StatusOr<airlock::v1::SandboxStatus> ControlClient::Seal() {
  airlock::v1::SealRequest request;
  request.set_id(id_);
  return Call<airlock::v1::SandboxStatus>("Seal", request, timeouts_.call);
}

absl::StatusOr<airlock::v1::AuditResponse> ControlClient::Audit() {
  airlock::v1::AuditRequest request;
  request.set_id(id_);
  return Call<airlock::v1::AuditResponse>("Audit", request, timeouts_.call);
}

absl::StatusOr<airlock::v1::VerifyResponse> ControlClient::Verify(absl::Duration timeout) {
  airlock::v1::VerifyRequest request;
  request.set_id(id_);
  return Call<airlock::v1::VerifyResponse>("Verify", request, timeout);
}

int ReportFailure(const absl::Status& status) {
  std::fprintf(stderr, "airlock: %s\n", std::string(status.message()).c_str());
  return kExitFailure;
}

}  // namespace airlock::cli
