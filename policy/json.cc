#include "policy/json.h"

#include "policy/duration_size.h"

namespace airlock::policy {

nlohmann::json PolicyToJson(const Policy& p) {
  nlohmann::json tmpfs = nlohmann::json::object();
  for (const TmpfsMount& m : p.filesystem.tmpfs) tmpfs[m.path] = FormatByteSize(m.size_bytes);
  nlohmann::json setup = {{"timeout", FormatGoDuration(p.setup.timeout)}, {"keep_processes", p.setup.keep_processes},
                          {"leftover_secrets", std::string(ToString(p.setup.leftover_secrets))}};
  if (!p.setup.command.empty()) setup["command"] = p.setup.command;
  nlohmann::json out = {
      {"version", 1},
      {"mode", ToString(p.mode)},
      {"workspace", {{"target", p.workspace.target}, {"required", p.workspace.required}}},
      {"filesystem",
       {{"rootfs",
         {{"setup", std::string(ToString(p.filesystem.rootfs.setup))},
          {"execution", std::string(ToString(p.filesystem.rootfs.execution))}}},
        {"tmpfs", tmpfs},
        {"other_binds", std::string(ToString(p.filesystem.other_binds))}}},
      {"network",
       {{"setup", {{"uplink", ToString(p.network.setup.uplink)}}},
        {"execution", std::string(ToString(p.network.execution))}}},
      {"setup", setup},
      {"secrets", p.secrets},
      {"seccomp",
       {{"execution", std::string(ToString(p.seccomp.execution))},
        {"setup", std::string(ToString(p.seccomp.setup))},
        {"allow_debuggers", p.seccomp.allow_debuggers}}},
      {"capabilities", p.capabilities},
  };
  if (UsesProxy(p.network)) {
    const Proxy& proxy = p.network.proxy;
    nlohmann::json j = {{"preset", std::string(ToString(proxy.preset))},
                        {"allow", proxy.allow},
                        {"methods", proxy.methods},
                        {"ports", proxy.ports},
                        {"limits",
                         {{"requests", proxy.limits.requests},
                          {"bytes_up", FormatByteSize(proxy.limits.bytes_up)},
                          {"bytes_down", FormatByteSize(proxy.limits.bytes_down)},
                          {"connections", proxy.limits.connections}}}};
    j["setup_methods"] = proxy.setup_methods ? nlohmann::json(*proxy.setup_methods) : nlohmann::json("all");
    out["network"]["proxy"] = std::move(j);
  }
  // Only when on: the section's presence is what turns the cache on (ParsePolicy reads this back).
  if (p.cache.enabled) {
    nlohmann::json cache = {{"key_files", p.cache.key_files}, {"ttl", FormatGoDuration(p.cache.ttl)}};
    if (!p.cache.maintenance.empty()) cache["maintenance"] = p.cache.maintenance;
    if (p.cache.maintenance_timeout) cache["maintenance_timeout"] = FormatGoDuration(*p.cache.maintenance_timeout);
    out["cache"] = std::move(cache);
  }
  if (!p.audit.dir.empty()) out["audit"] = {{"dir", p.audit.dir}};
  return out;
}

}  // namespace airlock::policy
