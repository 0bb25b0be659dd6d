"""Runtime options as containerd 1.6's client sends them (issue 14, item 4).

containerd 1.6's client sends `containerd.runc.v1.Options` only to runtimes named
io.containerd.runc.*; for any other (io.containerd.airlock.v2 among them) WithShimCgroup,
WithUIDOwner and friends fill the old linux runtime's `containerd.linux.runc.CreateOptions`.
The shim accepts both with the same meaning: here, the shim lands in the cgroup named by
ShimCgroup, side by side with containerd-shim-runc-v2 given its own options (it never gets the old
type: containerd 1.6 does not send it to a runc runtime).
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time

import pytest

from harness import procs, ttrpc
from harness.bundle import make_bundle

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


def _io_runc_options(uid, gid):
    return _any("containerd.runc.v1.Options", ttrpc.field_varint(4, uid) + ttrpc.field_varint(5, gid))


def _io_legacy_options(uid, gid):
    return _any("containerd.linux.runc.CreateOptions", ttrpc.field_varint(10, uid) + ttrpc.field_varint(11, gid))


def _passthrough_host_config(root):
    policy = os.path.join(root, "passthrough.yaml")
    with open(policy, "w") as f:
        f.write("version: 1\nmode: passthrough\n")
    config = os.path.join(root, "airlock-config.yaml")
    with open(config, "w") as f:
        f.write(f"version: 1\ndefault_policy: {policy}\naudit_dir: {root}/audit\n")
    return config


@pytest.mark.parametrize("shim,options", [
    ("runc-v2", "runc"),
    ("airlock", "runc"),
    ("airlock", "legacy"),
])
def test_stdio_pipes_owned_by_io_uid_and_gid(tmp_path, shim, options):
    """IoUid/IoGid of the runtime options (issue 14, item 4): the shim makes the pipes the init and
    an exec get as stdio theirs, side by side with containerd-shim-runc-v2 (driven over ttrpc
    without containerd, so both get the same requests)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    binary = RUNC_SHIM if shim == "runc-v2" else AIRLOCK_SHIM
    if binary is None:
        pytest.skip("containerd-shim-runc-v2 is not installed")
    image_tar = os.environ.get("AIRLOCK_IT_IMAGE") or os.path.join(BUILD, "images", "busybox-oci.tar")
    ns = "airlock-it-" + secrets.token_hex(4)
    cid = "u" + secrets.token_hex(4)
    bundle, spec = make_bundle(str(tmp_path), cid, image_tar,
                               ["sh", "-c", "stat -L -c '%u:%g' /proc/self/fd/1; sleep 600"], "airlock-it-iouid",
                               readonly=True)
    env = {k: v for k, v in os.environ.items() if k not in ("TTRPC_ADDRESS", "GRPC_ADDRESS", "MAX_SHIM_VERSION")}
    env["AIRLOCK_CONFIG"] = _passthrough_host_config(str(tmp_path))
    # The shim's log fifo, as containerd makes and reads it (runc-v2 dies writing a log line
    # without one: its stderr is `start`'s, closed by then).
    os.mkfifo(os.path.join(bundle, "log"), 0o600)
    log_fd = os.open(os.path.join(bundle, "log"), os.O_RDONLY | os.O_NONBLOCK)
    log_done = threading.Event()

    def drain_log():
        while not log_done.is_set():
            try:
                os.read(log_fd, 65536)
            except BlockingIOError:
                time.sleep(0.05)
    drainer = threading.Thread(target=drain_log, daemon=True)
    drainer.start()
    r = subprocess.run([binary, "-namespace", ns, "-address", "/run/airlock-it-opts.sock", "-publish-binary",
                        "/bin/false", "-id", cid, "start"], cwd=bundle, env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r
    address = r.stdout.decode().strip()
    pid = _shim_pid(address)
    options_any = _io_runc_options(1234, 4321) if options == "runc" else _io_legacy_options(1234, 4321)
    meta = [("containerd-namespace-ttrpc", ns)]

    def call(conn, method, payload):
        resp = conn.call(ttrpc.TASK_SERVICE, method, payload, metadata=meta)
        assert resp.code == ttrpc.CODE_OK, (method, resp)
        return ttrpc.decode(resp.payload)

    def read_line(fifo_fd):
        got = b""
        deadline = time.monotonic() + 30
        while b"\n" not in got and time.monotonic() < deadline:
            try:
                got += os.read(fifo_fd, 4096)
            except BlockingIOError:
                time.sleep(0.02)
        return got.decode().strip()

    out_fifo, exec_fifo = os.path.join(str(tmp_path), "out"), os.path.join(str(tmp_path), "exec-out")
    os.mkfifo(out_fifo, 0o600)
    os.mkfifo(exec_fifo, 0o600)
    out_fd = os.open(out_fifo, os.O_RDONLY | os.O_NONBLOCK)
    exec_fd = os.open(exec_fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with ttrpc.Conn(address, 60) as conn:
            call(conn, "Create", ttrpc.field_bytes(1, cid) + ttrpc.field_bytes(2, bundle)
                 + ttrpc.field_bytes(6, out_fifo) + ttrpc.field_bytes(7, out_fifo) + ttrpc.field_bytes(10, options_any))
            call(conn, "Start", ttrpc.field_bytes(1, cid))
            # The group is IoGid's; runc itself gives the owner to the process's user (root here:
            # its fixStdioPermissions), for runc-v2 as for airlock. Without the options: 0:0.
            assert read_line(out_fd) == "0:4321"
            process = dict(spec["process"], args=["stat", "-L", "-c", "%u:%g", "/proc/self/fd/1"])
            any_spec = (ttrpc.field_bytes(1, "types.containerd.io/opencontainers/runtime-spec/1/Process")
                        + ttrpc.field_bytes(2, json.dumps(process)))
            call(conn, "Exec", ttrpc.field_bytes(1, cid) + ttrpc.field_bytes(2, "x1")
                 + ttrpc.field_bytes(5, exec_fifo) + ttrpc.field_bytes(6, exec_fifo) + ttrpc.field_bytes(7, any_spec))
            call(conn, "Start", ttrpc.field_bytes(1, cid) + ttrpc.field_bytes(2, "x1"))
            assert read_line(exec_fd) == "0:4321"
            call(conn, "Wait", ttrpc.field_bytes(1, cid) + ttrpc.field_bytes(2, "x1"))
            call(conn, "Kill", ttrpc.field_bytes(1, cid) + ttrpc.field_varint(3, 9))
            call(conn, "Wait", ttrpc.field_bytes(1, cid))
            call(conn, "Delete", ttrpc.field_bytes(1, cid))
    finally:
        os.close(out_fd)
        os.close(exec_fd)
        _shutdown(address, cid, pid)
        log_done.set()
        drainer.join()
        os.close(log_fd)
        # What containerd runs once a shim is gone: after a failure it ends the container and
        # removes what the shim left (runc state, socket, airlock's records); otherwise a no-op.
        subprocess.run([binary, "-namespace", ns, "-id", cid, "delete"], cwd=bundle, env=env,
                       capture_output=True, timeout=60)
        for path in (f"/run/containerd/runc/{ns}", f"/sys/fs/cgroup/pids/airlock-it-iouid-{cid}"):
            try:
                os.rmdir(path)
            except OSError:
                pass
