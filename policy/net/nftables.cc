#include "policy/net/nftables.h"

#include <dlfcn.h>
#include <nftables/libnftables.h>

#include <mutex>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/strings/substitute.h"
#include "policy/net/in_netns.h"

namespace airlock::net {
namespace {

// The few libnftables entry points we use, typed from its header.
struct NftApi {
  decltype(&nft_ctx_new) ctx_new = nullptr;
  decltype(&nft_ctx_free) ctx_free = nullptr;
  decltype(&nft_ctx_buffer_output) buffer_output = nullptr;
  decltype(&nft_ctx_buffer_error) buffer_error = nullptr;
  decltype(&nft_ctx_get_error_buffer) get_error_buffer = nullptr;
  decltype(&nft_run_cmd_from_buffer) run_cmd_from_buffer = nullptr;
  std::string load_error;
};

const NftApi& Api() {
  static NftApi api;
  static std::once_flag once;
  std::call_once(once, [] {
    void* handle = ::dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* error = ::dlerror();
      api.load_error = error != nullptr ? error : "dlopen(libnftables.so.1) failed";
      return;
    }
    auto load = [&](auto& slot, const char* name) {
      slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(::dlsym(handle, name));
      if (slot == nullptr) api.load_error = absl::StrCat("libnftables lacks ", name);
    };
    load(api.ctx_new, "nft_ctx_new");
    load(api.ctx_free, "nft_ctx_free");
    load(api.buffer_output, "nft_ctx_buffer_output");
    load(api.buffer_error, "nft_ctx_buffer_error");
    load(api.get_error_buffer, "nft_ctx_get_error_buffer");
    load(api.run_cmd_from_buffer, "nft_run_cmd_from_buffer");
    // The handle stays open for the life of the process: the functions above point into it.
  });
  return api;
}

absl::Status RunHere(const NftApi& api, const std::string& script) {
  nft_ctx* ctx = api.ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) return absl::InternalError("nft_ctx_new failed");
  // Keep libnftables quiet on our stdout/stderr; its errors come back in the status.
  api.buffer_output(ctx);
  api.buffer_error(ctx);
  int rc = api.run_cmd_from_buffer(ctx, script.c_str());
  absl::Status status;
  if (rc != 0) {
    const char* error = api.get_error_buffer(ctx);
    status =
        absl::InternalError(absl::StrCat("nft: ", absl::StripAsciiWhitespace(error != nullptr ? error : "failed")));
  }
  api.ctx_free(ctx);
  return status;
}

}  // namespace

absl::Status RunNft(absl::string_view script, int netns_fd) {
  const NftApi& api = Api();
  if (!api.load_error.empty()) return absl::UnavailableError(absl::StrCat("libnftables: ", api.load_error));
  std::string text(script);
  if (netns_fd < 0) return RunHere(api, text);
  return RunInNetns(netns_fd, [&] { return RunHere(api, text); });
}

std::string NatTableScript(absl::string_view table, absl::string_view host_veth, absl::string_view sandbox_address,
                           const ForwardGuard& guard) {
  // $0 table, $1 host end of the veth, $2 the sandbox's address, $3 the guard's rules.
  std::string guard_rules;
  if (!guard.allow.empty()) {
    absl::StrAppend(&guard_rules, "    iifname \"", host_veth, "\" ip daddr { ", absl::StrJoin(guard.allow, ", "),
                    " } accept\n");
  }
  if (!guard.drop.empty()) {
    absl::StrAppend(&guard_rules, "    iifname \"", host_veth, "\" ip daddr { ", absl::StrJoin(guard.drop, ", "),
                    " } drop\n");
  }
  constexpr absl::string_view kTemplate = R"(table ip $0 {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr $2 oifname != "$1" masquerade
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "$1" ct state established,related accept
    iifname "$1" drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "$1" ip saddr != $2 drop
$3    iifname "$1" accept
    oifname "$1" ct state established,related accept
    oifname "$1" drop
  }
}
)";
  return absl::StrCat(DeleteTableScript(table),
                      absl::Substitute(kTemplate, table, host_veth, sandbox_address, guard_rules));
}

absl::StatusOr<bool> NftTableExists(absl::string_view table) {
  const NftApi& api = Api();
  if (!api.load_error.empty()) return absl::UnavailableError(absl::StrCat("libnftables: ", api.load_error));
  absl::Status listed = RunHere(api, absl::StrCat("list table ip ", table, "\n"));
  if (listed.ok()) return true;
  if (absl::StrContains(listed.message(), "No such file or directory")) return false;
  return listed;
}

std::string DeleteTableScript(absl::string_view table) {
  return absl::StrCat("add table ip ", table, "\n", "delete table ip ", table, "\n");
}

}  // namespace airlock::net
