#include "cmd/airlock/containerd/image_manifest.h"

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "shim/base/sha256.h"

namespace airlock::containerd {
namespace {

using json = nlohmann::json;

absl::StatusOr<json> ParseObject(const std::string& text, const char* what) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return absl::InvalidArgumentError(absl::StrCat("the image's ", what, " is not a JSON object"));
  return doc;
}

std::string StringField(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

absl::StatusOr<std::vector<std::string>> StringList(const json& object, const char* key, const char* what) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_array()) return absl::InvalidArgumentError(absl::StrCat("image ", what, ": ", key, " is not a list"));
  for (const json& item : *it) {
    if (!item.is_string()) return absl::InvalidArgumentError(absl::StrCat("image ", what, ": ", key, " holds a non-string"));
    out.push_back(item.get<std::string>());
  }
  return out;
}

absl::StatusOr<ContentDescriptor> ParseDescriptor(const json& value, const char* what) {
  if (!value.is_object()) return absl::InvalidArgumentError(absl::StrCat("image ", what, ": descriptor is not an object"));
  ContentDescriptor d;
  d.media_type = StringField(value, "mediaType");
  d.digest = StringField(value, "digest");
  if (!IsSha256Digest(d.digest)) {
    return absl::InvalidArgumentError(absl::StrCat("image ", what, ": digest \"", d.digest, "\" is not sha256:<hex>"));
  }
  if (auto it = value.find("size"); it != value.end() && it->is_number_integer()) d.size = it->get<int64_t>();
  if (auto it = value.find("platform"); it != value.end() && it->is_object()) {
    d.has_platform = true;
    d.platform.os = StringField(*it, "os");
    d.platform.architecture = StringField(*it, "architecture");
    d.platform.variant = StringField(*it, "variant");
  }
  return d;
}

std::string Describe(const Platform& p) {
  return p.variant.empty() ? absl::StrCat(p.os, "/", p.architecture) : absl::StrCat(p.os, "/", p.architecture, "/", p.variant);
}

}  // namespace

Platform HostPlatform() {
  Platform p;
  struct utsname u {};
  std::string machine = uname(&u) == 0 ? u.machine : "x86_64";
  if (machine == "x86_64") {
    p.architecture = "amd64";
  } else if (machine == "aarch64" || machine == "arm64") {
    p.architecture = "arm64";
  } else if (machine == "i386" || machine == "i686") {
    p.architecture = "386";
  } else if (machine.rfind("armv7", 0) == 0) {
    p.architecture = "arm";
    p.variant = "v7";
  } else {
    p.architecture = machine;  // ppc64le, s390x, riscv64 spell the same
  }
  return p;
}

bool IsIndexMediaType(const std::string& media_type) {
  return media_type == "application/vnd.oci.image.index.v1+json" ||
         media_type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

bool IsManifestMediaType(const std::string& media_type) {
  return media_type == "application/vnd.oci.image.manifest.v1+json" ||
         media_type == "application/vnd.docker.distribution.manifest.v2+json";
}

absl::StatusOr<ContentDescriptor> SelectManifest(const std::string& index_json, const Platform& want) {
  absl::StatusOr<json> doc = ParseObject(index_json, "index");
  if (!doc.ok()) return doc.status();
  auto it = doc->find("manifests");
  if (it == doc->end() || !it->is_array() || it->empty()) {
    return absl::InvalidArgumentError("the image's index lists no manifests");
  }
  std::vector<ContentDescriptor> entries;
  for (const json& entry : *it) {
    absl::StatusOr<ContentDescriptor> d = ParseDescriptor(entry, "index");
    if (!d.ok()) return d.status();
    entries.push_back(*std::move(d));
  }
  std::vector<std::string> seen;
  for (const ContentDescriptor& d : entries) {
    if (!d.has_platform) continue;
    seen.push_back(Describe(d.platform));
    if (d.platform.os != want.os || d.platform.architecture != want.architecture) continue;
    if (!want.variant.empty() && !d.platform.variant.empty() && d.platform.variant != want.variant) continue;
    return d;
  }
  if (entries.size() == 1 && !entries[0].has_platform) return entries[0];
  return absl::NotFoundError(absl::StrCat("the image has no manifest for ", Describe(want), " (it has: ",
                                          seen.empty() ? "none with a platform" : absl::StrJoin(seen, ", "), ")"));
}

absl::StatusOr<Manifest> ParseManifest(const std::string& manifest_json) {
  absl::StatusOr<json> doc = ParseObject(manifest_json, "manifest");
  if (!doc.ok()) return doc.status();
  Manifest m;
  auto config = doc->find("config");
  if (config == doc->end()) return absl::InvalidArgumentError("the image's manifest has no config");
  absl::StatusOr<ContentDescriptor> c = ParseDescriptor(*config, "manifest config");
  if (!c.ok()) return c.status();
  m.config = *std::move(c);
  if (auto layers = doc->find("layers"); layers != doc->end() && layers->is_array()) {
    for (const json& layer : *layers) {
      absl::StatusOr<ContentDescriptor> d = ParseDescriptor(layer, "manifest layer");
      if (!d.ok()) return d.status();
      m.layers.push_back(*std::move(d));
    }
  }
  return m;
}

absl::StatusOr<ImageConfig> ParseImageConfig(const std::string& config_json) {
  absl::StatusOr<json> doc = ParseObject(config_json, "config");
  if (!doc.ok()) return doc.status();
  ImageConfig out;
  if (auto it = doc->find("config"); it != doc->end() && it->is_object()) {
    const json& c = *it;
    for (auto [key, target] : {std::pair{"Env", &out.env}, {"Entrypoint", &out.entrypoint}, {"Cmd", &out.cmd}}) {
      absl::StatusOr<std::vector<std::string>> list = StringList(c, key, "config");
      if (!list.ok()) return list.status();
      *target = *std::move(list);
    }
    out.working_dir = StringField(c, "WorkingDir");
    out.user = StringField(c, "User");
  }
  auto rootfs = doc->find("rootfs");
  if (rootfs == doc->end() || !rootfs->is_object()) return absl::InvalidArgumentError("the image's config has no rootfs");
  absl::StatusOr<std::vector<std::string>> diff_ids = StringList(*rootfs, "diff_ids", "config rootfs");
  if (!diff_ids.ok()) return diff_ids.status();
  out.diff_ids = *std::move(diff_ids);
  if (out.diff_ids.empty()) return absl::InvalidArgumentError("the image's config lists no layers (rootfs.diff_ids)");
  return out;
}

bool IsSha256Digest(const std::string& digest) {
  if (digest.size() != 7 + 64 || digest.compare(0, 7, "sha256:") != 0) return false;
  for (size_t i = 7; i < digest.size(); ++i) {
    char c = digest[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::StatusOr<std::string> ChainId(const std::vector<std::string>& diff_ids) {
  if (diff_ids.empty()) return absl::InvalidArgumentError("no layers: no chain id");
  std::string chain;
  for (const std::string& diff : diff_ids) {
    if (!IsSha256Digest(diff)) return absl::InvalidArgumentError(absl::StrCat("layer digest \"", diff, "\" is not sha256:<hex>"));
    chain = chain.empty() ? diff : "sha256:" + Sha256Hex(chain + " " + diff);
  }
  return chain;
}

}  // namespace airlock::containerd
