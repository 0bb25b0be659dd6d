// airlock run's image resolution, pure parts: chain id, index/manifest/config parsing, names.
#include <catch2/catch.hpp>

#include <string>

#include "cmd/airlock/containerd/image_manifest.h"
#include "cmd/airlock/containerd/image_resolver.h"

namespace {

using namespace airlock::containerd;

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');
const std::string kC = "sha256:" + std::string(64, 'c');

}  // namespace

TEST_CASE("chain id: one layer is its diff id, more layers chain with sha256(parent + ' ' + diff)", "[run][image]") {
  CHECK(*ChainId({kA}) == kA);
  // Computed independently: python3 hashlib.sha256((a + " " + b).encode()).
  CHECK(*ChainId({kA, kB}) == "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c");
  CHECK(*ChainId({kA, kB, kC}) == "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588");
  CHECK_FALSE(ChainId({}).ok());
  CHECK_FALSE(ChainId({"sha256:xyz"}).ok());
  CHECK_FALSE(ChainId({kA, "sha512:" + std::string(128, 'a')}).ok());
  CHECK_FALSE(ChainId({"sha256:" + std::string(64, 'A')}).ok());  // containerd stores lower case only
}

TEST_CASE("index: the manifest for the wanted platform", "[run][image]") {
  std::string index = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + kA + R"(","size":10,
     "platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + kB + R"(","size":11,
     "platform":{"os":"linux","architecture":"amd64"}}]})";
  Platform amd64{"linux", "amd64", ""};
  absl::StatusOr<ContentDescriptor> chosen = SelectManifest(index, amd64);
  REQUIRE(chosen.ok());
  CHECK(chosen->digest == kB);
  CHECK(chosen->size == 11);
  Platform arm{"linux", "arm64", "v8"};
  CHECK(SelectManifest(index, arm)->digest == kA);
  absl::StatusOr<ContentDescriptor> none = SelectManifest(index, Platform{"linux", "s390x", ""});
  REQUIRE_FALSE(none.ok());
  CHECK(std::string(none.status().message()).find("linux/arm64/v8, linux/amd64") != std::string::npos);
  // One entry without a platform is taken as it is.
  std::string single = R"({"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + kC + R"("}]})";
  CHECK(SelectManifest(single, amd64)->digest == kC);
  CHECK_FALSE(SelectManifest("{}", amd64).ok());
  CHECK_FALSE(SelectManifest("not json", amd64).ok());
  CHECK(IsIndexMediaType("application/vnd.docker.distribution.manifest.list.v2+json"));
  CHECK(IsManifestMediaType("application/vnd.docker.distribution.manifest.v2+json"));
  CHECK_FALSE(IsManifestMediaType("application/vnd.oci.image.index.v1+json"));
}

TEST_CASE("manifest and config: config digest, layers, env, user, diff ids", "[run][image]") {
  std::string manifest = R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + kA +
                         R"(","size":348},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" + kB +
                         R"(","size":1036000}]})";
  absl::StatusOr<Manifest> m = ParseManifest(manifest);
  REQUIRE(m.ok());
  CHECK(m->config.digest == kA);
  REQUIRE(m->layers.size() == 1);
  CHECK(m->layers[0].digest == kB);
  CHECK_FALSE(ParseManifest(R"({"layers":[]})").ok());
  CHECK_FALSE(ParseManifest(R"({"config":{"digest":"md5:abc"}})").ok());

  std::string config = R"({"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin","A=b"],"Cmd":["sh"],
    "WorkingDir":"/src","User":"1000:1000"},"rootfs":{"type":"layers","diff_ids":[")" + kA + R"(",")" + kC + R"("]}})";
  absl::StatusOr<ImageConfig> c = ParseImageConfig(config);
  REQUIRE(c.ok());
  CHECK(c->env == std::vector<std::string>{"PATH=/bin", "A=b"});
  CHECK(c->cmd == std::vector<std::string>{"sh"});
  CHECK(c->working_dir == "/src");
  CHECK(c->user == "1000:1000");
  CHECK(c->diff_ids == std::vector<std::string>{kA, kC});
  CHECK_FALSE(ParseImageConfig(R"({"config":{}})").ok());                       // no rootfs
  CHECK_FALSE(ParseImageConfig(R"({"rootfs":{"diff_ids":[]}})").ok());          // no layers
  CHECK_FALSE(ParseImageConfig(R"({"config":{"Env":"x"},"rootfs":{"diff_ids":[")" + kA + R"("]}})").ok());
}

TEST_CASE("image names: as given first, then the docker.io spelling containerd stores", "[run][image]") {
  CHECK(ImageNameCandidates("busybox") == std::vector<std::string>{"busybox", "docker.io/library/busybox:latest"});
  CHECK(ImageNameCandidates("me/tool:1") == std::vector<std::string>{"me/tool:1", "docker.io/me/tool:1"});
  CHECK(ImageNameCandidates("localhost/airlock/busybox:latest") ==
        std::vector<std::string>{"localhost/airlock/busybox:latest"});
  CHECK(ImageNameCandidates("registry.example:5000/x/y") ==
        std::vector<std::string>{"registry.example:5000/x/y", "registry.example:5000/x/y:latest"});
  CHECK(ImageNameCandidates("docker.io/library/busybox@" + kA).size() == 1);
}

TEST_CASE("host platform: GOARCH spelling", "[run][image]") {
  Platform p = HostPlatform();
  CHECK(p.os == "linux");
  CHECK_FALSE(p.architecture.empty());
  CHECK(p.architecture != "x86_64");
  CHECK(p.architecture != "aarch64");
}
