"""Helpers for the airlock scenarios: policies, repositories, the `airlock` CLI, and the
airlock-specific leftover checks (sandbox netns, veths, nftables, task records).

What the shim leaves on the host for a live sandbox (AIRLOCK_POLICY_DESIGN.md and
policy/net/README.md), all of which must be gone after `ctr task delete`:
  /run/airlock/netns/<sandbox name>       the sandbox netns (a bind mount)
  /run/airlock/tasks/<namespace>/<id>     the record with the shim's control address
  /run/airlock/s/<hash>                   the shim's socket
  al<12 hex><s|h|u>                       the uplink veth ends (host: h, upstream netns: u)
  nft table ip airlock-<sandbox name>     nat uplinks only
  /run/airlock/ipforward/<sandbox name>   nat uplinks only
  /run/airlock/pod-netns/<namespace>/<id> `uplink: pod` only: the pod's netns, for a crash cleanup
The audit log <audit_dir>/<namespace>/<id>.jsonl stays: it is the record.

The sandbox name is derived from the container id by the shim; the checks discover it while
the sandbox lives (the netns entry holding the id) and fall back to likely forms.
"""

import ctypes
import hashlib
import json
import os
import secrets
import shutil
import subprocess

from . import mounts, procs
from .upstream import ip, link_names

RUNTIME = "io.containerd.airlock.v2"
RUN_DIR = "/run/airlock"
NETNS_DIR = os.path.join(RUN_DIR, "netns")
TASKS_DIR = os.path.join(RUN_DIR, "tasks")
IPFORWARD_DIR = os.path.join(RUN_DIR, "ipforward")
POD_NETNS_DIR = os.path.join(RUN_DIR, "pod-netns")
MNT_DETACH = 2

# The probes `airlock verify` must report (AIRLOCK_POLICY_DESIGN.md, "Shim integration contracts").
VERIFY_PROBES = (
    "network.peer-unreachable", "network.only-loopback", "socket.packet-denied",
    "socket.raw-denied", "ns.net-denied", "ns.user-denied", "mount-denied", "rootfs.readonly",
    "workspace.writable", "caps.bounded", "secrets.absent", "seccomp.active", "no_new_privs",
    "stdio.no-host-fifo",
    "socket.vsock-denied", "socket.families-denied", "kernel-denied",
)
# The setup phase's, when a setup command ran (strict setup filter): what its process saw under the
# setup filter, reported before its exec (cmd/airlock-init/probe_setup_filter.cc).
SETUP_VERIFY_PROBES = (
    "setup.seccomp.active", "setup.no_new_privs", "setup.socket.vsock-denied",
    "setup.socket.families-denied", "setup.socket.packet-denied", "setup.socket.raw-denied",
    "setup.ns.user-denied", "setup.kernel-denied", "setup.mount-denied", "setup.sockets-allowed",
)

_libc = ctypes.CDLL(None, use_errno=True)


# --- policies ------------------------------------------------------------------

def policy_yaml(uplink="none", setup=None, timeout="30s", rootfs_setup="readonly",
                secrets_=(), tmpfs=None, target="/workspace", required=True,
                keep_processes=None, mode=None, extra="", leftover_secrets=None, execution="deny", proxy=None):
    """A policy file's text. `setup`: argv list, or a string run with `sh -c`.

    JSON lists and strings are valid YAML flow nodes, so commands go in as JSON. `proxy`: the
    network.proxy map (JSON), with `execution` deny or proxy.
    """
    tmpfs = {"/tmp": "16Mi"} if tmpfs is None else tmpfs
    lines = ["version: 1"]
    if mode:
        lines.append(f"mode: {mode}")
    lines += ["workspace:", f"  target: {target}", f"  required: {'true' if required else 'false'}",
              "filesystem:", "  rootfs:", f"    setup: {rootfs_setup}", "    execution: readonly"]
    if tmpfs:
        lines.append("  tmpfs:")
        lines += [f"    {path}: {size}" for path, size in tmpfs.items()]
    lines += ["  other_binds: readonly",
              "network:", "  setup:", f"    uplink: {json.dumps(uplink)}", f"  execution: {execution}"]
    if proxy is not None:
        lines.append(f"  proxy: {json.dumps(proxy)}")
    if setup is not None:
        argv = ["sh", "-c", setup] if isinstance(setup, str) else list(setup)
        lines += ["setup:", f"  command: {json.dumps(argv)}", f"  timeout: {timeout}"]
        if keep_processes is not None:
            lines.append(f"  keep_processes: {'true' if keep_processes else 'false'}")
        if leftover_secrets is not None:
            lines.append(f"  leftover_secrets: {leftover_secrets}")
    if secrets_:
        lines.append(f"secrets: {json.dumps(list(secrets_))}")
    lines += ["seccomp:", "  execution: strict"]
    text = "\n".join(lines) + "\n"
    return text + extra


# --- names the shim derives ----------------------------------------------------

def veth_name(sandbox, side):
    """policy/net/names.cc: "al" + 12 hex of SHA-256(sandbox name) + side (s, h, u)."""
    return "al" + hashlib.sha256(sandbox.encode()).hexdigest()[:12] + side


def sandbox_name(namespace, cid):
    """The shim's name for a sandbox's host objects: "s" + 16 hex of SHA-256("<ns>/<id>")
    (policy/sandbox/sandbox.cc SandboxName)."""
    return "s" + hashlib.sha256(f"{namespace}/{cid}".encode()).hexdigest()[:16]


def sandbox_name_candidates(namespace, cid):
    return {sandbox_name(namespace, cid), cid, f"{namespace}-{cid}"}


def netns_entries(cid):
    """Entries of /run/airlock/netns whose name holds the container id."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if cid in n)
    except OSError:
        return []


def host_links():
    return link_names(ip("-o", "link", "show", check=False).stdout)


def nft_tables():
    """`nft list tables` as [(family, name)] ([] when nft is unavailable)."""
    if not shutil.which("nft"):
        return []
    try:
        p = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = []
    for line in p.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0] == "table":
            found.append((fields[1], fields[2]))
    return found


def read_record(namespace, cid):
    """The shim address from /run/airlock/tasks/<ns>/<id>, or None."""
    try:
        with open(os.path.join(TASKS_DIR, namespace, cid)) as f:
            return f.read().strip()
    except OSError:
        return None


def host_leftovers(namespace, cid, names):
    """The airlock's host state for container `cid` of `namespace` (sandbox names `names`) that
    is still there: task and pod-netns records, the staged repository, veth ends, nft tables,
    ip_forward claims. Empty when clean."""
    problems = []
    for what, path in (("task record", os.path.join(TASKS_DIR, namespace, cid)),
                       ("pod netns record", os.path.join(POD_NETNS_DIR, namespace, cid)),
                       ("staged repository", os.path.join(RUN_DIR, "workspaces", sandbox_name(namespace, cid)))):
        if os.path.lexists(path):
            problems.append(f"{what} remains: {path}")
    veths = {veth_name(n, side) for n in names for side in "shu"}
    problems += [f"veth remains in the host netns: {link}" for link in host_links() if link in veths]
    for family, table in nft_tables():
        if table.startswith("airlock-") and (cid in table or table[len("airlock-"):] in names):
            problems.append(f"nft table remains: {family} {table}")
    for dirpath, dirs, files in os.walk(IPFORWARD_DIR):
        problems += [f"ip_forward claim remains: {os.path.join(dirpath, n)}"
                     for n in dirs + files if n in names or cid in n]
    return problems


# --- the per-test helper -------------------------------------------------------

class AirlockSession:
    """What one airlock test made: ids, repos, policies; leftover checks."""

    def __init__(self, ctrd, cli_path, label="t"):
        self.ctrd = ctrd
        self.cli_path = cli_path
        self.label = label
        self.ids = []
        self.paths = []  # files and dirs the test made outside the harness dirs
        self.seen = {}   # cid -> {"names": set of sandbox names, "address": shim address}

    # --- things a scenario needs ------------------------------------------------

    def new_id(self, tag=""):
        cid = f"it-al{self.label}{tag}-{secrets.token_hex(3)}"
        self.ids.append(cid)
        self.seen[cid] = {"names": set(), "address": None}
        return cid

    def track(self, cid):
        """Registers a container id made by something else (e.g. `airlock run`'s check sandbox
        <cid>-check) for the leftover checks at teardown."""
        if cid not in self.ids:
            self.ids.append(cid)
            self.seen[cid] = {"names": set(), "address": None}
        return cid

    def repo(self, cid, files=None):
        """A repository directory under the harness's allowed root (repos_root/<cid>)."""
        path = os.path.join(self.ctrd.repos_root, cid)
        os.makedirs(path, mode=0o755)
        for name, data in (files or {}).items():
            with open(os.path.join(path, name), "wb" if isinstance(data, bytes) else "w") as f:
                f.write(data)
        return path

    def outside_dir(self, tag):
        """A directory outside the allowed repository roots (removed at teardown)."""
        path = os.path.join("/tmp", f"airlock-it-outside-{tag}-{secrets.token_hex(3)}")
        os.makedirs(path, mode=0o755)
        self.paths.append(path)
        return path

    def policy(self, cid, text):
        """Writes a policy file for --runtime-config-path; returns its path."""
        path = os.path.join(self.ctrd.airlock_dir, f"policy-{cid}.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def profile(self, name, text):
        """Writes a profile (annotation airlock.dev/policy=NAME) into the host's profiles dir."""
        path = os.path.join(self.ctrd.policies_dir, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(text)
        self.paths.append(path)
        return path

    def run_extra(self, policy=None, profile=None, repo=None, env=None, annotations=None, flags=()):
        extra = list(flags)
        if policy:
            extra += ["--runtime-config-path", policy]
        if profile:
            extra += ["--annotation", f"airlock.dev/policy={profile}"]
        if repo:
            extra += ["--annotation", f"airlock.dev/repo={repo}"]
        for key, value in (annotations or {}).items():
            extra += ["--annotation", f"{key}={value}"]
        for key, value in (env or {}).items():
            extra += ["--env", f"{key}={value}"]
        return extra

    def run(self, cid, *cmd, timeout=90.0, policy=None, profile=None, repo=None, env=None,
            annotations=None, flags=(), **kw):
        """`ctr run --rm` in the foreground with the airlock runtime (`flags`: more ctr flags)."""
        extra = self.run_extra(policy, profile, repo, env, annotations, flags)
        return self.ctrd.run(RUNTIME, cid, *cmd, timeout=timeout, extra=extra, **kw)

    def start(self, cid, *cmd, policy=None, profile=None, repo=None, env=None, annotations=None,
              timeout=90.0):
        """`ctr run -d`; waits until RUNNING (setup may still be running inside)."""
        extra = self.run_extra(policy, profile, repo, env, annotations)
        self.ctrd.run(RUNTIME, cid, *cmd, rm=False, detach=True, check=True, timeout=timeout,
                      extra=extra)
        self.ctrd.wait_status(cid, "RUNNING")
        self.ctrd.track(cid)
        self.observe(cid)
        return self.ctrd.tasks()[cid][0]

    def observe(self, cid):
        """Notes the live sandbox's netns name and shim address for the leftover checks."""
        entry = self.seen.setdefault(cid, {"names": set(), "address": None})
        entry["names"].update(netns_entries(cid))
        address = read_record(self.ctrd.namespace, cid)
        if address:
            entry["address"] = address
        return entry

    def remove(self, cid):
        """Kills, deletes and removes the container; asserts nothing is left."""
        self.observe(cid)
        status = self.ctrd.remove(cid)
        self.assert_no_leftovers(cid)
        return status

    # --- the airlock CLI ------------------------------------------------------

    def cli(self, *args, timeout=30.0):
        """Runs build/bin/airlock; returns CompletedProcess (text; rc -9 on timeout)."""
        argv = [self.cli_path, *[str(a) for a in args]]
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  env=self.ctrd.env)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(argv, -9, e.stdout or "",
                                               f"{e.stderr or ''}\n[timed out after {timeout}s]")
        except OSError as e:
            return subprocess.CompletedProcess(argv, 127, "", f"cannot run {argv[0]}: {e}")

    def cli_json(self, command, cid, *more, timeout=30.0):
        """`airlock COMMAND ID --namespace NS --json`, parsed; AssertionError with the output
        when it fails or is not JSON."""
        r = self.cli(command, cid, "--namespace", self.ctrd.namespace, "--json", *more,
                     timeout=timeout)
        try:
            data = json.loads(r.stdout)
        except ValueError:
            data = None
        assert r.returncode == 0 and isinstance(data, dict), (
            f"airlock {command} {cid}: rc={r.returncode}\n  stdout: {r.stdout[-2000:]!r}\n"
            f"  stderr: {r.stderr[-2000:]!r}")
        return data

    def status(self, cid):
        return self.cli_json("status", cid)

    def verify(self, cid):
        return self.cli_json("verify", cid, timeout=60.0)

    def seal(self, cid):
        r = self.cli("seal", cid, "--namespace", self.ctrd.namespace)
        assert r.returncode == 0, f"airlock seal {cid}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    # --- audit -------------------------------------------------------------------

    def audit_path(self, cid, audit_dir=None):
        return os.path.join(audit_dir or self.ctrd.audit_dir, self.ctrd.namespace, f"{cid}.jsonl")

    def audit(self, cid, audit_dir=None):
        """The audit log's events (parsed JSON lines); AssertionError when unreadable or bad."""
        path = self.audit_path(cid, audit_dir)
        with open(path) as f:
            raw = f.read()
        events = []
        for n, line in enumerate(raw.splitlines(), 1):
            try:
                event = json.loads(line)
            except ValueError:
                raise AssertionError(f"{path}:{n}: not JSON: {line[:200]!r}")
            assert isinstance(event, dict) and "time" in event and "event" in event, \
                f"{path}:{n}: want an object with time and event: {line[:200]!r}"
            events.append(event)
        return events, raw

    # --- leftovers ---------------------------------------------------------------

    def sandbox_names(self, cid):
        return self.seen.get(cid, {}).get("names", set()) | sandbox_name_candidates(
            self.ctrd.namespace, cid)

    def airlock_leftovers(self, cid):
        """What the airlock left of a deleted container on the host; empty when clean."""
        problems = [f"sandbox netns remains: {os.path.join(NETNS_DIR, name)}" for name in netns_entries(cid)]
        problems += host_leftovers(self.ctrd.namespace, cid, self.sandbox_names(cid))
        address = self.seen.get(cid, {}).get("address")
        if address and address.startswith("unix://") and os.path.lexists(address[7:]):
            problems.append(f"shim socket remains: {address[7:]}")
        for m in mounts.mounts():
            if cid in m.line:
                problems.append(f"mount mentions {cid}: {m.line.strip()[:300]}")
        return problems

    def leftovers(self, cid):
        return self.ctrd.leftovers(cid) + self.airlock_leftovers(cid)

    def assert_no_leftovers(self, cid, timeout=10.0):
        def clean():
            return not self.leftovers(cid)
        if not procs.wait_until(clean, timeout, interval=0.1):
            left = self.leftovers(cid)
            raise AssertionError(f"leftovers of {cid}:\n  " + "\n  ".join(left))

    def force_clean(self, cid):
        """Best effort after a failed test: removes what the airlock left of `cid` (only
        things whose names hold this test's unique id)."""
        for name in netns_entries(cid):
            path = os.path.join(NETNS_DIR, name)
            _libc.umount2(os.fsencode(path), MNT_DETACH)
            try:
                os.unlink(path)
            except OSError:
                pass
        links = set(host_links())
        for name in self.sandbox_names(cid):
            for side in "shu":
                if veth_name(name, side) in links:
                    ip("link", "del", veth_name(name, side), check=False)
        for family, table in nft_tables():
            if table.startswith("airlock-") and cid in table:
                subprocess.run(["nft", "delete", "table", family, table], capture_output=True,
                               timeout=20)
        record = os.path.join(TASKS_DIR, self.ctrd.namespace, cid)
        try:
            os.unlink(record)
        except OSError:
            pass

    def teardown(self, test_passed):
        """Removes everything; returns the problems a passing test must answer for."""
        problems = []
        for cid in self.ids:
            self.observe(cid)
            left = self.leftovers(cid)
            if not left:
                continue
            if self.ctrd.running():
                self.ctrd.force_remove(cid)
            try:
                self.assert_no_leftovers(cid, timeout=10)
                if test_passed:
                    problems += [f"{cid}: {p}" for p in left]
            except AssertionError as e:
                problems.append(f"{cid}: {e}")
                self.force_clean(cid)
        for path in self.paths:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        return problems


def wait_for_file(path, timeout=30.0):
    """Waits (bounded) until `path` exists and is not empty; returns its text or None."""
    def ready():
        try:
            with open(path) as f:
                return f.read() or None
        except OSError:
            return None
    return procs.wait_until(ready, timeout, interval=0.1)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def assert_upstream_clean(upstream, timeout=10.0):
    """No veth of any sandbox is left in the test's upstream netns (the shim made them)."""
    if not procs.wait_until(lambda: not upstream.veths(), timeout, interval=0.1):
        raise AssertionError(f"veths remain in upstream {upstream.name}: {upstream.veths()}")


# --- shell snippets run inside the busybox container ------------------------------

# `probe NAME CMD...` runs CMD and keeps its output and exit code in /workspace/out/NAME{,.rc};
# `finish` marks the end (written last, so the host knows every probe file is complete).
PROBE_FN = ('mkdir -p /workspace/out; '
            'probe() { n=$1; shift; "$@" > /workspace/out/$n 2>&1; echo $? > /workspace/out/$n.rc; }; '
            'finish() { echo done > /workspace/out/DONE; }; ')


def setup_fetch_script(port, extra=""):
    """Setup: find the default gateway (the upstream end of the shim's veth), keep it and the
    links seen in setup in the workspace, and fetch /pkg from the upstream's server.
    (busybox wget segfaults with -T: the `timeout` applet bounds it.)"""
    return ("set -e; "
            "gw=$(ip route | awk '$1 == \"default\" {print $3; exit}'); "
            "[ -n \"$gw\" ] || { echo 'setup: no default route' >&2; ip route >&2; exit 90; }; "
            "echo \"$gw\" > /workspace/gateway; "
            "ip -o link > /workspace/setup-links; "
            f"timeout 20 wget -q -O /workspace/pkg \"http://$gw:{port}/pkg?from=setup\"; "
            + extra)


def read_probes(repo):
    """{name: (exit code, output)} from the probe files under repo/out/."""
    out_dir = os.path.join(repo, "out")
    assert os.path.isdir(out_dir), \
        f"no probe results in {out_dir}: the entrypoint never ran with the workspace mounted " \
        f"(repo holds: {sorted(os.listdir(repo))})"
    found = {}
    for name in os.listdir(out_dir):
        if name.endswith(".rc") or name == "DONE":
            continue
        with open(os.path.join(out_dir, name), errors="replace") as f:
            text = f.read()
        try:
            with open(os.path.join(out_dir, name + ".rc")) as f:
                rc = int(f.read().strip())
        except (OSError, ValueError):
            rc = None
        found[name] = (rc, text)
    return found


def wait_probes(repo, timeout=60.0, ctrd=None, cid=None):
    """Waits (bounded) for the entrypoint's `finish`; returns read_probes(repo).

    With ctrd and cid, gives up as soon as the task is no longer RUNNING."""
    done_path = os.path.join(repo, "out", "DONE")
    state = {}

    def finished():
        if os.path.exists(done_path):
            return True
        if ctrd is not None:
            state["status"] = ctrd.task_status(cid)
            return state["status"] != "RUNNING"
        return False
    procs.wait_until(finished, timeout, interval=0.2)
    assert os.path.exists(done_path), (
        f"the entrypoint did not finish its probes within {timeout}s (task: "
        f"{state.get('status', '?')}; repo holds: {sorted(os.listdir(repo))})")
    return read_probes(repo)


def field(status, name):
    """A field of the CLI's JSON by its proto name, or its lowerCamelCase JSON name."""
    if name in status:
        return status[name]
    head, *rest = name.split("_")
    return status.get(head + "".join(w.capitalize() for w in rest))
