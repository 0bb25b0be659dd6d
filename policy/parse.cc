#include "policy/parse.h"

#include <algorithm>
#include <exception>
#include <map>
#include <set>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "policy/capabilities.h"
#include "policy/host_names.h"
#include "policy/parse_fields.h"
#include "policy/path_rules.h"
#include "shim/base/sha256.h"

namespace airlock::policy {
namespace {

using yaml::Errors;
using yaml::Field;
using yaml::Key;

// A path a mount of ours may land on in the container.
std::optional<std::string> ReadMountPoint(const Field& field, Errors& errors) {
  std::optional<std::string> path = yaml::ReadAbsolutePath(field, errors);
  if (!path) return std::nullopt;
  if (std::string problem = ContainerMountPointProblem(*path); !problem.empty()) {
    errors.At(field, problem);
    return std::nullopt;
  }
  return path;
}

class PolicyReader {
 public:
  PolicyReader(Policy& policy, Errors& errors) : p_(policy), errors_(errors) {}

  void Read(const YAML::Node& document) {
    Field root{YAML::Node(), document, ""};
    if (document.IsNull()) {
      errors_.At(YAML::Mark::null_mark(), "version", "missing (the file is empty; want at least \"version: 1\")");
      return;
    }
    bool have_version = false;
    bool is_map = yaml::ReadMap(root,
                                {
                                    {"version",
                                     [&](const Field& f) {
                                       have_version = true;
                                       yaml::ReadVersion(f, errors_);
                                     }},
                                    {"mode",
                                     [&](const Field& f) {
                                       Set(p_.mode, yaml::ReadEnum<PolicyMode>(f,
                                                                               {{"airlock", PolicyMode::kAirlock},
                                                                                {"passthrough", PolicyMode::kPassthrough}},
                                                                               errors_));
                                     }},
                                    {"workspace", [&](const Field& f) { Workspace(f); }},
                                    {"filesystem", [&](const Field& f) { Filesystem(f); }},
                                    {"network", [&](const Field& f) { Network(f); }},
                                    {"setup", [&](const Field& f) { Setup(f); }},
                                    {"cache", [&](const Field& f) { Cache(f); }},
                                    {"secrets", [&](const Field& f) { Secrets(f); }},
                                    {"seccomp", [&](const Field& f) { Seccomp(f); }},
                                    {"capabilities", [&](const Field& f) { Capabilities(f); }},
                                    {"audit", [&](const Field& f) { Audit(f); }},
                                    {"resources", [&](const Field& f) { Resources(f); }},
                                    {"execution", [&](const Field& f) { Execution(f); }},
                                },
                                errors_);
    if (is_map && !have_version) errors_.At(document.Mark(), "version", "missing (want \"version: 1\")");
    CrossCheck();
  }

 private:
  void Workspace(const Field& field) {
    yaml::ReadMap(field,
                  {
                      {"target",
                       [&](const Field& f) {
                         if (auto v = ReadMountPoint(f, errors_)) p_.workspace.target = *v;
                       }},
                      {"required", [&](const Field& f) { Set(p_.workspace.required, yaml::ReadBool(f, errors_)); }},
                  },
                  errors_);
  }

  void Filesystem(const Field& field) {
    yaml::ReadMap(field,
                  {
                      {"rootfs", [&](const Field& f) { Rootfs(f); }},
                      {"tmpfs", [&](const Field& f) { Tmpfs(f); }},
                      {"other_binds",
                       [&](const Field& f) {
                         Set(p_.filesystem.other_binds,
                             yaml::ReadEnum<OtherBinds>(
                                 f, {{"readonly", OtherBinds::kReadonly}, {"reject", OtherBinds::kReject}}, errors_));
                       }},
                  },
                  errors_);
  }

  void Rootfs(const Field& field) {
    yaml::ReadMap(field,
                  {
                      {"setup",
                       [&](const Field& f) {
                         Set(p_.filesystem.rootfs.setup,
                             yaml::ReadEnum<RootfsMode>(
                                 f, {{"writable", RootfsMode::kWritable}, {"readonly", RootfsMode::kReadonly}},
                                 errors_));
                       }},
                      {"execution",
                       [&](const Field& f) {
                         if (f.value.IsScalar() && f.value.Scalar() == "writable") {
                           errors_.At(f, "\"writable\" is not allowed: after the seal the root filesystem is always "
                                         "read-only (want readonly)");
                           return;
                         }
                         Set(p_.filesystem.rootfs.execution,
                             yaml::ReadEnum<RootfsMode>(f, {{"readonly", RootfsMode::kReadonly}}, errors_));
                       }},
                  },
                  errors_);
  }

  void Tmpfs(const Field& field) {
    std::vector<TmpfsMount> mounts;
    std::map<std::string, int> lines;  // clean path -> line, to catch "/tmp" and "/tmp/" both given
    bool ok = yaml::ReadMapEntries(field, errors_, [&](const std::string& key, const Field& entry) {
      Field key_field{YAML::Node(), entry.key, entry.path};
      std::optional<std::string> path = ReadMountPoint(key_field, errors_);
      std::optional<uint64_t> size = yaml::ReadByteSize(entry, errors_);
      if (!path || !size) return;
      auto [pos, inserted] = lines.emplace(*path, entry.key.Mark().line + 1);
      if (!inserted) {
        errors_.AtKey(entry, absl::StrCat("\"", key, "\" is the same path as the tmpfs at line ", pos->second));
        return;
      }
      mounts.push_back(TmpfsMount{*path, *size});
      tmpfs_fields_.push_back(entry);
    });
    if (ok) p_.filesystem.tmpfs = std::move(mounts);
  }

  void Network(const Field& field) {
    network_field_ = field;
    yaml::ReadMap(field,
                  {
                      {"setup", [&](const Field& f) {
                         yaml::ReadMap(f, {{"uplink", [&](const Field& u) { Uplink(u); }}}, errors_);
                       }},
                      {"execution",
                       [&](const Field& f) {
                         Set(p_.network.execution,
                             yaml::ReadEnum<ExecutionNetwork>(
                                 f, {{"deny", ExecutionNetwork::kDeny}, {"proxy", ExecutionNetwork::kProxy}}, errors_));
                       }},
                      {"proxy",
                       [&](const Field& f) {
                         proxy_field_ = f;
                         Proxy(f);
                       }},
                  },
                  errors_);
  }

  void Proxy(const Field& field) {
    ::airlock::policy::Proxy& proxy = p_.network.proxy;
    yaml::ReadMap(field,
                  {
                      {"preset",
                       [&](const Field& f) {
                         Set(proxy.preset, yaml::ReadEnum<ProxyPreset>(
                                               f,
                                               {{"none", ProxyPreset::kNone},
                                                {"common-dependencies", ProxyPreset::kCommonDependencies},
                                                {"all", ProxyPreset::kAll}},
                                               errors_));
                       }},
                      {"allow",
                       [&](const Field& f) { Set(proxy.allow, HostPatterns(f)); }},
                      {"methods", [&](const Field& f) { Set(proxy.methods, Methods(f)); }},
                      {"setup_methods",
                       [&](const Field& f) {
                         if (f.value.IsScalar() && f.value.Scalar() == "all") {
                           proxy.setup_methods.reset();
                           return;
                         }
                         if (auto methods = Methods(f)) proxy.setup_methods = *std::move(methods);
                       }},
                      {"ports", [&](const Field& f) { Ports(f); }},
                      {"limits",
                       [&](const Field& f) {
                         ProxyLimits& l = proxy.limits;
                         yaml::ReadMap(f,
                                       {{"requests", [&](const Field& x) { Set(l.requests, ReadCount(x, 100'000'000)); }},
                                        {"bytes_up", [&](const Field& x) { Set(l.bytes_up, yaml::ReadByteSize(x, errors_)); }},
                                        {"bytes_down",
                                         [&](const Field& x) { Set(l.bytes_down, yaml::ReadByteSize(x, errors_)); }},
                                        {"connections", [&](const Field& x) { Set(l.connections, ReadCount(x, 4096)); }}},
                                       errors_);
                       }},
                  },
                  errors_);
  }

  // The allow list's entries in canonical form (host_names.h), each once.
  std::optional<std::vector<std::string>> HostPatterns(const Field& field) {
    std::optional<std::vector<Field>> items = yaml::ReadList(field, "of host names", errors_);
    if (!items) return std::nullopt;
    std::vector<std::string> patterns;
    std::map<std::string, int> lines;
    bool ok = true;
    for (const Field& item : *items) {
      std::optional<std::string> text = yaml::ReadString(item, errors_);
      absl::StatusOr<std::string> pattern =
          text ? CanonicalHostPattern(*text) : absl::InvalidArgumentError("not a host name");
      if (!pattern.ok()) {
        if (text) errors_.At(item, pattern.status().message());
        ok = false;
        continue;
      }
      auto [pos, inserted] = lines.emplace(*pattern, item.value.Mark().line + 1);
      if (!inserted) {
        errors_.At(item, absl::StrCat("\"", *pattern, "\" is listed twice (first at line ", pos->second, ")"));
        ok = false;
        continue;
      }
      patterns.push_back(*std::move(pattern));
    }
    if (!ok) return std::nullopt;
    return patterns;
  }

  // HTTP methods the proxy knows (CONNECT is how HTTPS passes, governed by ports, not a method).
  std::optional<std::vector<std::string>> Methods(const Field& field) {
    static const std::set<std::string, std::less<>> kKnown = {"GET",   "HEAD",  "OPTIONS", "POST",
                                                              "PUT",   "PATCH", "DELETE",  "TRACE"};
    std::vector<std::string> methods;
    NameList(field, "HTTP method", [](absl::string_view name) -> std::string {
      if (kKnown.count(name)) return "";
      if (name == "CONNECT") return "CONNECT is not a method to list: HTTPS tunnels go to the allowed ports";
      return absl::StrCat("unknown HTTP method \"", name, "\" (want GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE or TRACE)");
    }, methods);
    if (methods.empty() && field.value.IsSequence() && field.value.size() == 0) {
      errors_.At(field, "empty method list (leave the key out for GET, HEAD and OPTIONS)");
      return std::nullopt;
    }
    if (methods.size() != (field.value.IsSequence() ? field.value.size() : size_t{0})) return std::nullopt;
    return methods;
  }

  void Ports(const Field& field) {
    std::optional<std::vector<Field>> items = yaml::ReadList(field, "of TCP ports", errors_);
    if (!items) return;
    if (items->empty()) {
      errors_.At(field, "empty port list (leave the key out for 80 and 443)");
      return;
    }
    std::vector<uint16_t> ports;
    bool ok = true;
    for (const Field& item : *items) {
      std::optional<uint64_t> port = ReadCount(item, 65535);
      if (!port) {
        ok = false;
        continue;
      }
      if (std::find(ports.begin(), ports.end(), *port) != ports.end()) {
        errors_.At(item, absl::StrCat("port ", *port, " is listed twice"));
        ok = false;
        continue;
      }
      ports.push_back(static_cast<uint16_t>(*port));
    }
    if (ok) p_.network.proxy.ports = std::move(ports);
  }

  void Uplink(const Field& field) {
    std::optional<std::string> text = yaml::ReadString(field, errors_);
    if (!text) return;
    if (*text == "nat") {
      p_.network.setup.uplink = {UplinkKind::kNat, ""};
    } else if (*text == "none") {
      p_.network.setup.uplink = {UplinkKind::kNone, ""};
    } else if (*text == "pod") {
      p_.network.setup.uplink = {UplinkKind::kPod, ""};
    } else if (*text == "proxy") {
      p_.network.setup.uplink = {UplinkKind::kProxy, ""};
    } else if (absl::StartsWith(*text, "netns:")) {
      absl::StatusOr<std::string> path = CleanAbsolutePath(absl::string_view(*text).substr(6));
      if (!path.ok()) {
        errors_.At(field, absl::StrCat("bad netns uplink: ", path.status().message(), " (want netns:/path)"));
        return;
      }
      p_.network.setup.uplink = {UplinkKind::kNetns, *path};
    } else {
      errors_.At(field, absl::StrCat("unknown mode \"", *text, "\" (want nat, pod, proxy, none or netns:/path)"));
    }
  }

  void Setup(const Field& field) {
    yaml::ReadMap(field,
                  {
                      {"command", [&](const Field& f) { Command(f, p_.setup.command); }},
                      {"timeout",
                       [&](const Field& f) {
                         Set(p_.setup.timeout, yaml::ReadDuration(f, kMinSetupTimeout, kMaxSetupTimeout, errors_));
                       }},
                      {"keep_processes", [&](const Field& f) { Set(p_.setup.keep_processes, yaml::ReadBool(f, errors_)); }},
                      {"leftover_secrets",
                       [&](const Field& f) {
                         Set(p_.setup.leftover_secrets,
                             yaml::ReadEnum<LeftoverSecrets>(
                                 f, {{"fail", LeftoverSecrets::kFail}, {"scrub", LeftoverSecrets::kScrub}}, errors_));
                       }},
                  },
                  errors_);
  }

  // A command (setup.command, cache.maintenance) into `out`.
  void Command(const Field& field, std::vector<std::string>& out) {
    std::optional<std::vector<std::string>> command = yaml::ReadStringList(field, errors_);
    if (!command) return;
    if (command->empty()) {
      errors_.At(field, absl::StrCat("empty command (want e.g. [\"sh\", \"-c\", \"./setup.sh\"], or leave ",
                                     field.path, " out)"));
      return;
    }
    if (command->front().empty()) {
      errors_.At(field, "the program (first word) is empty");
      return;
    }
    for (const std::string& arg : *command) {
      if (arg.find('\0') != std::string::npos) {
        errors_.At(field, "an argument contains a NUL byte");
        return;
      }
    }
    out = std::move(*command);
  }

  void Cache(const Field& field) {
    ::airlock::policy::Cache& cache = p_.cache;
    if (!yaml::ReadMap(field,
                       {
                           {"key_files", [&](const Field& f) { KeyFiles(f); }},
                           {"ttl",
                            [&](const Field& f) {
                              Set(cache.ttl, yaml::ReadDuration(f, kMinCacheTtl, kMaxCacheTtl, errors_));
                            }},
                           {"maintenance", [&](const Field& f) { Command(f, cache.maintenance); }},
                           {"maintenance_timeout",
                            [&](const Field& f) {
                              if (auto timeout = yaml::ReadDuration(f, kMinSetupTimeout, kMaxSetupTimeout, errors_)) {
                                cache.maintenance_timeout = *timeout;
                              }
                            }},
                       },
                       errors_)) {
      return;
    }
    cache.enabled = true;
  }

  // Files of the repository whose content is part of the cache key: relative paths that stay inside
  // it and out of its git data, each once.
  void KeyFiles(const Field& field) {
    if (field.value.IsSequence() && field.value.size() > kMaxCacheKeyFiles) {
      errors_.At(field, absl::StrCat("too many key files: ", field.value.size(), " (at most ", kMaxCacheKeyFiles, ")"));
      return;
    }
    NameList(field, "key file", KeyFileProblem, p_.cache.key_files);
  }

  // Why `path` cannot be a key file ("" = it can). Never repeats the path when it holds a control byte.
  static std::string KeyFileProblem(absl::string_view path) {
    constexpr absl::string_view kWant = " (want a path relative to the repository root, e.g. package-lock.json)";
    if (path.empty()) return absl::StrCat("empty path", kWant);
    if (path.size() > kMaxCacheKeyFileBytes) {
      return absl::StrCat("path longer than ", kMaxCacheKeyFileBytes, " bytes");
    }
    for (char c : path) {
      if (c == '\0') return "the path contains a NUL byte";
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "the path contains a control character";
    }
    if (path.front() == '/') return absl::StrCat("\"", path, "\" is absolute", kWant);
    for (absl::string_view component : absl::StrSplit(path, '/')) {
      if (component.empty()) {
        return absl::StrCat("\"", path, "\" has an empty component (a double or trailing slash)", kWant);
      }
      if (component == "." || component == "..") {
        return absl::StrCat("\"", path, "\" contains \"", component, "\"", kWant);
      }
      if (absl::EqualsIgnoreCase(component, ".git")) {
        return absl::StrCat("\"", path, "\" is in the repository's git data (", component, ")");
      }
    }
    return "";
  }

  void Secrets(const Field& field) {
    NameList(field, "secret", [](absl::string_view name) -> std::string {
      if (yaml::IsEnvName(name)) return "";
      return absl::StrCat("\"", name, "\" is not an environment variable name (want letters, digits and _, not starting with a digit)");
    }, p_.secrets);
  }

  void Capabilities(const Field& field) {
    NameList(field, "capability", [](absl::string_view name) -> std::string {
      if (IsKernelCapability(name)) return "";
      std::string hint;
      std::string upper = absl::AsciiStrToUpper(name);
      if (!absl::StartsWith(upper, "CAP_")) upper = absl::StrCat("CAP_", upper);
      if (IsKernelCapability(upper)) hint = absl::StrCat("; did you mean ", upper, "?");
      return absl::StrCat("unknown capability \"", name, "\" (not in the kernel's list", hint, ")");
    }, p_.capabilities);
  }

  // A list of unique names, each checked by `problem` ("" = fine).
  template <typename Check>
  void NameList(const Field& field, absl::string_view what, Check problem, std::vector<std::string>& out) {
    std::optional<std::vector<Field>> items = yaml::ReadList(field, absl::StrCat("of ", what, " names"), errors_);
    if (!items) return;
    std::vector<std::string> names;
    std::map<std::string, int> lines;
    bool ok = true;
    for (const Field& item : *items) {
      std::optional<std::string> name = yaml::ReadString(item, errors_);
      if (!name) {
        ok = false;
        continue;
      }
      if (std::string why = problem(*name); !why.empty()) {
        errors_.At(item, why);
        ok = false;
        continue;
      }
      auto [pos, inserted] = lines.emplace(*name, item.value.Mark().line + 1);
      if (!inserted) {
        errors_.At(item, absl::StrCat("duplicate ", what, " \"", *name, "\" (first at line ", pos->second, ")"));
        ok = false;
        continue;
      }
      names.push_back(*name);
    }
    if (ok) out = std::move(names);
  }

  void Seccomp(const Field& field) {
    yaml::ReadMap(field,
                  {
                      {"execution",
                       [&](const Field& f) {
                         if (f.value.IsScalar() && f.value.Scalar() == "none") {
                           errors_.At(f, "\"none\" is not allowed: the execution filter is always on (want strict)");
                           return;
                         }
                         Set(p_.seccomp.execution,
                             yaml::ReadEnum<SeccompMode>(f, {{"strict", SeccompMode::kStrict}}, errors_));
                       }},
                      {"setup",
                       [&](const Field& f) {
                         if (f.value.IsScalar() && f.value.Scalar() == "none") {
                           errors_.At(f, "\"none\" is not allowed: the setup command always runs under its filter "
                                         "(want strict or allow-mount)");
                           return;
                         }
                         Set(p_.seccomp.setup,
                             yaml::ReadEnum<SetupSeccompMode>(
                                 f, {{"strict", SetupSeccompMode::kStrict}, {"allow-mount", SetupSeccompMode::kAllowMount}},
                                 errors_));
                       }},
                      {"allow_debuggers",
                       [&](const Field& f) { Set(p_.seccomp.allow_debuggers, yaml::ReadBool(f, errors_)); }},
                  },
                  errors_);
  }

  void Audit(const Field& field) {
    yaml::ReadMap(field,
                  {{"dir",
                    [&](const Field& f) {
                      if (auto dir = yaml::ReadAbsolutePath(f, errors_)) p_.audit.dir = *dir;
                    }}},
                  errors_);
  }

  // Rules between keys.
  void Resources(const Field& field) {
    yaml::ReadMap(field,
                  {
                      {"pids", [&](const Field& f) { Set(p_.resources.pids, ReadCount(f, 1'000'000)); }},
                      {"memory",
                       [&](const Field& f) {
                         memory_field_ = f;
                         Set(p_.resources.memory_bytes, yaml::ReadByteSize(f, errors_));
                       }},
                      {"memory_swap",
                       [&](const Field& f) {
                         swap_field_ = f;
                         Set(p_.resources.memory_swap_bytes, yaml::ReadByteSize(f, errors_));
                       }},
                      {"cpus", [&](const Field& f) { Set(p_.resources.cpu_millis, ReadCpus(f)); }},
                      {"workspace", [&](const Field& f) { Set(p_.resources.workspace_bytes, yaml::ReadByteSize(f, errors_)); }},
                  },
                  errors_);
  }

  void Execution(const Field& field) {
    yaml::ReadMap(field,
                  {
                      {"timeout",
                       [&](const Field& f) {
                         if (f.value.IsScalar() && f.value.Scalar() == "none") {
                           p_.execution.timeout = absl::InfiniteDuration();
                           return;
                         }
                         Set(p_.execution.timeout,
                             yaml::ReadDuration(f, kMinExecutionTimeout, kMaxExecutionTimeout, errors_));
                       }},
                  },
                  errors_);
  }

  // A whole number in [1, max].
  std::optional<uint64_t> ReadCount(const Field& field, uint64_t max) {
    std::optional<std::string> text = yaml::ReadString(field, errors_);
    if (!text) return std::nullopt;
    uint64_t n = 0;
    if (!absl::SimpleAtoi(*text, &n) || text->empty() || !absl::ascii_isdigit(static_cast<unsigned char>((*text)[0]))) {
      errors_.At(field, absl::StrCat("want a whole number, e.g. 1024, got \"", *text, "\""));
      return std::nullopt;
    }
    if (n == 0 || n > max) {
      errors_.At(field, absl::StrCat("must be between 1 and ", max, ", got ", n));
      return std::nullopt;
    }
    return n;
  }

  // Cores as a decimal ("2", "0.5", at most 3 decimals), in thousandths; at least 0.01 core.
  std::optional<uint64_t> ReadCpus(const Field& field) {
    std::optional<std::string> text = yaml::ReadString(field, errors_);
    if (!text) return std::nullopt;
    uint64_t whole = 0, millis = 0;
    absl::string_view t = *text;
    size_t dot = t.find('.');
    absl::string_view int_part = t.substr(0, dot);
    absl::string_view frac = dot == absl::string_view::npos ? absl::string_view() : t.substr(dot + 1);
    bool ok = !int_part.empty() && int_part.size() <= 4 && frac.size() <= 3 && absl::SimpleAtoi(int_part, &whole) &&
              absl::ascii_isdigit(static_cast<unsigned char>(int_part[0])) && (dot == absl::string_view::npos || !frac.empty());
    for (char c : frac) ok = ok && absl::ascii_isdigit(static_cast<unsigned char>(c));
    if (ok && !frac.empty()) {
      std::string padded(frac);
      padded.resize(3, '0');
      ok = absl::SimpleAtoi(padded, &millis);
    }
    if (!ok) {
      errors_.At(field, absl::StrCat("want a number of cores, e.g. 2 or 0.5, got \"", *text, "\""));
      return std::nullopt;
    }
    uint64_t total = whole * 1000 + millis;
    if (total < 10) {
      errors_.At(field, "must be at least 0.01");
      return std::nullopt;
    }
    return total;
  }

  void CrossCheck() {
    const ::airlock::policy::Network& net = p_.network;
    // Only on its own: an allowlist with errors is empty too.
    if (errors_.empty() && UsesProxy(net) && net.proxy.preset == ProxyPreset::kNone && net.proxy.allow.empty()) {
      const std::optional<Field>& at = proxy_field_ ? proxy_field_ : network_field_;
      errors_.At(at ? at->value.Mark() : YAML::Mark::null_mark(), "network.proxy",
                 "the proxy would allow nothing: list hosts in network.proxy.allow or pick a preset "
                 "(common-dependencies, all)");
    }
    if (proxy_field_ && !UsesProxy(net)) {
      errors_.AtKey(*proxy_field_, "set but unused: network.execution is deny and the setup uplink is not proxy");
    }
    // Without its own value, memory_swap follows memory: no swap.
    if (!swap_field_) p_.resources.memory_swap_bytes = p_.resources.memory_bytes;
    if (swap_field_ && p_.resources.memory_swap_bytes < p_.resources.memory_bytes) {
      errors_.At(*swap_field_, "memory_swap (RAM + swap) must be at least memory");
    }
    for (size_t i = 0; i < p_.filesystem.tmpfs.size() && i < tmpfs_fields_.size(); ++i) {
      if (p_.filesystem.tmpfs[i].path == p_.workspace.target) {
        errors_.AtKey(tmpfs_fields_[i], absl::StrCat("a tmpfs at the workspace target ", p_.workspace.target,
                                                     " would hide the repository"));
      }
    }
  }

  template <typename T>
  static void Set(T& out, const std::optional<T>& value) {
    if (value) out = *value;
  }

  Policy& p_;
  Errors& errors_;
  std::vector<Field> tmpfs_fields_;
  std::optional<Field> memory_field_, swap_field_;
  std::optional<Field> proxy_field_, network_field_;
};

}  // namespace

absl::StatusOr<Policy> ParsePolicy(absl::string_view yaml, absl::string_view file_name) {
  Errors errors(file_name);
  Policy policy = StrictestDefaultPolicy();
  try {
    if (std::optional<YAML::Node> document = yaml::LoadSingleDocument(yaml, errors)) {
      PolicyReader(policy, errors).Read(*document);
    }
  } catch (const YAML::Exception& e) {
    errors.At(e.mark, "", absl::StrCat("YAML error: ", e.msg));
  } catch (const std::exception& e) {
    errors.At(YAML::Mark::null_mark(), "", absl::StrCat("cannot read the policy: ", e.what()));
  }
  if (!errors.empty()) return errors.ToStatus();
  return policy;
}

std::string PolicyDigest(absl::string_view yaml) { return absl::StrCat("sha256:", Sha256Hex(yaml)); }

}  // namespace airlock::policy
