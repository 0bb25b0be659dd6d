#include "shim/events/publisher.h"

#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "containerd/services/ttrpc/events/v1/events.pb.h"
#include "shim/base/log.h"
#include "shim/ttrpc/client.h"

namespace airlock::events {

namespace eventsv1 = ::containerd::services::events::ttrpc::v1;

namespace {
constexpr absl::Duration kDialRetry = absl::Milliseconds(10);
}  // namespace

Publisher::Publisher(std::string ttrpc_address, std::string ns, PublisherOptions options)
    : address_(std::move(ttrpc_address)), namespace_(std::move(ns)), options_(options) {}

Publisher::~Publisher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (client_) client_->Close();  // cuts a call in progress short
  }
  work_cv_.notify_all();
  if (sender_.joinable()) sender_.join();
}

void Publisher::Publish(absl::string_view topic, const google::protobuf::MessageLite& event) {
  if (address_.empty()) {
    log::Debug("no event publisher; dropping ", topic);
    return;
  }
  const absl::Time now = absl::Now();
  const int64_t seconds = absl::ToUnixSeconds(now);
  eventsv1::ForwardRequest request;
  eventsv1::Envelope* envelope = request.mutable_envelope();
  envelope->mutable_timestamp()->set_seconds(seconds);
  envelope->mutable_timestamp()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(now - absl::FromUnixSeconds(seconds))));
  envelope->set_namespace_(namespace_);
  envelope->set_topic(std::string(topic));
  envelope->mutable_event()->set_type_url(event.GetTypeName());
  envelope->mutable_event()->set_value(event.SerializeAsString());

  std::lock_guard lock(mu_);
  if (stopping_) return;
  if (queue_.size() >= options_.max_queue) {
    log::Error("event queue full (", queue_.size(), "); dropping ", topic);
    return;
  }
  if (!sender_.joinable()) {
    try {
      sender_ = std::thread(&Publisher::Run, this);
    } catch (const std::system_error& e) {
      log::Error("cannot start the event sender: ", e.what(), "; dropping ", topic);
      return;
    }
  }
  queue_.push_back(Item{std::string(topic), request.SerializeAsString()});
  work_cv_.notify_one();
}

bool Publisher::Flush(absl::Duration timeout) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                           [this] { return (queue_.empty() && !sending_) || stopping_; });
}

void Publisher::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    Item item = std::move(queue_.front());
    queue_.pop_front();
    sending_ = true;
    lock.unlock();
    absl::Status status = SendWithRetries(item);
    if (!status.ok()) log::Error("dropping event ", item.topic, ": ", status.message());
    lock.lock();
    sending_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
  sending_ = false;
  idle_cv_.notify_all();
}

absl::Status Publisher::SendWithRetries(const Item& item) {
  absl::Status status;
  for (int attempt = 1;; ++attempt) {
    status = SendOnce(item.request);
    if (status.ok()) return status;
    if (attempt >= options_.max_attempts) {
      return absl::Status(status.code(), absl::StrCat("gave up after ", attempt, " attempts: ", status.message()));
    }
    log::Warn("forward event ", item.topic, " (attempt ", attempt, "): ", status.message());
    std::unique_lock lock(mu_);
    // Keeps order: nothing behind this event goes out while it waits.
    if (work_cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.backoff * attempt), [this] { return stopping_; })) {
      return absl::CancelledError("publisher stopped");
    }
  }
}

absl::StatusOr<std::shared_ptr<ttrpc::Client>> Publisher::Reconnect() {
  // Retried here rather than inside Client::Connect so that stopping the publisher cuts it short.
  const absl::Time deadline = absl::Now() + options_.connect_timeout;
  for (;;) {
    absl::StatusOr<std::unique_ptr<ttrpc::Client>> connected = ttrpc::Client::Connect(address_, absl::ZeroDuration());
    std::unique_lock lock(mu_);
    if (stopping_) return absl::CancelledError("publisher stopped");
    if (connected.ok()) {
      std::shared_ptr<ttrpc::Client> old = std::exchange(client_, std::move(*connected));
      std::shared_ptr<ttrpc::Client> current = client_;
      lock.unlock();
      old.reset();  // joins its reader thread: not under mu_
      return current;
    }
    // containerd restarting: its socket is missing or not listening yet.
    if (!absl::IsUnavailable(connected.status()) || absl::Now() + kDialRetry >= deadline) return connected.status();
    if (work_cv_.wait_for(lock, absl::ToChronoNanoseconds(kDialRetry), [this] { return stopping_; })) {
      return absl::CancelledError("publisher stopped");
    }
  }
}

absl::Status Publisher::SendOnce(const std::string& request) {
  std::shared_ptr<ttrpc::Client> client;
  {
    std::lock_guard lock(mu_);
    client = client_;
  }
  bool fresh = false;
  if (!client || client->broken()) {
    absl::StatusOr<std::shared_ptr<ttrpc::Client>> reconnected = Reconnect();
    if (!reconnected.ok()) return reconnected.status();
    client = *std::move(reconnected);
    fresh = true;
  }
  const ttrpc::Client::Metadata metadata = {{kNamespaceHeader, namespace_}};
  absl::StatusOr<std::string> reply =
      client->Call(kEventsService, kForwardMethod, request, options_.call_timeout, metadata);
  if (reply.ok() || fresh || !absl::IsUnavailable(reply.status())) return reply.status();
  // The connection went stale (containerd restarted): reconnect and try again at once, as
  // publisher.go does on ttrpc.ErrClosed.
  absl::StatusOr<std::shared_ptr<ttrpc::Client>> reconnected = Reconnect();
  if (!reconnected.ok()) return reconnected.status();
  return (*reconnected)->Call(kEventsService, kForwardMethod, request, options_.call_timeout, metadata).status();
}

}  // namespace airlock::events
