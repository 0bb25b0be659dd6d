"""OCI bundles for tests that drive a shim directly (no containerd): the busybox rootfs the build
makes, and `runc spec`'s config with the test's process."""

import json
import os
import subprocess

from . import image


def make_bundle(root, cid, image_tar, args, cgroup_prefix, readonly=False):
    """<root>/<cid> with rootfs/ and config.json running `args` (no terminal) in the cgroup
    /<cgroup_prefix>-<cid>. Returns (bundle path, the spec as written)."""
    bundle = os.path.join(root, cid)
    image.extract_rootfs(image_tar, os.path.join(bundle, "rootfs"))
    subprocess.run(["runc", "spec", "--bundle", bundle], check=True, timeout=30)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = list(args)
    spec["root"] = {"path": "rootfs", "readonly": readonly}
    spec["linux"]["cgroupsPath"] = f"/{cgroup_prefix}-{cid}"
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    return bundle, spec
