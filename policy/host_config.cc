#include "policy/host_config.h"

#include <algorithm>
#include <exception>
#include <map>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "policy/duration_size.h"
#include "policy/parse_fields.h"
#include "policy/path_rules.h"

namespace airlock::policy {
namespace {

using yaml::Errors;
using yaml::Field;

class HostConfigReader {
 public:
  HostConfigReader(HostConfig& config, Errors& errors) : c_(config), errors_(errors) {}

  void Read(const YAML::Node& document) {
    if (document.IsNull()) {
      errors_.At(YAML::Mark::null_mark(), "version", "missing (the file is empty; want at least \"version: 1\")");
      return;
    }
    bool have_version = false;
    bool is_map = yaml::ReadMap(
        Field{YAML::Node(), document, ""},
        {
            {"version",
             [&](const Field& f) {
               have_version = true;
               yaml::ReadVersion(f, errors_);
             }},
            {"allowed_repo_roots", [&](const Field& f) { Roots(f); }},
            {"nat",
             [&](const Field& f) {
               yaml::ReadMap(f,
                             {{"pool", [&](const Field& p) { Pool(p); }},
                              {"allow", [&](const Field& a) { NatAllow(a); }}},
                             errors_);
             }},
            {"profiles_dir", [&](const Field& f) { Path(f, c_.profiles_dir); }},
            {"default_policy", [&](const Field& f) { Path(f, c_.default_policy); }},
            {"audit_dir", [&](const Field& f) { Path(f, c_.audit_dir); }},
            {"runtime",
             [&](const Field& f) {
               yaml::ReadMap(f,
                             {{"binary", [&](const Field& b) { Binary(b); }},
                              {"root", [&](const Field& r) { Path(r, c_.runtime_root); }}},
                             errors_);
             }},
            {"shim",
             [&](const Field& f) {
               yaml::ReadMap(f,
                             {{"protocol",
                               [&](const Field& p) {
                                 auto protocol = yaml::ReadEnum<bootstrap::Protocol>(
                                     p,
                                     {{"auto", bootstrap::Protocol::kAuto},
                                      {"ttrpc", bootstrap::Protocol::kTtrpc},
                                      {"grpc", bootstrap::Protocol::kGrpc}},
                                     errors_);
                                 if (protocol) c_.shim_protocol = *protocol;
                               }}},
                             errors_);
             }},
            {"run", [&](const Field& f) { RunLimitsSection(f); }},
            {"proxy",
             [&](const Field& f) {
               yaml::ReadMap(f,
                             {{"resolver", [&](const Field& r) { Resolver(r); }},
                              {"allow", [&](const Field& a) { CidrList(a, c_.proxy.allow); }}},
                             errors_);
             }},
            {"cache",
             [&](const Field& f) {
               yaml::ReadMap(f, {{"max_bytes", [&](const Field& m) { CacheMaxBytes(m); }}}, errors_);
             }},
        },
        errors_);
    if (is_map && !have_version) errors_.At(document.Mark(), "version", "missing (want \"version: 1\")");
  }

 private:
  void Roots(const Field& field) {
    auto items = yaml::ReadList(field, "of absolute directories", errors_);
    if (!items) return;
    std::vector<std::string> roots;
    std::map<std::string, int> lines;
    bool ok = true;
    for (const Field& item : *items) {
      std::optional<std::string> root = yaml::ReadAbsolutePath(item, errors_);
      if (!root) {
        ok = false;
        continue;
      }
      if (std::string problem = HostRepoPathProblem(*root); !problem.empty()) {
        errors_.At(item, absl::StrCat(problem, ": it cannot be a repository root"));
        ok = false;
        continue;
      }
      auto [pos, inserted] = lines.emplace(*root, item.value.Mark().line + 1);
      if (!inserted) {
        errors_.At(item, absl::StrCat("duplicate root \"", *root, "\" (first at line ", pos->second, ")"));
        ok = false;
        continue;
      }
      roots.push_back(*root);
    }
    if (ok) c_.allowed_repo_roots = std::move(roots);
  }

  // A CIDR scalar; nullopt (reported) when it is not one.
  std::optional<Ipv4Cidr> Cidr(const Field& field) {
    std::optional<std::string> text = yaml::ReadString(field, errors_);
    if (!text) return std::nullopt;
    absl::StatusOr<Ipv4Cidr> cidr = ParseIpv4Cidr(*text);
    if (!cidr.ok()) {
      errors_.At(field, cidr.status().message());
      return std::nullopt;
    }
    return *cidr;
  }

  void Pool(const Field& field) {
    std::optional<Ipv4Cidr> cidr = Cidr(field);
    if (!cidr) return;
    if (cidr->prefix_length > 30) {
      errors_.At(field, absl::StrCat("bad CIDR \"", ToString(*cidr),
                                     "\": the prefix length must be 1 to 30 (the pool hands out /30s) (want e.g. "
                                     "198.18.0.0/16)"));
      return;
    }
    c_.nat_pool = *cidr;
  }

  // Ranges a sandbox behind NAT may reach although they are not global unicast (a mirror on the
  // node's network, a test's upstream). Overlaps are refused: nft sets take disjoint intervals.
  void NatAllow(const Field& field) { CidrList(field, c_.nat_allow); }

  // `system` (getaddrinfo) or `hosts:/path` (only that hosts(5) file: a test's names, an air-gapped node).
  void Resolver(const Field& field) {
    std::optional<std::string> text = yaml::ReadString(field, errors_);
    if (!text) return;
    if (*text == "system") {
      c_.proxy.hosts_file.clear();
      return;
    }
    if (absl::StartsWith(*text, "hosts:")) {
      absl::StatusOr<std::string> path = CleanAbsolutePath(absl::string_view(*text).substr(6));
      if (path.ok()) {
        c_.proxy.hosts_file = *path;
        return;
      }
      errors_.At(field, absl::StrCat("bad hosts file: ", path.status().message(), " (want hosts:/path)"));
      return;
    }
    errors_.At(field, absl::StrCat("unknown resolver \"", *text, "\" (want system or hosts:/path)"));
  }

  void CidrList(const Field& field, std::vector<Ipv4Cidr>& out) {
    std::optional<std::vector<yaml::Field>> items = yaml::ReadList(field, "of CIDRs (e.g. 10.20.0.0/16)", errors_);
    if (!items) return;
    std::vector<Ipv4Cidr> ranges;
    for (const yaml::Field& item : *items) {
      std::optional<Ipv4Cidr> cidr = Cidr(item);
      if (!cidr) continue;
      for (const Ipv4Cidr& other : ranges) {
        if (Overlaps(*cidr, other)) {
          errors_.At(item, absl::StrCat("overlaps ", ToString(other), " (list each range once)"));
          return;
        }
      }
      ranges.push_back(*cidr);
    }
    out = std::move(ranges);
  }

  static bool Overlaps(const Ipv4Cidr& a, const Ipv4Cidr& b) {
    const int shorter = std::min(a.prefix_length, b.prefix_length);
    const uint32_t mask = shorter == 0 ? 0 : ~uint32_t{0} << (32 - shorter);
    return (a.address & mask) == (b.address & mask);
  }

  void RunLimitsSection(const Field& field) {
    RunLimits& limits = c_.run_limits;
    yaml::ReadMap(field,
                  {
                      {"max_files", [&](const Field& f) { Count(f, limits.max_files); }},
                      {"max_file_size", [&](const Field& f) { Size(f, limits.max_file_size); }},
                      {"max_total_size", [&](const Field& f) { Size(f, limits.max_total_size); }},
                  },
                  errors_);
  }

  // A whole number > 0 (no unit: a count, not bytes).
  void Count(const Field& field, uint64_t& out) {
    const std::string text = field.value.IsScalar() ? field.value.Scalar() : "";
    uint64_t value = 0;
    if (!field.value.IsScalar() || text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
      errors_.At(field, absl::StrCat("want a whole number, e.g. 10000, got ", yaml::Describe(field.value)));
      return;
    }
    if (!absl::SimpleAtoi(text, &value)) {
      errors_.At(field, absl::StrCat("number \"", text, "\" too large"));
      return;
    }
    if (value == 0) {
      errors_.At(field, "must be more than 0");
      return;
    }
    out = value;
  }

  void Size(const Field& field, uint64_t& out) {
    if (std::optional<uint64_t> size = yaml::ReadByteSize(field, errors_)) out = *size;
  }

  // All setup cache entries of the host together (the least recently used are evicted past it).
  void CacheMaxBytes(const Field& field) {
    std::optional<uint64_t> size = yaml::ReadByteSize(field, errors_);
    if (!size) return;
    if (*size < kMinCacheMaxBytes) {
      errors_.At(field, absl::StrCat("size must be at least ", FormatByteSize(kMinCacheMaxBytes), ", got ",
                                     FormatByteSize(*size)));
      return;
    }
    c_.cache.max_bytes = *size;
  }

  void Path(const Field& field, std::string& out) {
    if (std::optional<std::string> path = yaml::ReadAbsolutePath(field, errors_)) out = *path;
  }

  void Binary(const Field& field) {
    std::optional<std::string> text = yaml::ReadString(field, errors_);
    if (!text) return;
    if (text->find('/') == std::string::npos) {
      if (text->empty() || *text == "." || *text == ".." || text->find('\0') != std::string::npos) {
        errors_.At(field, "want a program name (runc, crun) or an absolute path");
        return;
      }
      c_.runtime_binary = *text;
      return;
    }
    Path(field, c_.runtime_binary);
  }

  HostConfig& c_;
  Errors& errors_;
};

}  // namespace

absl::StatusOr<Ipv4Cidr> ParseIpv4Cidr(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("bad CIDR \"", text, "\": ", why, " (want e.g. 198.18.0.0/16)"));
  };
  std::vector<absl::string_view> halves = absl::StrSplit(text, '/');
  if (halves.size() != 2) return bad("no /prefix");
  std::vector<absl::string_view> octets = absl::StrSplit(halves[0], '.');
  if (octets.size() != 4) return bad("not a dotted IPv4 address");
  uint32_t address = 0;
  for (absl::string_view octet : octets) {
    uint32_t value;
    if (octet.empty() || octet.size() > 3 || !absl::SimpleAtoi(octet, &value) || value > 255 ||
        octet.find_first_not_of("0123456789") != absl::string_view::npos) {
      return bad("not a dotted IPv4 address");
    }
    address = address << 8 | value;
  }
  int prefix;
  if (halves[1].empty() || halves[1].find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(halves[1], &prefix) || prefix < 1 || prefix > 32) {
    return bad("the prefix length must be 1 to 32");
  }
  uint32_t host_mask = prefix == 32 ? 0 : (0xFFFFFFFFu >> prefix);
  if (address & host_mask) return bad("host bits are set");
  return Ipv4Cidr{address, prefix};
}

absl::StatusOr<HostConfig> ParseHostConfig(absl::string_view yaml, absl::string_view file_name) {
  Errors errors(file_name);
  HostConfig config = DefaultHostConfig();
  try {
    if (std::optional<YAML::Node> document = yaml::LoadSingleDocument(yaml, errors)) {
      HostConfigReader(config, errors).Read(*document);
    }
  } catch (const YAML::Exception& e) {
    errors.At(e.mark, "", absl::StrCat("YAML error: ", e.msg));
  } catch (const std::exception& e) {
    errors.At(YAML::Mark::null_mark(), "", absl::StrCat("cannot read the host config: ", e.what()));
  }
  if (!errors.empty()) return errors.ToStatus();
  return config;
}

}  // namespace airlock::policy
