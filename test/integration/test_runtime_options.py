"""Runtime options as containerd 1.6's client sends them (issue 14, item 4).

containerd 1.6's client sends `containerd.runc.v1.Options` only to runtimes named
io.containerd.runc.*; for any other (io.containerd.airlock.v2 among them) WithShimCgroup,
WithUIDOwner and friends fill the old linux runtime's `containerd.linux.runc.CreateOptions`.
The shim accepts both with the same meaning: here, the shim lands in the cgroup named by
ShimCgroup, side by side with containerd-shim-runc-v2 given its own options (it never gets the old
type: containerd 1.6 does not send it to a runc runtime).
"""

import os
import secrets
import shutil
import signal
import subprocess
import time

import pytest

from harness import procs, ttrpc

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("AIRLOCK_IT_BUILD") or os.path.join(REPO, "build")
AIRLOCK_SHIM = os.path.join(BUILD, "bin", "containerd-shim-airlock-v2")
RUNC_SHIM = shutil.which("containerd-shim-runc-v2")


def _any(type_url, value):
    return ttrpc.field_bytes(1, type_url) + ttrpc.field_bytes(2, value)


def _runc_options(shim_cgroup):
    return _any("containerd.runc.v1.Options", ttrpc.field_bytes(3, shim_cgroup))


def _legacy_create_options(shim_cgroup):
    # CreateOptions{no_pivot_root=1, no_new_keyring=8, shim_cgroup=9, io_uid=10, io_gid=11}
    value = (ttrpc.field_varint(1, 1) + ttrpc.field_varint(8, 1) + ttrpc.field_bytes(9, shim_cgroup)
             + ttrpc.field_varint(10, 0) + ttrpc.field_varint(11, 0))
    return _any("containerd.linux.runc.CreateOptions", value)


def _unified():
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def _cgroup_dir(name):
    """Where a test cgroup is made: the v2 tree, or the v1 pids hierarchy (one is enough: both
    shims join every hierarchy that has the path)."""
    return f"/sys/fs/cgroup/{name}" if _unified() else f"/sys/fs/cgroup/pids/{name}"


def _in_cgroup(pid, name):
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    if _unified():
        return f"0::/{name}" in lines
    return any(line.split(":", 2)[1] == "pids" and line.split(":", 2)[2] == f"/{name}" for line in lines)


@pytest.fixture
def shim_cgroup():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = "airlock-it-shimcg-" + secrets.token_hex(4)
    path = _cgroup_dir(name)
    os.mkdir(path)
    yield name
    for _ in range(100):  # the shims are gone by now; the kernel frees the cgroup right after
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.05)


def _start(binary, stdin, workdir, cid, ns):
    bundle = os.path.join(workdir, cid)
    os.makedirs(bundle)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", "process": {"args": ["true"], "cwd": "/"}, "root": {"path": "rootfs"}}')
    env = {k: v for k, v in os.environ.items() if k not in ("TTRPC_ADDRESS", "GRPC_ADDRESS", "MAX_SHIM_VERSION")}
    r = subprocess.run([binary, "-namespace", ns, "-address", "/run/airlock-it-opts.sock", "-publish-binary",
                        "/bin/false", "-id", cid, "start"], cwd=bundle, env=env, input=stdin,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r
    address = r.stdout.decode().strip()
    return address


def _shim_pid(address):
    path = address[len("unix://"):] if address.startswith("unix://") else address
    inodes = procs.unix_socket_inodes(path)
    for pid in procs.pids():
        if procs.holds_socket(pid, inodes):
            return pid
    return None


def _shutdown(address, cid, pid):
    try:
        with ttrpc.Conn(address, 10) as conn:
            conn.call(ttrpc.TASK_SERVICE, "Shutdown", ttrpc.field_bytes(1, cid) + ttrpc.field_varint(2, 1))
    except (OSError, ConnectionError):
        pass
    if not procs.wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 10):
        os.kill(pid, signal.SIGKILL)  # the shim this test started, by pid
        procs.wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 10)


@pytest.mark.parametrize("shim,options", [
    ("runc-v2", "runc"),
    ("airlock", "runc"),
    ("airlock", "legacy"),
])
def test_shim_cgroup_from_the_runtime_options(shim_cgroup, tmp_path, shim, options):
    binary = RUNC_SHIM if shim == "runc-v2" else AIRLOCK_SHIM
    if binary is None:
        pytest.skip("containerd-shim-runc-v2 is not installed")
    stdin = _runc_options("/" + shim_cgroup) if options == "runc" else _legacy_create_options("/" + shim_cgroup)
    cid = "o" + secrets.token_hex(4)
    address = _start(binary, stdin, str(tmp_path), cid, "airlock-it-" + secrets.token_hex(4))
    pid = _shim_pid(address)
    assert pid, f"no {shim} shim serving {address}"
    try:
        assert _in_cgroup(pid, shim_cgroup), open(f"/proc/{pid}/cgroup").read()
    finally:
        _shutdown(address, cid, pid)
