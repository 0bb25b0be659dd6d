// From an image name to what a container needs: image name -> target (index -> manifest for this
// platform) -> config -> rootfs diff_ids -> chain id, the committed snapshot `ctr images import` /
// `ctr images pull` unpacked. Reads containerd's images and content services.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cmd/airlock/containerd/connection.h"
#include "cmd/airlock/containerd/image_manifest.h"

namespace airlock::containerd {

// The names containerd may know an image by, most literal first: "busybox" -> "busybox",
// "docker.io/library/busybox:latest"; "me/tool:1" -> "me/tool:1", "docker.io/me/tool:1".
std::vector<std::string> ImageNameCandidates(const std::string& reference);

struct ResolvedImage {
  std::string name;             // as containerd stores it
  std::string manifest_digest;
  ImageConfig config;
  std::string chain_id;         // parent of the container's snapshot
};

// NotFound: "image REF not found in namespace NS (import it: ctr -n NS images import FILE)".
absl::StatusOr<ResolvedImage> ResolveImage(Connection& c, const std::string& reference, const Platform& platform);

// The image's unpacked snapshot, or FailedPrecondition naming the snapshotter and how to unpack.
absl::Status CheckUnpacked(Connection& c, const ResolvedImage& image, const std::string& snapshotter);

}  // namespace airlock::containerd
