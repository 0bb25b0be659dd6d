// Blocking, thread-safe ttrpc client over a unix socket. Many calls may be in flight on one
// connection (odd stream ids, answered in any order); a reader thread hands each response to the
// caller waiting for it. Once the connection is lost every pending and later call fails with
// Unavailable: make a new Client to reconnect.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "shim/base/unique_fd.h"

namespace airlock::ttrpc {

class Client {
 public:
  using Metadata = std::vector<std::pair<std::string, std::string>>;

  // `address` is a socket path, optionally with containerd's "unix://" prefix; "@name" or "\0name"
  // name an abstract socket. Like containerd's dialer, a socket that does not exist yet is retried
  // until `timeout`.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(absl::string_view address, absl::Duration timeout);

  ~Client();  // Close(), then waits for the reader thread.
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `payload` (a serialized request message) to service/method and waits at most `timeout`
  // for the serialized response. An error status from the server comes back with its code and
  // message; a lost connection is Unavailable; running out of time is DeadlineExceeded.
  absl::StatusOr<std::string> Call(absl::string_view service, absl::string_view method, absl::string_view payload,
                                   absl::Duration timeout, const Metadata& metadata = {});

  // Fails pending and later calls with Unavailable and hangs up. Any thread, idempotent.
  void Close();

  // True once the connection is lost or closed.
  bool broken() const;

 private:
  struct Pending {
    std::condition_variable done_cv;
    bool done = false;
    absl::StatusOr<std::string> result;
  };

  explicit Client(UniqueFd fd);
  void ReadLoop();
  void Fail(const absl::Status& status);
  void Deliver(uint32_t stream_id, absl::StatusOr<std::string> result);
  absl::Status WriteAll(absl::string_view bytes, absl::Time deadline);

  UniqueFd fd_;
  std::thread reader_;

  mutable std::mutex mu_;
  uint32_t next_stream_id_ = 1;
  std::map<uint32_t, Pending*> pending_;  // each lives on its caller's stack
  absl::Status broken_;                   // OK while usable

  std::mutex write_mu_;  // one frame at a time on the wire
};

}  // namespace airlock::ttrpc
