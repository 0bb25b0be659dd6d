// Sends the shim's task events to containerd, as containerd's runtime/v2/shim/publisher.go does:
// ttrpc `containerd.services.events.ttrpc.v1.Events/Forward` on TTRPC_ADDRESS with
// ForwardRequest{Envelope{timestamp, namespace, topic, event}}. The event travels as an Any whose
// type_url is the bare proto name ("containerd.events.TaskExit"): containerd 1.6's typeurl falls
// back to gogo's proto registry, keyed by that name, without the type.googleapis.com/ prefix.
//
// Publish never blocks: events queue up and one sender thread (started on first use) forwards them
// in order, reconnecting after a containerd restart. A failed send is retried with a growing pause
// before the next event goes out; after the last attempt it is dropped with an error log.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"

namespace airlock::ttrpc {
class Client;
}

namespace airlock::events {

// Topics of containerd's runtime/events.go.
inline constexpr char kTopicTaskCreate[] = "/tasks/create";
inline constexpr char kTopicTaskStart[] = "/tasks/start";
inline constexpr char kTopicTaskExit[] = "/tasks/exit";
inline constexpr char kTopicTaskDelete[] = "/tasks/delete";
inline constexpr char kTopicTaskExecAdded[] = "/tasks/exec-added";
inline constexpr char kTopicTaskExecStarted[] = "/tasks/exec-started";
inline constexpr char kTopicTaskPaused[] = "/tasks/paused";
inline constexpr char kTopicTaskResumed[] = "/tasks/resumed";
inline constexpr char kTopicTaskOOM[] = "/tasks/oom";
inline constexpr char kTopicTaskCheckpointed[] = "/tasks/checkpointed";

inline constexpr char kEventsService[] = "containerd.services.events.ttrpc.v1.Events";
inline constexpr char kForwardMethod[] = "Forward";
// ttrpc metadata key carrying the namespace (containerd namespaces/ttrpc.go).
inline constexpr char kNamespaceHeader[] = "containerd-namespace-ttrpc";

struct PublisherOptions {
  size_t max_queue = 2048;  // publisher.go's queueSize; beyond it new events are dropped
  int max_attempts = 6;     // publisher.go: the first try and 5 requeues
  absl::Duration backoff = absl::Seconds(1);  // pause after the k-th failed attempt: k * backoff
  absl::Duration call_timeout = absl::Seconds(5);
  absl::Duration connect_timeout = absl::Seconds(5);
};

class Publisher {
 public:
  // An empty `ttrpc_address` means no publisher: events are dropped (debug log).
  Publisher(std::string ttrpc_address, std::string ns, PublisherOptions options = {});
  // Stops the sender promptly (a call in progress is cut short); events still queued are dropped,
  // so Flush first.
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Any thread; never blocks on the network.
  void Publish(absl::string_view topic, const google::protobuf::MessageLite& event);

  // Waits until every queued event was sent or dropped, at most `timeout`. False on timeout.
  bool Flush(absl::Duration timeout);

 private:
  struct Item {
    std::string topic;
    std::string request;  // serialized ForwardRequest
  };

  void Run();
  absl::Status SendWithRetries(const Item& item);
  absl::Status SendOnce(const std::string& request);
  absl::StatusOr<std::shared_ptr<ttrpc::Client>> Reconnect();

  const std::string address_;
  const std::string namespace_;
  const PublisherOptions options_;

  std::mutex mu_;
  std::condition_variable work_cv_;  // queue grew or stopping
  std::condition_variable idle_cv_;  // queue drained
  std::deque<Item> queue_;
  bool sending_ = false;  // the sender holds an item taken off queue_
  bool stopping_ = false;
  std::thread sender_;
  std::shared_ptr<ttrpc::Client> client_;  // replaced by the sender; closed by the destructor
};

}  // namespace airlock::events
