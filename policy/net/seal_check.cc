#include "policy/net/seal_check.h"

#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace airlock::net {
namespace {

bool IsLoopbackBytes(uint8_t family, const std::vector<uint8_t>& bytes) {
  if (family == AF_INET) return bytes.size() == 4 && bytes[0] == 127;
  if (family == AF_INET6) {
    static constexpr uint8_t kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return bytes.size() == 16 && std::equal(bytes.begin(), bytes.end(), kLoopback6);
  }
  return false;
}

// A destination prefix entirely inside loopback space: 127.0.0.0/8 (length >= 8) or ::1/128.
bool IsLoopbackPrefix(const Route& route) {
  if (route.family == AF_INET) return route.dst_len >= 8 && IsLoopbackBytes(AF_INET, route.dst);
  if (route.family == AF_INET6) return route.dst_len == 128 && IsLoopbackBytes(AF_INET6, route.dst);
  return false;
}

// Records every item read (printable) in `found` and each violation; an unreadable list is one.
template <typename T>
void Judge(const absl::StatusOr<std::vector<T>>& items, std::optional<std::string> (*violation)(const T&),
           absl::string_view what, std::vector<std::string>* found, SealCheck* check) {
  if (!items.ok()) {
    check->violations.push_back(absl::StrCat("cannot read ", what, ": ", items.status().ToString()));
    return;
  }
  for (const T& item : *items) {
    found->push_back(item.ToString());
    if (std::optional<std::string> why = violation(item)) check->violations.push_back(*std::move(why));
  }
}

}  // namespace

std::optional<std::string> LinkViolation(const Link& link) {
  if (link.index == kLoopbackIndex && link.name == "lo" && (link.flags & IFF_LOOPBACK) && link.kind.empty()) {
    return std::nullopt;
  }
  return absl::StrCat("link other than lo: ", link.ToString());
}

std::optional<std::string> AddressViolation(const Address& address) {
  if (address.index == kLoopbackIndex && IsLoopbackBytes(address.family, address.address) &&
      (address.peer.empty() || IsLoopbackBytes(address.family, address.peer))) {
    return std::nullopt;
  }
  return absl::StrCat("address other than loopback: ", address.ToString());
}

std::optional<std::string> RouteViolation(const Route& route) {
  bool allowed_type = route.type == RTN_LOCAL || route.type == RTN_BROADCAST || route.type == RTN_UNICAST;
  if (allowed_type && route.oif == kLoopbackIndex && !route.has_gateway && !route.multipath &&
      IsLoopbackPrefix(route)) {
    return std::nullopt;
  }
  return absl::StrCat("route other than loopback: ", route.ToString());
}

std::optional<std::string> RuleViolation(const Rule& rule) {
  struct Default {
    uint8_t family;
    uint32_t priority;
    uint32_t table;
  };
  static constexpr Default kDefaults[] = {
      {AF_INET, 0, RT_TABLE_LOCAL},  {AF_INET, 32766, RT_TABLE_MAIN},  {AF_INET, 32767, RT_TABLE_DEFAULT},
      {AF_INET6, 0, RT_TABLE_LOCAL}, {AF_INET6, 32766, RT_TABLE_MAIN},
  };
  bool plain =
      rule.action == FR_ACT_TO_TBL && rule.selectors.empty() && rule.src_len == 0 && rule.dst_len == 0 && rule.tos == 0;
  if (plain) {
    for (const Default& d : kDefaults) {
      if (d.family == rule.family && d.priority == rule.priority && d.table == rule.table) return std::nullopt;
    }
  }
  return absl::StrCat("policy rule other than the defaults: ", rule.ToString());
}

SealCheck CheckLoopbackOnly(NetlinkSocket& sandbox, const NetDevList& devices, LinkDetail detail) {
  SealCheck check;
  auto note = [&](const absl::Status& status, absl::string_view what) {
    check.violations.push_back(absl::StrCat("cannot read ", what, ": ", status.ToString()));
  };

  // A live netns always holds its loopback (it cannot be deleted or moved out), so a device list
  // of one entry is the loopback alone. (RTM_GETLINK, even for one index, waits for rtnl: not here.)
  if (auto names = devices.Read(); names.ok()) {
    if (names->size() == 1 && (*names)[0] == "lo") {
      check.links.push_back(absl::StrCat(kLoopbackIndex, ":lo loopback, the only device"));
    } else if (absl::StatusOr<std::vector<Link>> links =
                   detail == LinkDetail::kDump ? ListLinks(sandbox) : absl::UnavailableError("names only");
               links.ok()) {
      // Kinds and indexes for the report; this dump waits for rtnl, which only a failing check pays.
      bool saw_lo = false;
      for (const Link& link : *links) {
        check.links.push_back(link.ToString());
        if (auto why = LinkViolation(link))
          check.violations.push_back(*why);
        else
          saw_lo = true;
      }
      if (!saw_lo) check.violations.push_back("lo is missing: this is not the sandbox netns as created");
      if (check.violations.empty()) check.violations.push_back("the device list and the link dump disagree");
    } else {
      bool saw_lo = false;
      for (const std::string& name : *names) {
        check.links.push_back(name);
        if (name == "lo" && !saw_lo)
          saw_lo = true;
        else
          check.violations.push_back(absl::StrCat("link other than lo: ", name));
      }
      if (!saw_lo) check.violations.push_back("lo is missing: this is not the sandbox netns as created");
    }
  } else {
    note(names.status(), "the device list");
  }

  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    absl::string_view ip = family == AF_INET ? "IPv4" : "IPv6";
    Judge(ListAddresses(sandbox, family), &AddressViolation, absl::StrCat(ip, " addresses"), &check.addresses, &check);
    Judge(ListRoutes(sandbox, family), &RouteViolation, absl::StrCat(ip, " routes"), &check.routes, &check);
    Judge(ListRules(sandbox, family), &RuleViolation, absl::StrCat(ip, " rules"), &check.rules, &check);
  }

  check.verified = check.violations.empty();
  return check;
}

}  // namespace airlock::net
