#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "containerd/types/introspection.pb.h"
#include "shim/base/subprocess.h"
#include "shim/bootstrap/actions.h"

namespace airlock::bootstrap {

int PrintVersion(const char* argv0) {
  std::printf("%s:\n  Version:  %s\n  Revision: %s\n  Runtime:  %s\n\n", argv0, AIRLOCK_VERSION, AIRLOCK_REVISION,
              kRuntimeName);
  return 0;
}

int PrintInfo(const Extensions& extensions) {
  containerd::types::RuntimeInfo info;
  info.set_name(kRuntimeName);
  info.mutable_version()->set_version(AIRLOCK_VERSION);
  info.mutable_version()->set_revision(AIRLOCK_REVISION);
  std::string options((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (!options.empty() && !info.mutable_options()->ParseFromString(options)) {
    std::fprintf(stderr, "-info: options on stdin are not a protobuf Any");
    return 1;
  }
  // The OCI runtime's own feature list, as containerd 2.x expects it.
  runc::Config runc = RuncDefaults(extensions, "default");
  absl::StatusOr<ChildResult> features =
      Run({.argv = {runc.binary, "features"}, .capture_stdout = true}, absl::Seconds(10));
  if (features.ok() && features->exit.status == 0) {
    info.mutable_features()->set_type_url("types.containerd.io/opencontainers/runtime-spec/1/features/Features");
    info.mutable_features()->set_value(features->out);
  }
  std::string out = info.SerializeAsString();
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int Main(int argc, char** argv, const Extensions& extensions) {
  // As go-runc does for containerd's runc shim: with NOTIFY_SOCKET (containerd run as a systemd
  // notify unit) runc would bind that socket into the container and `runc start` would wait for
  // the container's READY=1. The shim and its runc calls are nobody's notify service.
  unsetenv("NOTIFY_SOCKET");
  std::vector<std::string> args(argv, argv + argc);
  absl::StatusOr<Flags> flags = ParseFlags(args);
  if (!flags.ok()) {
    std::fprintf(stderr, "%s: %s\n", kRuntimeName, std::string(flags.status().message()).c_str());
    return 2;
  }
  if (flags->version) return PrintVersion(argv[0]);
  if (flags->info) return PrintInfo(extensions);
  if (flags->action == "start") return RunStart(*flags, extensions);
  if (flags->action == "delete") return RunDelete(*flags, extensions);
  std::fprintf(stderr, "%s: unknown action \"%s\" (containerd runs `start` and `delete`)\n", kRuntimeName,
               flags->action.c_str());
  return 2;
}

}  // namespace airlock::bootstrap
