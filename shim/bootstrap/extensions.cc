#include "shim/bootstrap/extensions.h"

namespace airlock::bootstrap {

runc::Config RuncDefaults(const Extensions& extensions, const std::string& ns) {
  if (extensions.runc_defaults) return extensions.runc_defaults(ns);
  runc::Config config;
  config.root = runc::StateRoot(runc::kDefaultStateParent, ns);
  return config;
}

}  // namespace airlock::bootstrap
