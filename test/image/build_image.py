#!/usr/bin/python3
"""Builds the bundled busybox OCI image archive from the host's static busybox.

No registry and no network: one layer made of /bin/busybox, symlinks for its
applets (where `busybox --install -s` would put them), a minimal /etc and the
empty mount points. Everything is deterministic (sorted entries, fixed mtimes,
uid/gid 0, fixed gzip header) so the same busybox always gives the same digest.

Usage: build_image.py --out build/images/busybox-oci.tar [--busybox /bin/busybox]
                      [--name localhost/airlock/busybox:latest] [--rootfs DIR]
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import tarfile

DEFAULT_NAME = "localhost/airlock/busybox:latest"
FIXED_MTIME = 0  # 1970-01-01: no build time leaks into the digest
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"

# uname -m -> GOARCH (what OCI platforms use).
GOARCH = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
    "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386",
    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
    "mips64": "mips64le",
}

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:\nnobody:x:65534:\n"


def applet_paths(busybox):
    """Paths (relative, like 'usr/bin/awk') where busybox --install would link applets."""
    out = subprocess.run([busybox, "--list-full"], check=True, capture_output=True,
                         text=True, timeout=30).stdout
    paths = set()
    for line in out.split():
        line = line.strip().strip("/")
        # linuxrc sits in / and is only meaningful for initramfs; busybox itself is the file.
        if not line or "/" not in line or line == "bin/busybox":
            continue
        paths.add(line)
    return sorted(paths)


def layer_entries(busybox):
    """(TarInfo, bytes-or-None) pairs, sorted by name."""
    entries = []

    def add_dir(name, mode=0o755):
        ti = tarfile.TarInfo(name)
        ti.type = tarfile.DIRTYPE
        ti.mode = mode
        entries.append((ti, None))

    def add_file(name, data, mode=0o644):
        ti = tarfile.TarInfo(name)
        ti.type = tarfile.REGTYPE
        ti.mode = mode
        ti.size = len(data)
        entries.append((ti, data))

    def add_symlink(name, target):
        ti = tarfile.TarInfo(name)
        ti.type = tarfile.SYMTYPE
        ti.linkname = target
        ti.mode = 0o777
        entries.append((ti, None))

    for d in ["bin", "dev", "etc", "proc", "root", "sbin", "sys", "usr", "usr/bin",
              "usr/sbin", "var"]:
        add_dir(d, 0o700 if d == "root" else 0o755)
    add_dir("tmp", 0o1777)
    with open(busybox, "rb") as f:
        add_file("bin/busybox", f.read(), 0o755)
    add_file("etc/passwd", PASSWD.encode())
    add_file("etc/group", GROUP.encode())
    for path in applet_paths(busybox):
        add_symlink(path, "/bin/busybox")

    for ti, _ in entries:
        ti.mtime = FIXED_MTIME
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
    entries.sort(key=lambda e: e[0].name)
    return entries


def build_layer_tar(busybox):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for ti, data in layer_entries(busybox):
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def gzip_deterministic(data):
    buf = io.BytesIO()
    # filename='' and mtime=0 keep the gzip header free of names and times.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=6, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def build_image(busybox, name, cmd=("sh",)):
    """Returns {archive path: bytes} of the OCI layout and the uncompressed layer."""
    layer_tar = build_layer_tar(busybox)
    layer_gz = gzip_deterministic(layer_tar)
    machine = platform.machine()
    arch = GOARCH.get(machine, machine)
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Env": [PATH_ENV], "Cmd": list(cmd), "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]},
        "history": [{"created_by": "airlock test/image/build_image.py (busybox-static)"}],
    }
    config_bytes = canonical_json(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": sha256(config_bytes),
                   "size": len(config_bytes)},
        "layers": [{"mediaType": MEDIA_LAYER, "digest": sha256(layer_gz),
                    "size": len(layer_gz)}],
    }
    manifest_bytes = canonical_json(manifest)
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [{
            "mediaType": MEDIA_MANIFEST,
            "digest": sha256(manifest_bytes),
            "size": len(manifest_bytes),
            "platform": {"architecture": arch, "os": "linux"},
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    }
    files = {"oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"})}
    for blob in (layer_gz, config_bytes, manifest_bytes):
        files["blobs/sha256/" + hashlib.sha256(blob).hexdigest()] = blob
    files["index.json"] = canonical_json(index)
    return files, layer_tar


def write_archive(files, out):
    dirs = set()
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for d in sorted(dirs):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, FIXED_MTIME
            tar.addfile(ti)
        for path in sorted(files):
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode, ti.mtime = len(files[path]), 0o644, FIXED_MTIME
            tar.addfile(ti, io.BytesIO(files[path]))
    os.replace(tmp, out)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("--name", default=DEFAULT_NAME)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rootfs", help="also unpack the layer into this (new or empty) directory")
    ap.add_argument("--cmd", default='["sh"]', help="the image's Cmd, a JSON array of strings")
    args = ap.parse_args(argv)
    cmd = json.loads(args.cmd)
    if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
        ap.error("--cmd must be a non-empty JSON array of strings")

    files, layer_tar = build_image(args.busybox, args.name, cmd)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_archive(files, args.out)
    index = json.loads(files["index.json"])
    print(f"{args.out}: {args.name} {index['manifests'][0]['digest']}")
    if args.rootfs:
        os.makedirs(args.rootfs, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(layer_tar)) as tar:
            tar.extractall(args.rootfs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
