// The OCI / Docker image documents `airlock run` reads from containerd's content store: index
// (manifest list), manifest, config. Pure parsing: no I/O.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace airlock::containerd {

struct Platform {
  std::string os = "linux";
  std::string architecture;  // GOARCH spelling: amd64, arm64, ...
  std::string variant;       // optional (v8, v7, ...)
};

// This machine's platform (uname: x86_64 -> amd64, aarch64 -> arm64, ...).
Platform HostPlatform();

struct ContentDescriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  bool has_platform = false;
  Platform platform;
};

bool IsIndexMediaType(const std::string& media_type);
bool IsManifestMediaType(const std::string& media_type);

// The manifest of an index for `want` (os and architecture must match; a wanted variant must
// match when the entry names one). An index with a single entry without platform is taken as is.
absl::StatusOr<ContentDescriptor> SelectManifest(const std::string& index_json, const Platform& want);

struct Manifest {
  ContentDescriptor config;
  std::vector<ContentDescriptor> layers;
};
absl::StatusOr<Manifest> ParseManifest(const std::string& manifest_json);

// The part of the image config a container spec takes (config.Env, Entrypoint, Cmd, WorkingDir,
// User) and the layers' uncompressed digests (rootfs.diff_ids).
struct ImageConfig {
  std::vector<std::string> env;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::string user;
  std::vector<std::string> diff_ids;
};
absl::StatusOr<ImageConfig> ParseImageConfig(const std::string& config_json);

// "sha256:<64 hex>" (lower case): the only digest form containerd stores.
bool IsSha256Digest(const std::string& digest);

// The identity of the snapshot holding the unpacked layers: chain(L0) = diff(L0),
// chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln)) (OCI image spec, "ChainID").
absl::StatusOr<std::string> ChainId(const std::vector<std::string>& diff_ids);

}  // namespace airlock::containerd
