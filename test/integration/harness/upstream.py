"""An "upstream" network namespace that plays the internet for an airlock's setup phase.

The test creates a netns `airlock-up-<hex>` (`ip netns add`, so its path is /run/netns/<name>)
and runs a tiny HTTP server in it (python3 http.server via `ip netns exec`, listening on
0.0.0.0), serving a temporary directory with one file, `pkg`. Nothing connects the netns to
anything: with the policy `network.setup.uplink: netns:/run/netns/<name>` the shim creates the
veth into it and gives the sandbox a default route via the upstream end, so the sandbox
reaches the server at its default gateway address.

The server's request log (one line per request, client address and request line) tells
which fetches really reached the upstream.

Teardown ends only the server it started (by pid, pinned to its start time), deletes the
netns and the served directory. An owner record under /run/airlock-it-upstream/ lets a later
session clean up after a crashed one (reap_stale).
"""

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

from . import procs

OWNER_DIR = "/run/airlock-it-upstream"
NETNS_DIR = "/run/netns"  # where `ip netns add` puts its bind mounts
NAME_PREFIX = "airlock-up-"
TCP_LISTEN = "0A"  # state column of /proc/net/tcp

_REQUEST_RE = re.compile(r'^(\S+) - - \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3})')


def ip(*args, timeout=20.0, check=True):
    """Runs iproute2's `ip`; returns CompletedProcess (text)."""
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} -> {p.returncode}: {p.stderr.strip()}")
    return p


def link_names(ip_link_output):
    """Link names from `ip -o link` output (busybox or iproute2): "2: alXXXXu@if5: <...>" names
    alXXXXu (the name ends at '@' for a veth's peer, or at ':')."""
    names = []
    for line in ip_link_output.splitlines():
        m = re.match(r"^\d+:\s*([^:@\s]+)", line)
        if m:
            names.append(m.group(1))
    return names


def netns_links(name):
    """Link names inside the named netns (`ip -n NAME -o link`), or None when it is gone."""
    p = ip("-n", name, "-o", "link", "show", check=False)
    return link_names(p.stdout) if p.returncode == 0 else None


def netns_inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def listening_ports(pid):
    """TCP ports in LISTEN state in the netns of `pid` (from /proc/PID/net/tcp{,6})."""
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f, None)
                for line in f:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == TCP_LISTEN:
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


class Upstream:
    """One upstream netns with its HTTP server. Use start() / teardown(), or the fixture."""

    def __init__(self, port=8080, payload=None):
        self.name = NAME_PREFIX + secrets.token_hex(4)
        self.path = os.path.join(NETNS_DIR, self.name)
        self.port = port
        self.payload = payload if payload is not None else (
            b"airlock-it package " + secrets.token_hex(16).encode() + b"\n" + os.urandom(4096))
        self.sha256 = hashlib.sha256(self.payload).hexdigest()
        self.dir = None
        self.log_path = None
        self.server = None  # procs.Proc of the http server
        self._popen = None
        self._log_file = None
        self._netns_made = False
        self._owner_path = os.path.join(OWNER_DIR, self.name + ".json")

    # --- lifecycle -------------------------------------------------------------

    def start(self, timeout=20.0):
        """Creates the netns and starts the server; returns self once it listens."""
        try:
            self._start(timeout)
        except BaseException:
            self.teardown()
            raise
        return self

    def _start(self, timeout):
        self.dir = tempfile.mkdtemp(prefix="airlock-it-up-")
        serve = os.path.join(self.dir, "www")
        os.makedirs(serve)
        with open(os.path.join(serve, "pkg"), "wb") as f:
            f.write(self.payload)
        self.log_path = os.path.join(self.dir, "requests.log")
        self._write_owner()
        ip("netns", "add", self.name)
        self._netns_made = True
        ip("-n", self.name, "link", "set", "lo", "up")
        self._log_file = open(self.log_path, "ab")
        # `ip netns exec` execs the command, so the Popen pid is the server's own pid.
        self._popen = subprocess.Popen(
            ["ip", "netns", "exec", self.name, sys.executable, "-u", "-m", "http.server",
             str(self.port), "--bind", "0.0.0.0", "--directory", serve],
            stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self.dir)
        self.server = procs.Proc(self._popen.pid, f"http server of {self.name}")
        self._write_owner()
        want_ns = netns_inode(self.path)
        deadline = time.monotonic() + timeout
        while True:
            if self._popen.poll() is not None:
                raise RuntimeError(f"upstream server exited with {self._popen.returncode}:\n"
                                   f"{self.log_text()[-2000:]}")
            in_ns = netns_inode(f"/proc/{self.server.pid}/ns/net") == want_ns
            if in_ns and self.port in listening_ports(self.server.pid):
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"upstream server not listening on {self.port} in {self.name} "
                                   f"after {timeout}s:\n{self.log_text()[-2000:]}")
            time.sleep(0.05)

    def teardown(self):
        """Stops the server, deletes the netns and the directory. Returns a list of problems."""
        problems = []
        if self.server is not None and self.server.alive():
            procs.kill_all([self.server])
            if procs.wait_gone([self.server], 10):
                problems.append(f"upstream server survived SIGKILL: {self.server!r}")
        if self._popen is not None:
            try:
                self._popen.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self._popen = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._netns_made or os.path.lexists(self.path):
            p = ip("netns", "del", self.name, check=False)
            if p.returncode != 0 and os.path.lexists(self.path):
                problems.append(f"ip netns del {self.name}: {p.stderr.strip()}")
            self._netns_made = False
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        try:
            os.unlink(self._owner_path)
        except OSError:
            pass
        try:
            os.rmdir(OWNER_DIR)
        except OSError:
            pass
        return problems

    def _write_owner(self):
        """Who owns this upstream, so a later session can remove it after a crash."""
        os.makedirs(OWNER_DIR, mode=0o700, exist_ok=True)
        record = {"name": self.name, "dir": self.dir,
                  "owner": [os.getpid(), procs.start_time(os.getpid())]}
        if self.server is not None:
            record["server"] = [self.server.pid, self.server.start]
        with open(self._owner_path + ".tmp", "w") as f:
            json.dump(record, f)
        os.replace(self._owner_path + ".tmp", self._owner_path)

    @classmethod
    def reap_stale(cls):
        """Removes upstreams whose owning process is gone. Returns what it did."""
        done = []
        try:
            names = sorted(os.listdir(OWNER_DIR))
        except OSError:
            return done
        for entry in names:
            if not entry.endswith(".json"):
                continue
            try:
                with open(os.path.join(OWNER_DIR, entry)) as f:
                    record = json.load(f)
            except (OSError, ValueError):
                continue
            pid, start = record.get("owner", [0, None])
            if pid and procs.start_time(pid) == start:
                continue  # its owner lives
            name = record.get("name", "")
            if not name.startswith(NAME_PREFIX) or entry != name + ".json":
                continue
            u = cls()
            u.name, u.path = name, os.path.join(NETNS_DIR, name)
            u._owner_path = os.path.join(OWNER_DIR, entry)
            d = record.get("dir") or ""
            u.dir = d if os.path.basename(d).startswith("airlock-it-up-") else None
            server = record.get("server")
            if server:
                proc = procs.Proc(server[0], f"stale http server of {name}")
                if proc.start == server[1]:
                    u.server = proc
            u._netns_made = os.path.lexists(u.path)
            problems = u.teardown()
            done.append(f"stale upstream {name}" + (f": {problems}" if problems else ""))
        return done

    # --- what the test looks at ------------------------------------------------

    def url(self, host, path="/pkg"):
        return f"http://{host}:{self.port}{path}"

    def links(self):
        """Link names in the upstream netns (None when it is gone)."""
        return netns_links(self.name)

    def veths(self):
        """The airlock veth ends (`al...`) the shim made into this netns."""
        return [link for link in (self.links() or []) if link.startswith("al")]

    def addresses(self):
        """{link: [cidr, ...]} of IPv4 addresses in the upstream netns."""
        p = ip("-n", self.name, "-o", "-4", "addr", "show", check=False)
        found = {}
        for line in p.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[2] == "inet":
                found.setdefault(fields[1].split("@", 1)[0], []).append(fields[3])
        return found

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except (OSError, TypeError):
            return ""

    def requests(self):
        """[(client address, method, path, status)] in arrival order."""
        found = []
        for line in self.log_text().splitlines():
            m = _REQUEST_RE.match(line)
            if m:
                found.append((m.group(1), m.group(2), m.group(3), int(m.group(4))))
        return found

    def __repr__(self):
        return f"Upstream({self.path}, port {self.port})"
