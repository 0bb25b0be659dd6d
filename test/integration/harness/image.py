"""The bundled busybox image (built by test/image/build_image.py)."""

import io
import json
import os
import tarfile

IMAGE_NAME = "localhost/airlock/busybox:latest"


def _blob(archive, digest):
    return archive.extractfile("blobs/sha256/" + digest.split(":", 1)[1]).read()


def extract_rootfs(archive_path, dest):
    """Unpacks the image's layers into `dest` (for `ctr run --rootfs`). Returns dest."""
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(archive_path) as archive:
        index = json.loads(archive.extractfile("index.json").read())
        manifest = json.loads(_blob(archive, index["manifests"][0]["digest"]))
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=io.BytesIO(_blob(archive, layer["digest"])), mode="r:*") as t:
                t.extractall(dest)
    return dest
