"""A private containerd for integration tests.

Own config, root, state and sockets in a fresh directory under /run/airlock-it/
(short, because unix socket paths are limited to 108 bytes), its own namespace
(so the stock shim's runc state /run/containerd/runc/<ns> is ours alone), and a
teardown that ends only what this containerd started.
"""

import errno
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time

from . import mounts, procs
from .image import IMAGE_NAME

BASE_DIR = "/run/airlock-it"
RUNC_STATE_ROOT = "/run/containerd/runc"  # the stock shim's runc --root parent
CGROUP_ROOT = "/sys/fs/cgroup"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TASK_DIR = "io.containerd.runtime.v2.task"
CRI_PLUGIN = "io.containerd.grpc.v1.cri"
CRI_NAMESPACE = "k8s.io"  # where the CRI plugin keeps its containers and images
PAUSE_IMAGE_NAME = "localhost/airlock/pause:latest"  # built by `make image` (pause-oci.tar)
CNI_CACHE_DIR = "/var/lib/cni"  # libcni's default cache, which containerd 1.6's CRI keeps

# Plugins a ctr-driven test never needs; fewer plugins, fewer surprises.
DISABLED_PLUGINS = [
    CRI_PLUGIN,
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.internal.v1.opt",  # would create /opt/containerd
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
]


class CtrResult:
    def __init__(self, args, rc, stdout, stderr):
        self.args, self.rc, self.stdout, self.stderr = args, rc, stdout, stderr

    @property
    def out(self):
        return self.stdout.decode(errors="replace")

    @property
    def err(self):
        return self.stderr.decode(errors="replace")

    def __repr__(self):
        return (f"ctr {' '.join(self.args)} -> rc={self.rc}\n"
                f"  stdout: {self.out[-2000:]!r}\n  stderr: {self.err[-2000:]!r}")


class CtrError(AssertionError):
    pass


def overlay_works(scratch):
    """True when an overlay mount succeeds on the filesystem holding `scratch`."""
    dirs = {n: os.path.join(scratch, n) for n in ("lower", "upper", "work", "merged")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    opts = f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}"
    ok = mounts.mount("overlay", dirs["merged"], "overlay", 0, opts) == 0
    if ok:
        mounts.umount(dirs["merged"])
    shutil.rmtree(scratch, ignore_errors=True)
    return ok


class Containerd:
    def __init__(self, bin_dir=None, keep_log_dir=None, log_level="debug", _stale=None):
        """A new private containerd (not started yet). `_stale` is for reap_stale() only:
        the owner record of a crashed session's directory to clean up."""
        self.cri_runtimes = None  # set_cri_runtimes()
        if _stale:
            self.base, self.namespace = _stale["base"], _stale["namespace"]
        else:
            os.makedirs(BASE_DIR, mode=0o700, exist_ok=True)
            self.base = os.path.join(BASE_DIR, secrets.token_hex(3))
            os.makedirs(self.base, mode=0o700)
            self.namespace = "airlock-it-" + secrets.token_hex(4)
        self.root = os.path.join(self.base, "root")
        self.state = os.path.join(self.base, "state")
        self.fifo_dir = os.path.join(self.base, "fifo")
        self.sock = os.path.join(self.base, "c.sock")
        self.ttrpc_sock = self.sock + ".ttrpc"
        self.config_path = os.path.join(self.base, "config.toml")
        self.log_path = os.path.join(self.base, "containerd.log")
        self.owner_path = os.path.join(self.base, "owner.json")
        self.keep_log_dir = keep_log_dir
        self.kept_log = None
        self.bin_dir = bin_dir
        self.log_level = log_level
        self.proc = None
        self._log_file = None
        self.starts = 0
        # Everything we saw a task use, so leftover checks and teardown can look for it.
        self.tracked = {}  # cid -> {"procs": [Proc], "sockets": set()}
        path = SYSTEM_PATH if not bin_dir else f"{bin_dir}:{SYSTEM_PATH}"
        self.env = {"PATH": path, "HOME": "/root", "LANG": "C.UTF-8"}
        self.cni_cache_made = bool(_stale and _stale.get("cni_cache_made"))
        if _stale:
            self._stale_containerd = _stale.get("containerd")
            return
        self._stale_containerd = None
        os.makedirs(self.fifo_dir)
        self.snapshotter = "overlayfs" if overlay_works(os.path.join(self.base, "ovl")) else "native"
        self.env["CONTAINERD_SNAPSHOTTER"] = self.snapshotter
        self._write_airlock_config()
        self._write_config()
        self._write_owner()

    def _write_owner(self):
        """Who owns this directory, so a later session can clean up after a crashed one."""
        record = {"base": self.base, "namespace": self.namespace,
                  "owner": [os.getpid(), procs.start_time(os.getpid())]}
        if self.proc is not None:
            record["containerd"] = [self.proc.pid, procs.start_time(self.proc.pid)]
        if self.cni_cache_made:
            record["cni_cache_made"] = True
        with open(self.owner_path + ".tmp", "w") as f:
            json.dump(record, f)
        os.replace(self.owner_path + ".tmp", self.owner_path)

    @classmethod
    def reap_stale(cls):
        """Cleans up directories of sessions whose owning process is gone (a killed
        pytest, say). Live sessions of other people are left alone. Returns problems."""
        problems = []
        try:
            names = sorted(os.listdir(BASE_DIR))
        except OSError:
            return problems
        for name in names:
            try:
                with open(os.path.join(BASE_DIR, name, "owner.json")) as f:
                    record = json.load(f)
            except (OSError, ValueError):
                continue  # not ours to judge (or still being created)
            pid, start = record.get("owner", [0, None])
            if pid and procs.start_time(pid) == start:
                continue  # its owner lives
            if record.get("base") != os.path.join(BASE_DIR, name):
                continue
            problems += cls(_stale=record).teardown()
        return problems

    # --- lifecycle -----------------------------------------------------------

    def _write_airlock_config(self):
        """The airlock shim's host config (AIRLOCK_CONFIG, inherited through containerd).

        Its default policy is passthrough, so the containerd-conformance scenarios see the shim
        core exactly as they would see runc-v2; airlock scenarios choose their policy per container
        (--runtime-config-path or the airlock.dev/policy annotation)."""
        self.airlock_dir = os.path.join(self.base, "airlock")
        self.policies_dir = os.path.join(self.airlock_dir, "policies")
        self.audit_dir = os.path.join(self.airlock_dir, "audit")
        os.makedirs(self.policies_dir)
        self.passthrough_policy = os.path.join(self.airlock_dir, "passthrough.yaml")
        with open(self.passthrough_policy, "w") as f:
            f.write("version: 1\nmode: passthrough\n")
        # Repository roots may not live under /run (a system dir for the airlock): under /tmp.
        self.repos_root = os.path.join("/tmp", "airlock-it-repos-" + os.path.basename(self.base))
        os.makedirs(self.repos_root, mode=0o755, exist_ok=True)
        self.airlock_config = os.path.join(self.airlock_dir, "config.yaml")
        # runc's state: where containerd's runc shim keeps it (RUNC_STATE_ROOT/<namespace>), as for
        # runc-v2 here; the CRI's namespace (k8s.io) is shared with any containerd of the host, so
        # a CRI instance moves it under its own directory (set_cri_runtimes).
        self.airlock_runc_root = RUNC_STATE_ROOT
        self.nat_allow = []
        self.proxy_hosts = None
        self.proxy_allow = []
        self._write_airlock_host_config()
        self.env["AIRLOCK_CONFIG"] = self.airlock_config

    def _write_airlock_host_config(self):
        with open(self.airlock_config, "w") as f:
            f.write("version: 1\n"
                    f"allowed_repo_roots: [{self.repos_root}]\n"
                    f"profiles_dir: {self.policies_dir}\n"
                    f"default_policy: {self.passthrough_policy}\n"
                    f"audit_dir: {self.audit_dir}\n"
                    f"runtime: {{root: {self.airlock_runc_root}}}\n"
                    + (f"nat: {{allow: [{', '.join(self.nat_allow)}]}}\n" if self.nat_allow else "")
                    + (f"proxy: {{resolver: \"hosts:{self.proxy_hosts}\", allow: [{', '.join(self.proxy_allow)}]}}\n"
                       if self.proxy_hosts else ""))

    def set_proxy(self, hosts_file, allow):
        """The host config's proxy section: names from `hosts_file` only (None: back to the
        default section), `allow` CIDRs the proxy may connect to although not global."""
        self.proxy_hosts = hosts_file
        self.proxy_allow = list(allow)
        self._write_airlock_host_config()

    def set_nat_allow(self, ranges):
        """The host config's nat.allow (read by the shim at each sandbox's creation)."""
        self.nat_allow = list(ranges)
        self._write_airlock_host_config()

    def _write_config(self):
        plugins = [p for p in DISABLED_PLUGINS if not (self.cri_runtimes and p == CRI_PLUGIN)]
        disabled = ", ".join(f'"{p}"' for p in plugins)
        config = f"""version = 2
root = "{self.root}"
state = "{self.state}"
disabled_plugins = [{disabled}]

[grpc]
  address = "{self.sock}"

[ttrpc]
  address = "{self.ttrpc_sock}"

[debug]
  level = "{self.log_level}"
"""
        if self.cri_runtimes:
            config += self._cri_config()
        with open(self.config_path, "w") as f:
            f.write(config)

    def set_cri_runtimes(self, runtimes, cni_upstream=None):
        """Turns the CRI plugin on, before start(): `runtimes` ({handler: {"type": runtime_type,
        "options": {...}, "pod_annotations": [...], "container_annotations": [...]}}; the first is
        the default), the pause image PAUSE_IMAGE_NAME, the stream server on loopback.

        `cni_upstream` (a netns name under /run/netns): pods with their own network get one from
        harness/cni_plugin.py, a veth into that netns; without it only node-network pods run."""
        assert self.proc is None, "containerd already running"
        self.cri_runtimes = runtimes
        self.airlock_runc_root = os.path.join(self.base, "airlock-runc")
        self._write_airlock_host_config()
        self.cni_bin_dir = os.path.join(self.base, "cni", "bin")
        self.cni_conf_dir = os.path.join(self.base, "cni", "conf")
        os.makedirs(self.cni_bin_dir, exist_ok=True)
        os.makedirs(self.cni_conf_dir, exist_ok=True)
        if cni_upstream:
            # libcni keeps each pod's result under CNI_CACHE_DIR (removed again at DEL); a directory
            # it had to make for us goes at teardown, also after a crashed session (reap_stale).
            self.cni_cache_made = not os.path.exists(CNI_CACHE_DIR)
            self._write_owner()
            plugin = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cni_plugin.py")
            for name in ("loopback", "airlock-it-ptp"):
                shutil.copyfile(plugin, os.path.join(self.cni_bin_dir, name))
                os.chmod(os.path.join(self.cni_bin_dir, name), 0o755)
            with open(os.path.join(self.cni_conf_dir, "10-airlock-it.conflist"), "w") as f:
                json.dump({"cniVersion": "0.4.0", "name": "airlock-it",
                           "plugins": [{"type": "airlock-it-ptp", "upstream": cni_upstream}]}, f)
        self._write_config()

    def _cri_config(self):
        section = f'plugins."{CRI_PLUGIN}"'
        text = f"""
[{section}]
  sandbox_image = "{PAUSE_IMAGE_NAME}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  enable_selinux = false
  # Pods ask for oom_score_adj -998; a process may not go below containerd's own here.
  restrict_oom_score_adj = true
  # Pod netns bind mounts under the private state dir, not /run/netns.
  netns_mounts_under_state_dir = true
  [{section}.cni]
    bin_dir = "{self.cni_bin_dir}"
    conf_dir = "{self.cni_conf_dir}"
  [{section}.containerd]
    snapshotter = "{self.snapshotter}"
    default_runtime_name = "{next(iter(self.cri_runtimes))}"
"""
        for handler, runtime in self.cri_runtimes.items():
            table = f'{section}.containerd.runtimes."{handler}"'
            text += f"  [{table}]\n    runtime_type = {json.dumps(runtime['type'])}\n"
            for key in ("pod_annotations", "container_annotations"):
                if runtime.get(key):
                    text += f"    {key} = {json.dumps(runtime[key])}\n"
            if runtime.get("options"):
                text += f"    [{table}.options]\n"
                text += "".join(f"      {k} = {json.dumps(v)}\n" for k, v in runtime["options"].items())
        return text

    def start(self, timeout=30.0):
        assert self.proc is None, "containerd already running"
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"\n===== harness: start #{self.starts + 1} =====\n".encode())
        self._log_file.flush()
        self.proc = subprocess.Popen(
            ["containerd", "--config", self.config_path],
            stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
            env=self.env, cwd=self.base, start_new_session=True)
        self.starts += 1
        self._write_owner()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited with {self.proc.returncode}; "
                                   f"log:\n{self.log_tail()}")
            if os.path.exists(self.sock):
                r = self.ctr("version", timeout=5, namespaced=False)
                if r.rc == 0:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"containerd not ready after {timeout}s; log:\n{self.log_tail()}")

    def stop(self, timeout=15.0):
        """SIGTERM, then SIGKILL after `timeout`. Shims stay alive, as in production."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def restart(self, timeout=30.0):
        self.stop()
        self.start(timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, max_bytes=8000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - max_bytes))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, offset, max_bytes=20000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return ""
        return data[-max_bytes:].decode(errors="replace")

    # --- ctr -------------------------------------------------------------------

    def ctr(self, *args, timeout=30.0, input=None, stdin=None, check=False, namespaced=True):
        """Runs `ctr --address SOCK -n NS ARGS`; returns CtrResult (rc -9 on timeout)."""
        argv = ["ctr", "--address", self.sock]
        if namespaced:
            argv += ["-n", self.namespace]
        argv += [str(a) for a in args]
        if isinstance(input, str):
            input = input.encode()
        try:
            p = subprocess.run(argv, input=input,
                               stdin=None if input is not None else (stdin or subprocess.DEVNULL),
                               capture_output=True, timeout=timeout, env=self.env)
            result = CtrResult(argv[3:], p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            result = CtrResult(argv[3:], -9, e.stdout or b"",
                               (e.stderr or b"") + f"\n[harness: timed out after {timeout}s]".encode())
        if check and result.rc != 0:
            raise CtrError(repr(result))
        return result

    def run_args(self, runtime, cid, cmd, image=None, rm=True, detach=False, tty=False,
                 rootfs=None, extra=()):
        args = ["run", "--runtime", runtime, "--fifo-dir", self.fifo_dir]
        if rm:
            args.append("--rm")
        if detach:
            args.append("-d")
        if tty:
            args.append("-t")
        args += list(extra)
        if rootfs:
            # --rootfs is a switch: the first positional argument becomes the directory.
            args += ["--rootfs", rootfs]
        else:
            args.append(image or IMAGE_NAME)
        args.append(cid)
        args += list(cmd)
        return args

    def run(self, runtime, cid, *cmd, timeout=60.0, input=None, check=False, **kw):
        return self.ctr(*self.run_args(runtime, cid, cmd, **kw), timeout=timeout, input=input,
                        check=check)

    def run_piped(self, runtime, cid, *cmd, data=b"", timeout=60.0, **kw):
        """`ctr run --rm` fed through a pipe that is written and closed only once the
        task is RUNNING.

        ctr 1.6 sends CloseIO when its stdin hits EOF, but only if the task exists by
        then: with `echo hello | ctr run ...` the EOF can win that race and the
        container never sees it (a ctr bug, not the shim's). Waiting for RUNNING first
        keeps the test about the shim.
        """
        argv = ["ctr", "--address", self.sock, "-n", self.namespace]
        argv += self.run_args(runtime, cid, cmd, **kw)
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env)
        try:
            procs.wait_until(lambda: p.poll() is not None or self.task_status(cid) == "RUNNING",
                             timeout / 2, interval=0.05)
            out, err = p.communicate(input=data, timeout=timeout)
            return CtrResult(argv[3:], p.returncode, out, err)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate(timeout=10)
            return CtrResult(argv[3:], -9, out, err + b"\n[harness: timed out]")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(10)

    def exec_args(self, cid, exec_id, cmd, tty=False, detach=False, extra=()):
        args = ["task", "exec", "--fifo-dir", self.fifo_dir, "--exec-id", exec_id]
        if tty:
            args.append("-t")
        if detach:
            args.append("-d")
        return args + list(extra) + [cid] + list(cmd)

    def exec(self, cid, exec_id, *cmd, timeout=30.0, input=None, check=False, **kw):
        return self.ctr(*self.exec_args(cid, exec_id, cmd, **kw), timeout=timeout, input=input,
                        check=check)

    def import_image(self, archive):
        r = self.ctr("images", "import", archive, timeout=120, check=True)
        return r

    # --- task state ------------------------------------------------------------

    def tasks(self):
        """{task id: (pid, status)} from `ctr task ls`."""
        r = self.ctr("task", "ls", check=True)
        found = {}
        for line in r.out.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 3:
                found[parts[0]] = (int(parts[1]), parts[2])
        return found

    def task_status(self, cid):
        return self.tasks().get(cid, (None, None))[1]

    def wait_status(self, cid, status, timeout=20.0):
        got = procs.wait_until(lambda: self.task_status(cid) == status, timeout, interval=0.1)
        assert got, f"task {cid} not {status} within {timeout}s (now {self.task_status(cid)})"

    def containers(self):
        r = self.ctr("containers", "ls", "-q", check=True)
        return set(r.out.split())

    # --- shims and bundles -----------------------------------------------------

    def bundle_dir(self, cid):
        return os.path.join(self.state, TASK_DIR, self.namespace, cid)

    def work_dir(self, cid):
        return os.path.join(self.root, TASK_DIR, self.namespace, cid)

    def runc_state_dir(self, cid=None):
        d = os.path.join(RUNC_STATE_ROOT, self.namespace)
        return os.path.join(d, cid) if cid else d

    def shim_address(self, cid):
        """The task's shim socket address, from the bundle's `address` file."""
        with open(os.path.join(self.bundle_dir(cid), "address")) as f:
            raw = f.read().strip()
        if raw.startswith("{"):  # containerd 2.x bootstrap JSON
            raw = json.loads(raw)["address"]
        return raw

    def shim_pids(self, cid):
        """The task's long-lived shim: by argv (binary, -id, -address), as the brief of
        every shim requires; the bundle's socket tells a forked server from `start`."""
        socket_path = None
        try:
            address = self.shim_address(cid)
            if address.startswith("unix://"):
                socket_path = address[len("unix://"):]
        except (OSError, ValueError, KeyError):
            pass
        return procs.find_shims(self.sock, cid, socket_path=socket_path)

    def shim_pid(self, cid):
        found = self.shim_pids(cid)
        assert len(found) == 1, f"expected one shim for {cid}, found {found}"
        return found[0]

    def track(self, cid):
        """Records the running task's shim, init process and socket for later leftover checks."""
        entry = self.tracked.setdefault(cid, {"procs": [], "sockets": set()})
        pid, _ = self.tasks().get(cid, (None, None))
        if pid:
            entry["procs"].append(procs.Proc(pid, f"init of {cid}"))
        for spid in self.shim_pids(cid):
            entry["procs"].append(procs.Proc(spid, f"shim of {cid}"))
        try:
            address = self.shim_address(cid)
            if address.startswith("unix://"):
                entry["sockets"].add(address[len("unix://"):])
        except OSError:
            pass
        return entry

    def accept_stale_socket(self, cid):
        """From now on a leftover socket file of this task's shim is not a failure."""
        self.tracked.setdefault(cid, {"procs": [], "sockets": set()})["stale_socket_ok"] = True

    def start_detached(self, runtime, cid, *cmd, **kw):
        """`ctr run -d` then waits until RUNNING and tracks the task. Returns its init pid."""
        cmd = cmd or ("sleep", "600")
        self.run(runtime, cid, *cmd, rm=False, detach=True, check=True, **kw)
        self.wait_status(cid, "RUNNING")
        self.track(cid)
        return self.tasks()[cid][0]

    def delete_task(self, cid, *flags, timeout=30.0):
        """`ctr task delete`; returns (CtrResult, exit status of the task or None).

        ctr exits 0 and reports a non-zero task status only as a warning on stderr.
        """
        r = self.ctr("task", "delete", *flags, cid, timeout=timeout)
        if r.rc != 0:
            return r, None
        m = re.search(r"exit with non-zero exit code (\d+)", r.err)
        return r, int(m.group(1)) if m else 0

    def remove(self, cid, timeout=20.0):
        """Kills (SIGKILL) a running task, deletes it and its container, checks leftovers.

        Returns the task's exit status as `ctr task delete` reported it.
        """
        status = self.task_status(cid)
        if status not in (None, "STOPPED"):
            self.ctr("task", "kill", "-s", "KILL", cid, check=True)
            self.wait_status(cid, "STOPPED", timeout)
        exit_status = None
        if status is not None:
            r, exit_status = self.delete_task(cid)
            assert r.rc == 0, r
        self.ctr("containers", "rm", cid, check=True)
        self.assert_no_leftovers(cid)
        return exit_status

    # --- leftovers -----------------------------------------------------------

    def cgroup_dirs(self, cid=None):
        """Existing cgroup directories /<ns>[/<cid>] in any mounted hierarchy."""
        rel = os.path.join(self.namespace, cid) if cid else self.namespace
        found = []
        candidates = [CGROUP_ROOT]
        try:
            candidates += [os.path.join(CGROUP_ROOT, d) for d in os.listdir(CGROUP_ROOT)]
        except OSError:
            pass
        for base in candidates:
            path = os.path.join(base, rel)
            if os.path.isdir(path):
                found.append(path)
        return found

    def leftovers(self, cid, allow_stale_socket=False):
        """Everything that still mentions a deleted container; empty when clean.

        allow_stale_socket: a shim killed by SIGKILL cannot remove its socket file, and
        the stock shim's `delete` does not either (see REFERENCE.md).
        """
        problems = []
        if self.running():
            tasks = self.tasks()
            if cid in tasks:
                problems.append(f"task still listed: {tasks[cid]}")
            if cid in self.containers():
                problems.append("container still listed")
            snaps = self.ctr("snapshots", "ls").out.split()
            if cid in snaps:
                problems.append("snapshot still listed")
        for m in mounts.mounts_mentioning(cid):
            problems.append(f"mount: {m}")
        for d in (self.bundle_dir(cid), self.work_dir(cid), self.runc_state_dir(cid)):
            if os.path.lexists(d):
                problems.append(f"directory remains: {d}")
        for d in self.cgroup_dirs(cid):
            problems.append(f"cgroup remains: {d}")
        for pid in procs.find_shims(self.sock, cid, long_lived_only=False):
            problems.append(f"shim process remains: {procs.Proc(pid)}")
        for pid in procs.pids_in_cgroup(f"/{self.namespace}/{cid}"):
            problems.append(f"container process remains: {procs.Proc(pid)}")
        entry = self.tracked.get(cid, {"procs": [], "sockets": set()})
        for p in entry["procs"]:
            if p.alive():
                problems.append(f"process remains: {p!r}")
        for s in entry["sockets"]:
            if os.path.lexists(s) and not (allow_stale_socket or entry.get("stale_socket_ok")):
                problems.append(f"shim socket remains: {s}")
        return problems

    def assert_no_leftovers(self, cid, timeout=10.0, allow_stale_socket=False):
        # Shims and reaped processes go away asynchronously after delete: poll, bounded.
        def clean():
            return not self.leftovers(cid, allow_stale_socket)
        if not procs.wait_until(clean, timeout, interval=0.1):
            left = self.leftovers(cid, allow_stale_socket)
            raise AssertionError(f"leftovers of {cid}:\n  " + "\n  ".join(left))

    def force_remove(self, cid):
        """Best-effort removal of one container (after a failed test)."""
        if not self.running():
            return
        self.ctr("task", "kill", "-a", "-s", "KILL", cid, timeout=10)
        procs.wait_until(lambda: self.task_status(cid) in (None, "STOPPED"), 10, interval=0.1)
        self.ctr("task", "delete", "-f", cid, timeout=20)
        self.ctr("containers", "rm", cid, timeout=20)

    # --- teardown --------------------------------------------------------------

    def _our_processes(self):
        """Shims of this containerd, their descendants and members of our cgroups."""
        shim_pids = [pid for pid in procs.pids()
                     if procs.is_shim_of(procs.cmdline(pid), self.sock)]
        found = set(shim_pids) | set(procs.descendants(shim_pids))
        found |= set(procs.pids_in_cgroup(f"/{self.namespace}", exact=False))
        found.discard(os.getpid())
        return [procs.Proc(pid, "leftover") for pid in sorted(found)]

    def teardown(self):
        """Stops everything this containerd started and removes its directories.

        Returns a list of problems (things that could not be cleaned up).
        """
        problems = []
        if self.running():
            for cid in sorted(self.containers()):
                self.force_remove(cid)
        self.stop()
        if self._stale_containerd:
            old = procs.Proc(self._stale_containerd[0], "stale containerd")
            if (old.start == self._stale_containerd[1]
                    and self.config_path in procs.cmdline(old.pid)):
                procs.kill_all([old])
                if procs.wait_gone([old], 10):
                    problems.append(f"stale containerd survived: {old}")
        for _ in range(3):
            left = self._our_processes()
            if not left:
                break
            procs.kill_all(left)
            procs.wait_gone(left, 10)
        left = [p for p in self._our_processes() if p.alive()]
        if left:
            problems.append(f"processes survived SIGKILL: {left}")
        still_mounted = mounts.umount_all_under(self.base)
        if still_mounted:
            problems.append(f"could not unmount: {still_mounted}")
        runc_dir = self.runc_state_dir()
        if os.path.isdir(runc_dir):
            shutil.rmtree(runc_dir, ignore_errors=True)
        for path in sorted(self._cgroup_tree(), key=len, reverse=True):
            try:
                os.rmdir(path)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    problems.append(f"cgroup {path}: {e}")
        for entry in self.tracked.values():
            for s in entry["sockets"]:
                # Only sockets read from our own bundles' address files.
                if os.path.lexists(s):
                    try:
                        os.unlink(s)
                    except OSError:
                        pass
        if self.cni_cache_made and os.path.isdir(CNI_CACHE_DIR):
            left = [os.path.join(d, f) for d, _, files in os.walk(CNI_CACHE_DIR) for f in files]
            if left:
                problems.append(f"CNI cache files remain (kept {CNI_CACHE_DIR}): {left}")
            else:
                shutil.rmtree(CNI_CACHE_DIR, ignore_errors=True)
        if self.keep_log_dir and os.path.exists(self.log_path):
            os.makedirs(self.keep_log_dir, exist_ok=True)
            self.kept_log = os.path.join(self.keep_log_dir,
                                         f"containerd-{os.path.basename(self.base)}.log")
            shutil.copyfile(self.log_path, self.kept_log)
        if still_mounted:
            problems.append(f"kept {self.base}: mounts remain")
        else:
            shutil.rmtree(self.base, ignore_errors=True)
            shutil.rmtree(os.path.join("/tmp", "airlock-it-repos-" + os.path.basename(self.base)),
                          ignore_errors=True)
            try:
                os.rmdir(BASE_DIR)
            except OSError:
                pass
        return problems

    def _cgroup_tree(self):
        paths = []
        for top in self.cgroup_dirs():
            for dirpath, _, _ in os.walk(top):
                paths.append(dirpath)
        return paths

