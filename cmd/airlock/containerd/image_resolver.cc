#include "cmd/airlock/containerd/image_resolver.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cmd/airlock/containerd/services.h"

namespace airlock::containerd {
namespace {

// Manifests, indexes and configs are small documents; a layer is never read here.
constexpr int64_t kMaxDocumentBytes = 8 << 20;

}  // namespace

std::vector<std::string> ImageNameCandidates(const std::string& reference) {
  std::vector<std::string> names = {reference};
  if (reference.empty() || absl::StrContains(reference, "@")) return names;
  std::string name = reference;
  size_t slash = name.find('/');
  std::string first = slash == std::string::npos ? "" : name.substr(0, slash);
  bool has_domain = !first.empty() && (absl::StrContains(first, ".") || absl::StrContains(first, ":") || first == "localhost");
  if (!has_domain) name = (slash == std::string::npos ? "docker.io/library/" : "docker.io/") + name;
  size_t last_slash = name.rfind('/');
  if (name.find(':', last_slash == std::string::npos ? 0 : last_slash) == std::string::npos) name += ":latest";
  if (name != reference) names.push_back(name);
  return names;
}

absl::StatusOr<ResolvedImage> ResolveImage(Connection& c, const std::string& reference, const Platform& platform) {
  absl::StatusOr<api::images::Image> image = absl::NotFoundError("");
  std::string found_name;
  for (const std::string& name : ImageNameCandidates(reference)) {
    image = GetImage(c, name);
    if (image.ok()) {
      found_name = name;
      break;
    }
    if (!absl::IsNotFound(image.status())) return image.status();
  }
  if (!image.ok()) {
    return absl::NotFoundError(absl::StrCat("image ", reference, " not found in namespace ", c.name_space(),
                                            " (import it first: ctr -n ", c.name_space(), " images import FILE.tar)"));
  }
  ResolvedImage out;
  out.name = found_name;
  std::string media_type = image->target().media_type();
  std::string digest = image->target().digest();
  // An index points at manifests; at most two levels are followed (an index of indexes is rare).
  for (int depth = 0; depth < 3 && IsIndexMediaType(media_type); ++depth) {
    absl::StatusOr<std::string> index = ReadContent(c, digest, kMaxDocumentBytes);
    if (!index.ok()) return absl::Status(index.status().code(), absl::StrCat("image ", reference, ": index ", digest, ": ", index.status().message()));
    absl::StatusOr<ContentDescriptor> chosen = SelectManifest(*index, platform);
    if (!chosen.ok()) return absl::Status(chosen.status().code(), absl::StrCat("image ", reference, ": ", chosen.status().message()));
    media_type = chosen->media_type;
    digest = chosen->digest;
  }
  if (!IsManifestMediaType(media_type)) {
    return absl::FailedPreconditionError(absl::StrCat("image ", reference, ": unsupported media type ", media_type));
  }
  absl::StatusOr<std::string> manifest_json = ReadContent(c, digest, kMaxDocumentBytes);
  if (!manifest_json.ok()) {
    return absl::Status(manifest_json.status().code(),
                        absl::StrCat("image ", reference, ": manifest ", digest, ": ", manifest_json.status().message()));
  }
  absl::StatusOr<Manifest> manifest = ParseManifest(*manifest_json);
  if (!manifest.ok()) return absl::Status(manifest.status().code(), absl::StrCat("image ", reference, ": ", manifest.status().message()));
  out.manifest_digest = digest;
  absl::StatusOr<std::string> config_json = ReadContent(c, manifest->config.digest, kMaxDocumentBytes);
  if (!config_json.ok()) {
    return absl::Status(config_json.status().code(), absl::StrCat("image ", reference, ": config ", manifest->config.digest,
                                                                  ": ", config_json.status().message()));
  }
  absl::StatusOr<ImageConfig> config = ParseImageConfig(*config_json);
  if (!config.ok()) return absl::Status(config.status().code(), absl::StrCat("image ", reference, ": ", config.status().message()));
  out.config = *std::move(config);
  absl::StatusOr<std::string> chain = ChainId(out.config.diff_ids);
  if (!chain.ok()) return absl::Status(chain.status().code(), absl::StrCat("image ", reference, ": ", chain.status().message()));
  out.chain_id = *std::move(chain);
  return out;
}

absl::Status CheckUnpacked(Connection& c, const ResolvedImage& image, const std::string& snapshotter) {
  absl::StatusOr<api::snapshots::Info> info = StatSnapshot(c, snapshotter, image.chain_id);
  if (info.ok()) return absl::OkStatus();
  if (absl::IsNotFound(info.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "image ", image.name, " is not unpacked for snapshotter ", snapshotter, " (no snapshot ", image.chain_id,
        "); import or pull it with that snapshotter: ctr -n ", c.name_space(), " images import --snapshotter ",
        snapshotter, " FILE.tar (or images pull --snapshotter ", snapshotter, " ", image.name,
        "), or pass the snapshotter it was unpacked with (--snapshotter)"));
  }
  return absl::Status(info.status().code(),
                      absl::StrCat("snapshotter ", snapshotter, ": ", info.status().message()));
}

}  // namespace airlock::containerd
