"""The shim driven the way containerd 2.x drives it: JSON bootstrap, then task API v3 over gRPC.

No containerd 2.x exists for Debian 12, so our own gRPC client (test/tools/grpc_task_client.cc)
plays containerd: it starts the shim with `start`, reads the bootstrap, and runs the whole
lifecycle (create, start, state, pids, exec, wait, kill, delete, shutdown) over gRPC v3. The same
socket keeps answering ttrpc (v2 and v3 names), and grpc++ is mapped only once a gRPC client came.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from harness import procs, ttrpc
from harness.bundle import make_bundle

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("AIRLOCK_IT_BUILD") or os.path.join(REPO, "build")
IMAGE = os.environ.get("AIRLOCK_IT_IMAGE") or os.path.join(BUILD, "images", "busybox-oci.tar")
SHIM = os.path.join(BUILD, "bin", "containerd-shim-airlock-v2")
CLIENT = os.path.join(BUILD, "bin", "grpc_task_client")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _make_bundle(root, cid):
    return make_bundle(root, cid, IMAGE, ["sh", "-c", "echo init-out; sleep 600"], "airlock-it-grpc")[0]


def _host_config(root, name, policy_text):
    """An airlock host config in `root` whose default policy is `policy_text`."""
    policy = os.path.join(root, f"{name}.yaml")
    config = os.path.join(root, f"airlock-config-{name}.yaml")
    with open(policy, "w") as f:
        f.write(policy_text)
    with open(config, "w") as f:
        f.write(f"version: 1\ndefault_policy: {policy}\naudit_dir: {root}/audit\n")
    return config


def _passthrough_config(root):
    """Passthrough by default: these tests are about the task API, not the airlock."""
    return _host_config(root, "passthrough", "version: 1\nmode: passthrough\n")


# (socket path, namespace, id) of every shim a test started: the workdir fixture ends what a failed
# test left (its shim by pid, its container by runc, its socket).
_STARTED = []


def _run_start(binary, bundle, ns, cid, env_extra):
    """`<binary> start` for the bundle, as containerd runs it; the CompletedProcess (text)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TTRPC_ADDRESS", "MAX_SHIM_VERSION",
                                                            "AIRLOCK_SHIM_PROTOCOL", "GRPC_ADDRESS",
                                                            "AIRLOCK_GRPC_PLUGIN")}
    env["AIRLOCK_CONFIG"] = _passthrough_config(os.path.dirname(bundle))
    env.update(env_extra)
    r = subprocess.run([binary, "-namespace", ns, "-address", "/run/airlock-it-grpc.sock", "-publish-binary",
                        "/bin/false", "-id", cid, "start"], cwd=bundle, env=env, capture_output=True,
                       text=True, timeout=60)
    if r.returncode == 0:
        out = r.stdout.strip()
        path = json.loads(out)["address"] if out.startswith("{") else out[len("unix://"):]
        _STARTED.append((path, ns, cid))
    return r


def _start_shim(bundle, ns, cid, env_extra):
    r = _run_start(SHIM, bundle, ns, cid, env_extra)
    assert r.returncode == 0, r
    return r.stdout


def _end_leftover_shims():
    while _STARTED:
        path, ns, cid = _STARTED.pop()
        pid = _shim_pid(path)
        if pid is None:
            continue
        subprocess.run(["runc", "--root", f"/run/containerd/runc/{ns}", "delete", "--force", cid],
                       capture_output=True, timeout=30)
        os.kill(pid, signal.SIGKILL)  # a shim this test started, by pid
        procs.wait_until(lambda: not os.path.exists(f"/proc/{pid}") or procs.stat_fields(pid)[0] == "Z", 10)
        if os.path.exists(path):
            os.unlink(path)
        _remove_runc_namespace_dir(ns)


def _shim_pid(socket_path):
    inodes = procs.unix_socket_inodes(socket_path)
    for pid in procs.pids():
        if procs.holds_socket(pid, inodes) and "containerd-shim-airlock-v2" in " ".join(procs.cmdline(pid)):
            return pid
    return None


def _maps_grpc(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libgrpc" in f.read()


class Client:
    def __init__(self, address, ns, version=3):
        self.base = [CLIENT, "--address", address, "--version", str(version), "--namespace", ns, "--timeout", "60"]

    def __call__(self, *args, check=True):
        r = subprocess.run(self.base + list(args), capture_output=True, text=True, timeout=90)
        lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        result = lines[-1] if lines else {}
        if check:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.returncode, result


@pytest.fixture
def workdir():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    os.makedirs("/run/airlock-it", exist_ok=True)
    d = tempfile.mkdtemp(prefix="g", dir="/run/airlock-it")
    yield d
    _end_leftover_shims()
    shutil.rmtree(d, ignore_errors=True)


def test_bootstrap_output_per_containerd(workdir):
    """1.6 (no MAX_SHIM_VERSION): plain ttrpc address; 1.7/2.x (MAX_SHIM_VERSION=2) under auto:
    plain too; asked for gRPC: the JSON bootstrap, version 3 with a bare path."""
    ns = "airlock-it-" + secrets.token_hex(4)
    for env, want_json in (({}, False), ({"MAX_SHIM_VERSION": "2"}, False),
                           ({"MAX_SHIM_VERSION": "2", "AIRLOCK_SHIM_PROTOCOL": "grpc"}, True)):
        cid = "b" + secrets.token_hex(4)
        bundle = _make_bundle(workdir, cid)
        out = _start_shim(bundle, ns, cid, env)
        if want_json:
            boot = json.loads(out)
            assert boot["version"] == 3 and boot["protocol"] == "grpc", out
            path = boot["address"]
            assert path.startswith("/run/airlock/s/"), out
        else:
            assert out.startswith("unix:///run/airlock/s/") and "{" not in out, out
            path = out[len("unix://"):]
        with open(os.path.join(bundle, "address")) as f:
            assert f.read() == "unix://" + path
        pid = _shim_pid(path)
        assert pid, f"no shim serving {path}"
        # grpc++ is mapped only by a shim that announced gRPC (ttrpc never pays for it).
        assert _maps_grpc(pid) == want_json
        # No container was created: Shutdown ends the shim and it removes its socket.
        r = Client("unix://" + path, ns)("shutdown", "--id", cid)
        assert procs.wait_until(lambda: not os.path.exists(f"/proc/{pid}") or
                                procs.stat_fields(pid)[0] == "Z", 10), r
        assert not os.path.exists(path)


def _crun_refuses_this_host():
    """crun 1.8 (Debian 12) refuses hybrid cgroup hosts whose cgroup2 mount holds a controller."""
    try:
        with open("/sys/fs/cgroup/unified/cgroup.controllers") as f:
            return bool(f.read().strip())
    except OSError:
        return False


def test_runtime_binary_is_configurable(workdir):
    """AIRLOCK_RUNTIME_BINARY (or the host config's runtime.binary) picks the OCI runtime: here
    crun. Where crun can run containers the lifecycle below runs on it too; on a hybrid cgroup host
    that crun refuses, its own error must reach the client and nothing may be left behind."""
    if not shutil.which("crun"):
        pytest.fail("crun is not installed (make deps installs it)")
    if not _crun_refuses_this_host():
        test_lifecycle_over_grpc_v3(workdir, oci_runtime="crun")
        return
    ns = "airlock-it-" + secrets.token_hex(4)
    cid = "c" + secrets.token_hex(4)
    bundle = _make_bundle(workdir, cid)
    boot = json.loads(_start_shim(bundle, ns, cid, {"MAX_SHIM_VERSION": "2", "AIRLOCK_SHIM_PROTOCOL": "grpc",
                                                    "AIRLOCK_RUNTIME_BINARY": "crun"}))
    grpc = Client("unix://" + boot["address"], ns)
    rc, err = grpc("create", "--id", cid, "--bundle", bundle, check=False)
    assert rc != 0 and "cgroups in hybrid mode not supported" in err["error"]["message"], err
    grpc("shutdown", "--id", cid)
    assert procs.wait_until(lambda: not os.path.exists(boot["address"]), 10)
    _remove_runc_namespace_dir(ns)
    assert not os.path.exists(f"/sys/fs/cgroup/memory/airlock-it-grpc-{cid}")


def _remove_runc_namespace_dir(ns):
    """runc's state of the namespace (containerd's layout, /run/containerd/runc/<ns>) may stay
    behind, as runc-v2 leaves it, but empty: the test's own namespace, removed here."""
    path = f"/run/containerd/runc/{ns}"
    if os.path.isdir(path):
        assert os.listdir(path) == [], os.listdir(path)
        os.rmdir(path)


def test_lifecycle_over_grpc_v3(workdir, oci_runtime="runc"):
    """The whole task lifecycle over gRPC v3 (on runc; on crun via the test above)."""
    ns = "airlock-it-" + secrets.token_hex(4)
    cid = "g" + secrets.token_hex(4)
    bundle = _make_bundle(workdir, cid)
    boot = json.loads(_start_shim(bundle, ns, cid, {"MAX_SHIM_VERSION": "2", "AIRLOCK_SHIM_PROTOCOL": "grpc",
                                                    "AIRLOCK_RUNTIME_BINARY": oci_runtime}))
    address = "unix://" + boot["address"]
    shim = _shim_pid(boot["address"])
    assert shim
    grpc = Client(address, ns)
    out_log = os.path.join(workdir, "init.out")
    try:  # every check inside: the finally below ends the shim whatever fails
        # Announced gRPC: its module is loaded before the shim says it serves (a shim that announced
        # ttrpc never maps it: test_bootstrap_output_per_containerd). The socket still answers ttrpc.
        assert _maps_grpc(shim), "gRPC announced without its module loaded"
        conn = ttrpc.connect(address, cid)
        assert conn["shim_pid"] == shim

        _, created = grpc("create", "--id", cid, "--bundle", bundle, "--stdout", "file://" + out_log,
                          "--stderr", "file://" + out_log)
        assert _maps_grpc(shim)
        init_pid = created["pid"]
        assert init_pid > 0
        _, state = grpc("state", "--id", cid)
        assert state["status"] == "created", state
        _, started = grpc("start", "--id", cid)
        assert started["pid"] == init_pid
        _, state = grpc("state", "--id", cid)
        assert state["status"] == "running" and state["bundle"] == bundle, state
        _, pids = grpc("pids", "--id", cid)
        assert init_pid in [p["pid"] for p in pids["processes"]], pids

        # An exec, with its own output and exit code.
        exec_out = os.path.join(workdir, "exec.out")
        spec = {"args": ["sh", "-c", "echo exec-out; exit 5"], "cwd": "/", "env": [PATH_ENV],
                "user": {"uid": 0, "gid": 0}}
        grpc("exec", "--id", cid, "--exec-id", "e1", "--stdout", "file://" + exec_out, "--stderr",
             "file://" + exec_out, "--spec", json.dumps(spec))
        _, started = grpc("start", "--id", cid, "--exec-id", "e1")
        assert started["pid"] > 0
        _, waited = grpc("wait", "--id", cid, "--exec-id", "e1")
        assert waited["exit_status"] == 5, waited
        with open(exec_out) as f:
            assert f.read() == "exec-out\n"
        _, deleted = grpc("delete", "--id", cid, "--exec-id", "e1")
        assert deleted["exit_status"] == 5, deleted
        rc, err = grpc("state", "--id", cid, "--exec-id", "e1", check=False)
        assert rc != 0 and err["error"]["name"] == "NOT_FOUND", err

        # Errors keep their codes over gRPC.
        rc, err = grpc("start", "--id", cid, check=False)
        assert rc != 0 and err["error"]["name"] == "FAILED_PRECONDITION", err
        rc, err = grpc("delete", "--id", cid, check=False)
        assert rc != 0 and err["error"]["name"] == "FAILED_PRECONDITION", err

        # The same service over ttrpc under the v3 name, on the same socket.
        with ttrpc.Conn(address) as c:
            resp = c.call("containerd.task.v3.Task", "Connect", ttrpc.connect_request(cid))
            assert resp.code == ttrpc.CODE_OK, resp
            assert ttrpc.decode_connect_response(resp.payload)["task_pid"] == init_pid

        grpc("kill", "--id", cid, "--signal", str(signal.SIGKILL))
        _, waited = grpc("wait", "--id", cid)
        assert waited["exit_status"] == 137, waited
        _, state = grpc("state", "--id", cid)
        assert state["status"] == "stopped" and state["exit_status"] == 137, state
        _, deleted = grpc("delete", "--id", cid)
        assert deleted["pid"] == init_pid and deleted["exit_status"] == 137, deleted
        with open(out_log) as f:
            assert f.read() == "init-out\n"
        grpc("shutdown", "--id", cid)
        assert procs.wait_until(lambda: not os.path.exists(f"/proc/{shim}") or
                                procs.stat_fields(shim)[0] == "Z", 10)
    finally:
        if os.path.exists(f"/proc/{shim}") and procs.stat_fields(shim)[0] != "Z":
            subprocess.run([oci_runtime, "--root", f"/run/containerd/runc/{ns}", "delete", "--force", cid],
                           capture_output=True, timeout=30)
            os.kill(shim, signal.SIGKILL)
            if os.path.exists(boot["address"]):
                os.unlink(boot["address"])
    # Nothing left: socket, runc state, cgroup.
    assert not os.path.exists(boot["address"])
    assert not os.path.exists(f"/run/containerd/runc/{ns}/{cid}")
    _remove_runc_namespace_dir(ns)
    assert not os.path.exists(f"/sys/fs/cgroup/memory/airlock-it-grpc-{cid}")


def test_version_and_info_flags():
    """`-v` prints the version; `-info` prints containerd 2.x's RuntimeInfo protobuf: name, version,
    the options read from stdin, and the OCI runtime's features (runc features JSON)."""
    r = subprocess.run([SHIM, "-v"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "Version:" in r.stdout and "io.containerd.airlock.v2" in r.stdout, r
    options = ttrpc.field_bytes(1, "runtimeoptions.v1.Options") + ttrpc.field_bytes(2, ttrpc.field_bytes(2, "/p.yaml"))
    r = subprocess.run([SHIM, "-info"], input=options, capture_output=True, timeout=30)
    assert r.returncode == 0, r
    info = ttrpc.decode(r.stdout)
    assert ttrpc.first(info, 1) == b"io.containerd.airlock.v2"
    version = ttrpc.decode(ttrpc.first(info, 2))
    assert ttrpc.first(version, 1).decode().count(".") == 2
    assert ttrpc.first(info, 3) == options  # the options from stdin, echoed
    features = ttrpc.decode(ttrpc.first(info, 4))
    assert ttrpc.first(features, 1) == b"types.containerd.io/opencontainers/runtime-spec/1/features/Features"
    assert "ociVersionMin" in json.loads(ttrpc.first(features, 2))
    # Garbage on stdin is an error, not a crash.
    r = subprocess.run([SHIM, "-info"], input=b"\xff\xff\xff", capture_output=True, timeout=30)
    assert r.returncode != 0 and b"not a protobuf Any" in r.stderr, r
    # An unknown flag or action: usage-style error, exit 2.
    r = subprocess.run([SHIM, "-bogus"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "flag provided but not defined: -bogus" in r.stderr, r


class _Task:
    """One shim serving one bundle over gRPC, for the start tests below; shut down and checked clean
    by close()."""

    def __init__(self, workdir, hooks=None, env=None):
        self.ns = "airlock-it-" + secrets.token_hex(4)
        self.cid = "s" + secrets.token_hex(4)
        self.bundle = _make_bundle(workdir, self.cid)
        if hooks:
            with open(os.path.join(self.bundle, "config.json")) as f:
                spec = json.load(f)
            spec["hooks"] = hooks
            with open(os.path.join(self.bundle, "config.json"), "w") as f:
                json.dump(spec, f)
        boot = json.loads(_start_shim(self.bundle, self.ns, self.cid,
                                      {"MAX_SHIM_VERSION": "2", "AIRLOCK_SHIM_PROTOCOL": "grpc", **(env or {})}))
        self.address = boot["address"]
        self.shim = _shim_pid(self.address)
        self.grpc = Client("unix://" + self.address, self.ns)
        self.state_dir = f"/run/containerd/runc/{self.ns}/{self.cid}"

    def runc_status(self):
        r = subprocess.run(["runc", "--root", f"/run/containerd/runc/{self.ns}", "state", self.cid],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r
        return json.loads(r.stdout)["status"]

    def close(self):
        try:
            self.grpc("kill", "--id", self.cid, "--signal", str(signal.SIGKILL), check=False)
            self.grpc("wait", "--id", self.cid, check=False)
            self.grpc("delete", "--id", self.cid, check=False)
            self.grpc("shutdown", "--id", self.cid, check=False)
            assert procs.wait_until(lambda: not os.path.exists(f"/proc/{self.shim}") or
                                    procs.stat_fields(self.shim)[0] == "Z", 10)
        finally:
            if os.path.exists(f"/proc/{self.shim}") and procs.stat_fields(self.shim)[0] != "Z":
                subprocess.run(["runc", "--root", f"/run/containerd/runc/{self.ns}", "delete", "--force", self.cid],
                               capture_output=True, timeout=30)
                os.kill(self.shim, signal.SIGKILL)
                if os.path.exists(self.address):
                    os.unlink(self.address)
        assert not os.path.exists(self.address)
        assert not os.path.exists(self.state_dir)
        _remove_runc_namespace_dir(self.ns)
        assert not os.path.exists(f"/sys/fs/cgroup/memory/airlock-it-grpc-{self.cid}")


def _exe(pid):
    """What the process runs (set at exec, before its O_CLOEXEC fds close: the exec fifo's end of file
    means it is set). Its comm changes later and to whatever busybox re-executes."""
    return os.readlink(f"/proc/{pid}/exe")


def test_start_leaves_what_runc_start_leaves(workdir):
    """The shim starts a runc container without a `runc start` process (it reads runc's exec fifo
    itself). Afterwards runc must see what `runc start` leaves: a running container, no exec.fifo,
    and the init has exec'd the user's process by the time Start returns."""
    task = _Task(workdir)
    try:
        _, created = task.grpc("create", "--id", task.cid, "--bundle", task.bundle)
        pid = created["pid"]
        assert task.runc_status() == "created"
        assert os.path.exists(os.path.join(task.state_dir, "exec.fifo"))
        assert _exe(pid) != "/bin/busybox", _exe(pid)
        _, started = task.grpc("start", "--id", task.cid)
        assert started["pid"] == pid
        assert _exe(pid) == "/bin/busybox", "Start returned before the init exec'd the user's process"
        assert not os.path.exists(os.path.join(task.state_dir, "exec.fifo"))
        assert task.runc_status() == "running"
        rc, err = task.grpc("start", "--id", task.cid, check=False)
        assert rc != 0 and err["error"]["name"] == "FAILED_PRECONDITION", err
    finally:
        task.close()


def test_start_with_a_poststart_hook_goes_through_runc_start(workdir):
    """A spec with poststart hooks is started by `runc start` (newer runc and crun run the hooks
    there): the hook runs exactly once, and the container runs."""
    marker = os.path.join(workdir, "poststart.out")
    task = _Task(workdir, hooks={"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", f"echo ran >> {marker}"]}]})
    try:
        _, created = task.grpc("create", "--id", task.cid, "--bundle", task.bundle)
        task.grpc("start", "--id", task.cid)
        assert task.runc_status() == "running"
        assert _exe(created["pid"]) == "/bin/busybox"
        with open(marker) as f:
            assert f.read() == "ran\n"
    finally:
        task.close()


def test_start_after_the_init_died_is_an_error(workdir):
    """The init killed between create and start: Start fails (it does not hang), the exit is
    reported, and delete leaves nothing."""
    task = _Task(workdir)
    try:
        _, created = task.grpc("create", "--id", task.cid, "--bundle", task.bundle)
        os.kill(created["pid"], signal.SIGKILL)
        rc, err = task.grpc("start", "--id", task.cid, check=False)
        assert rc != 0, err
        _, waited = task.grpc("wait", "--id", task.cid)
        assert waited["exit_status"] == 137, waited
        _, deleted = task.grpc("delete", "--id", task.cid)
        assert deleted["exit_status"] == 137, deleted
    finally:
        task.close()


def test_containerds_notify_socket_stays_out_of_the_container(workdir):
    """containerd run as a systemd notify unit keeps NOTIFY_SOCKET in its environment, and shims
    inherit it. As with go-runc, runc must not see it: it would bind that socket into the container
    and make `runc start` wait for the container's READY=1."""
    notify = os.path.join(workdir, "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(notify)
    listener.setblocking(False)
    task = _Task(workdir, env={"NOTIFY_SOCKET": notify})
    try:
        _, created = task.grpc("create", "--id", task.cid, "--bundle", task.bundle)
        task.grpc("start", "--id", task.cid)
        assert task.runc_status() == "running"
        with open(f"/proc/{created['pid']}/mountinfo") as f:
            mounts = f.read()
        assert "notify" not in mounts, mounts
        with pytest.raises(BlockingIOError):
            listener.recv(4096)
    finally:
        task.close()
        listener.close()


def _airlock_config(root):
    """An airlock policy by default, without network or repository."""
    return _host_config(root, "airlock", "version: 1\nworkspace: {required: false}\n"
                                         "network: {setup: {uplink: none}, execution: deny}\n")


@pytest.mark.parametrize("kind", ["symlink", "directory"])
def test_an_image_with_its_own_airlock_path_is_refused(workdir, kind):
    """runc follows symlinks in the container's root when it mounts: an image whose /.airlock is a
    symlink would get the helper mounted elsewhere and keep a symlink setup could repoint at its own
    program for every exec after the seal. Such an image (or one with a directory there) is refused at
    Create with a message that says why, and nothing is left."""
    task = _Task(workdir, env={"AIRLOCK_CONFIG": _airlock_config(workdir)})
    helper = os.path.join(task.bundle, "rootfs", ".airlock")
    if kind == "symlink":
        os.symlink("/bin/busybox", helper)
    else:
        os.mkdir(helper)
    try:
        rc, err = task.grpc("create", "--id", task.cid, "--bundle", task.bundle, check=False)
        assert rc != 0 and err["error"]["name"] == "FAILED_PRECONDITION", err
        assert f"the image has a {kind} at /.airlock" in err["error"]["message"], err
    finally:
        task.close()


def _stop_ttrpc_shim(address, ns, cid):
    """Shutdown over ttrpc; the shim must then be gone with its socket."""
    path = address.split("://", 1)[-1]
    pid = _shim_pid(path)
    with ttrpc.Conn(address, 30) as conn:
        conn.call(ttrpc.TASK_SERVICE, "Shutdown", ttrpc.field_bytes(1, cid),
                  metadata=[("containerd-namespace-ttrpc", ns)])
    assert procs.wait_until(lambda: pid is None or not os.path.exists(f"/proc/{pid}") or
                            procs.stat_fields(pid)[0] == "Z", 10)
    assert procs.wait_until(lambda: not os.path.exists(path), 10)


def test_grpc_announced_only_when_its_module_loads(workdir):
    """A copy of the shim outside its install tree (containerd's own tests run one so) may not find
    airlock-grpc.so (issue 14, item 7). Then `auto` announces ttrpc, never a gRPC it would refuse;
    an explicit `grpc` fails the start at once with the reason, leaving no process or socket. If the
    copy does find the module (an installed one, by its compiled-in place), gRPC must work. A
    symlink to the real binary finds the module next to the real path."""
    ns = "airlock-it-" + secrets.token_hex(4)
    copy_dir = tempfile.mkdtemp(prefix="shim-copy-", dir=workdir)
    copy = os.path.join(copy_dir, "containerd-shim-airlock-v2")
    shutil.copy2(SHIM, copy)

    cid = "m" + secrets.token_hex(4)
    bundle = _make_bundle(workdir, cid)
    r = _run_start(copy, bundle, ns, cid, {"MAX_SHIM_VERSION": "3"})
    assert r.returncode == 0 and r.stderr == "", r
    if r.stdout.startswith("{"):
        boot = json.loads(r.stdout)
        rc, out = Client("unix://" + boot["address"], ns)("connect", check=False)
        assert rc == 0, out
        Client("unix://" + boot["address"], ns)("shutdown", "--id", cid)
    else:
        assert r.stdout.startswith("unix:///run/airlock/s/"), r
        _stop_ttrpc_shim(r.stdout, ns, cid)

        cid = "n" + secrets.token_hex(4)
        bundle = _make_bundle(workdir, cid)
        started = time.monotonic()
        r = _run_start(copy, bundle, ns, cid, {"MAX_SHIM_VERSION": "3", "AIRLOCK_SHIM_PROTOCOL": "grpc"})
        assert r.returncode != 0 and "airlock-grpc.so" in r.stderr and r.stdout == "", r
        assert time.monotonic() - started < 30, "the failed start took containerd's whole timeout"
        assert not any("containerd-shim-airlock-v2" in " ".join(procs.cmdline(p)) and ns in procs.cmdline(p)
                       for p in procs.pids()), "a shim process stayed"

    # By a symlink: the module is found next to the real binary, and gRPC works.
    link = os.path.join(copy_dir, "via-link")
    os.symlink(SHIM, link)
    cid = "l" + secrets.token_hex(4)
    bundle = _make_bundle(workdir, cid)
    r = _run_start(link, bundle, ns, cid, {"MAX_SHIM_VERSION": "2", "AIRLOCK_SHIM_PROTOCOL": "grpc"})
    assert r.returncode == 0, r
    boot = json.loads(r.stdout)
    grpc = Client("unix://" + boot["address"], ns)
    grpc("shutdown", "--id", cid)
    assert procs.wait_until(lambda: not os.path.exists(boot["address"]), 10)
    _remove_runc_namespace_dir(ns)


def _containerd_17_reads_address(text):
    """containerd 1.7's parseStartResponse on the bundle's `address` file after a restart
    (runtime/v2/shim.go loadShim): JSON of version 2 as it says, anything else a plain ttrpc
    address; versions above 2 refused."""
    try:
        params = json.loads(text)
    except ValueError:
        params = None
    if not isinstance(params, dict) or params.get("version", 0) < 2:
        return "ttrpc", text
    assert params["version"] == 2, f"containerd 1.7 refuses shim version {params['version']}"
    return params["protocol"].lower(), params["address"]


def test_grpc_shim_is_reconnected_over_grpc_after_a_restart(workdir):
    """A shim that containerd 1.7 started over gRPC (bootstrap version 2) is found again over gRPC
    from the bundle's `address` file, read as 1.7 reads it (issue 14, item 6); for containerd 2.x
    (version 3) the file stays a plain address (2.x keeps its own bootstrap.json and reads
    `address` as plain only without one), and airlock never writes bootstrap.json."""
    ns = "airlock-it-" + secrets.token_hex(4)
    for version in ("2", "3"):
        cid = "r" + secrets.token_hex(4)
        bundle = _make_bundle(workdir, cid)
        out = _start_shim(bundle, ns, cid, {"MAX_SHIM_VERSION": "2", "AIRLOCK_SHIM_PROTOCOL": "grpc",
                                            "AIRLOCK_GRPC_BOOTSTRAP_VERSION": version})
        boot = json.loads(out)
        assert boot["version"] == int(version), out
        with open(os.path.join(bundle, "address")) as f:
            text = f.read()
        assert not os.path.exists(os.path.join(bundle, "bootstrap.json"))
        if version == "2":
            protocol, path = _containerd_17_reads_address(text)
            assert (protocol, path) == ("grpc", boot["address"]), text
            # The restarted containerd dials the bare path over gRPC and speaks task v3 there.
            rc, conn = Client("unix://" + path, ns)("connect", check=False)
            assert rc == 0 and conn.get("shim_pid") == _shim_pid(path), conn
        else:
            assert text == "unix://" + boot["address"], text
        # A crashed shim leaves its socket; `delete` finds it from either form of the file.
        shim = _shim_pid(boot["address"])
        os.kill(shim, signal.SIGKILL)
        assert procs.wait_until(lambda: not os.path.exists(f"/proc/{shim}") or procs.stat_fields(shim)[0] == "Z", 10)
        assert os.path.exists(boot["address"])
        r = subprocess.run([SHIM, "-namespace", ns, "-id", cid, "-bundle", bundle, "delete"], capture_output=True,
                           timeout=60, env={**os.environ, "AIRLOCK_CONFIG": _passthrough_config(workdir)})
        assert r.returncode == 0, r
        assert not os.path.exists(boot["address"]), "delete left the dead shim's socket"
    _remove_runc_namespace_dir(ns)
