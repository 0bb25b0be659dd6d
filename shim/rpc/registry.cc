#include "shim/rpc/registry.h"

#include "absl/strings/str_cat.h"

namespace airlock::rpc {

absl::string_view CallContext::Metadata(absl::string_view key) const {
  for (const auto& [k, v] : metadata) {
    if (k == key) return v;
  }
  return {};
}

void Registry::Add(std::string service, std::string method, Handler handler) {
  services_[std::move(service)][std::move(method)] = std::move(handler);
}

void Registry::Dispatch(CallContext context, std::string payload, Reply reply) const {
  auto service = services_.find(context.service);
  if (service == services_.end()) {
    reply(absl::UnimplementedError(absl::StrCat("service ", context.service)));
    return;
  }
  auto method = service->second.find(context.method);
  if (method == service->second.end()) {
    reply(absl::UnimplementedError(absl::StrCat("method ", context.method)));
    return;
  }
  const Handler* handler = &method->second;  // registry outlives every call
  if (pool_ == nullptr) {
    (*handler)(context, std::move(payload), std::move(reply));
    return;
  }
  pool_->Submit([handler, context = std::move(context), payload = std::move(payload),
                 reply = std::move(reply)]() mutable { (*handler)(context, std::move(payload), std::move(reply)); });
}

}  // namespace airlock::rpc
