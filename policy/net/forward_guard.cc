#include "policy/net/forward_guard.h"

namespace airlock::net {

const std::vector<std::string>& NonGlobalIpv4() {
  static const std::vector<std::string>* const kRanges = new std::vector<std::string>{
      "0.0.0.0/8",     "10.0.0.0/8",      "100.64.0.0/10",   "127.0.0.0/8",     "169.254.0.0/16",
      "172.16.0.0/12", "192.0.0.0/24",    "192.0.2.0/24",    "192.88.99.0/24",  "192.168.0.0/16",
      "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",  "224.0.0.0/4",     "240.0.0.0/4"};
  return *kRanges;
}

const std::vector<std::string>& NodeLocalIpv4() {
  static const std::vector<std::string>* const kRanges = new std::vector<std::string>{
      "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4"};
  return *kRanges;
}

}  // namespace airlock::net
