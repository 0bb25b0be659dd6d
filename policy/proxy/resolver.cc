#include "policy/proxy/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "policy/host_names.h"

namespace airlock::proxy {
namespace {

constexpr size_t kMaxHostsFile = 1 << 20;

Endpoint WithPort(Endpoint endpoint, uint16_t port) {
  if (endpoint.address.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&endpoint.address)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&endpoint.address)->sin6_port = htons(port);
  }
  return endpoint;
}

class HostsFile final : public Resolver {
 public:
  explicit HostsFile(std::map<std::string, std::vector<Endpoint>> names) : names_(std::move(names)) {}
  absl::StatusOr<std::vector<Endpoint>> Resolve(const std::string& host, uint16_t port) const override {
    auto it = names_.find(host);
    if (it == names_.end()) return absl::NotFoundError(absl::StrCat(host, " is not in the proxy's hosts file"));
    std::vector<Endpoint> out;
    for (const Endpoint& e : it->second) out.push_back(WithPort(e, port));
    return out;
  }
  bool Immediate() const override { return true; }

 private:
  std::map<std::string, std::vector<Endpoint>> names_;
};

class System final : public Resolver {
 public:
  absl::StatusOr<std::vector<Endpoint>> Resolve(const std::string& host, uint16_t port) const override {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
    if (rc != 0) return absl::NotFoundError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc)));
    std::vector<Endpoint> out;
    for (addrinfo* ai = found; ai != nullptr && out.size() < kMaxAddresses; ai = ai->ai_next) {
      if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
      Endpoint e;
      memcpy(&e.address, ai->ai_addr, ai->ai_addrlen);
      e.length = ai->ai_addrlen;
      out.push_back(WithPort(e, port));
    }
    freeaddrinfo(found);
    if (out.empty()) return absl::NotFoundError(absl::StrCat(host, " has no IPv4 or IPv6 address"));
    return out;
  }
  bool Immediate() const override { return false; }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Resolver>> HostsFileResolver(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("proxy hosts file ", path, ": cannot open"));
  std::string text(kMaxHostsFile + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxHostsFile) {
    return absl::InvalidArgumentError(absl::StrCat("proxy hosts file ", path, ": over ", kMaxHostsFile, " bytes"));
  }
  std::map<std::string, std::vector<Endpoint>> names;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<absl::string_view> words = absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("proxy hosts file ", path, ":", line_number, ": ", why));
    };
    std::optional<Endpoint> address = ParseIpLiteral(std::string_view(words[0].data(), words[0].size()), 0);
    if (!address) return bad(absl::StrCat("\"", absl::CHexEscape(words[0]), "\" is not an IP address"));
    if (words.size() < 2) return bad("an address without a name");
    for (size_t i = 1; i < words.size(); ++i) {
      absl::StatusOr<std::string> name = policy::CanonicalHostName(words[i]);
      if (!name.ok()) return bad(name.status().message());
      std::vector<Endpoint>& list = names[*name];
      if (list.size() < kMaxAddresses) list.push_back(*address);
    }
  }
  return std::unique_ptr<Resolver>(new HostsFile(std::move(names)));
}

std::unique_ptr<Resolver> SystemResolver() { return std::make_unique<System>(); }

}  // namespace airlock::proxy
