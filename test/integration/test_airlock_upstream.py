"""The upstream fixture on its own (no containerd, no shim): the airlock scenarios rely on it,
so when they fail, it must not be because of it.

A client netns made here, wired to the upstream by a veth made here (the shim's job in the
real scenarios), fetches /pkg with busybox wget, the same tool the containers use.

Debian's static busybox 1.35 wget segfaults with -T (its timeout option): bound it with the
`timeout` applet instead, here and in the scenarios.
"""

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import urllib.request

import pytest

from harness import procs
from harness.airlock import host_links
from harness.upstream import NAME_PREFIX, OWNER_DIR, Upstream, ip

BUSYBOX = shutil.which("busybox")

# A link-local /30 inside the two test-made namespaces only (never on the host).
UPSTREAM_ADDR, CLIENT_ADDR = "169.254.77.1", "169.254.77.2"


class ClientNetns:
    """A second netns with a veth to the upstream, both made by the test."""

    def __init__(self, upstream):
        self.name = "airlock-cl-" + secrets.token_hex(4)
        self.upstream = upstream
        suffix = secrets.token_hex(3)
        self.veth, self.peer = f"itc{suffix}", f"itu{suffix}"

    def __enter__(self):
        ip("netns", "add", self.name)
        try:
            # Born in the client netns, its peer directly in the upstream: the host never sees them.
            ip("-n", self.name, "link", "add", self.veth, "type", "veth",
               "peer", "name", self.peer, "netns", self.upstream.name)
            ip("-n", self.name, "link", "set", "lo", "up")
            ip("-n", self.name, "link", "set", self.veth, "up")
            ip("-n", self.name, "addr", "add", CLIENT_ADDR + "/30", "dev", self.veth)
            ip("-n", self.upstream.name, "link", "set", self.peer, "up")
            ip("-n", self.upstream.name, "addr", "add", UPSTREAM_ADDR + "/30", "dev", self.peer)
            ip("-n", self.name, "route", "add", "default", "via", UPSTREAM_ADDR)
        except BaseException:
            self.__exit__()
            raise
        return self

    def run(self, *argv, timeout=30):
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True,
                              timeout=timeout)

    def __exit__(self, *exc):
        # Deleting our end removes the peer in the upstream netns too.
        ip("-n", self.name, "link", "del", self.veth, check=False)
        ip("netns", "del", self.name, check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
@pytest.mark.skipif(BUSYBOX is None, reason="busybox not installed")
def test_upstream_serves_a_client_netns_over_a_veth(upstream):
    assert upstream.path == f"/run/netns/{upstream.name}" and os.path.exists(upstream.path)
    assert upstream.name.startswith(NAME_PREFIX)
    assert upstream.links() == ["lo"], "the upstream starts with loopback only"
    assert upstream.veths() == []
    with ClientNetns(upstream) as client:
        assert upstream.links() == ["lo", client.peer]
        assert upstream.veths() == [], "test-made veths do not look like the shim's al* ones"
        r = client.run(BUSYBOX, "timeout", "10", BUSYBOX, "wget", "-q", "-O", "-",
                       upstream.url(UPSTREAM_ADDR, "/pkg?from=client"))
        assert r.returncode == 0, r
        assert hashlib.sha256(r.stdout).hexdigest() == upstream.sha256
        # The default route works like the sandbox's: via the upstream end.
        r = client.run(BUSYBOX, "ip", "route")
        assert f"default via {UPSTREAM_ADDR}" in r.stdout.decode(), r
        # A missing file is a 404, logged as such.
        r = client.run(BUSYBOX, "timeout", "10", BUSYBOX, "wget", "-q", "-O", "-",
                       upstream.url(UPSTREAM_ADDR, "/missing"))
        assert r.returncode != 0
        # Nothing reaches the host's network from there: no other route.
        r = client.run(BUSYBOX, "ip", "route", "get", "127.0.0.2")
        assert r.returncode == 0  # loopback of the client netns itself
    assert (CLIENT_ADDR, "GET", "/pkg?from=client", 200) in upstream.requests()
    assert (CLIENT_ADDR, "GET", "/missing", 404) in upstream.requests()
    # The client netns and the veth are gone with it.
    assert not os.path.exists(f"/run/netns/{client.name}")
    assert upstream.links() == ["lo"]
    assert client.veth not in host_links() and client.peer not in host_links()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_upstream_is_unreachable_without_a_veth(upstream):
    """Before the shim wires a sandbox to it, the upstream is an island: the host cannot
    reach its server (so a passing fetch in a scenario really went through the shim's veth)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{upstream.port}/pkg", timeout=5) as r:
            body = r.read(1 << 20)
    except OSError:
        body = b""
    assert hashlib.sha256(body).hexdigest() != upstream.sha256
    assert upstream.requests() == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_upstream_teardown_leaves_nothing():
    u = Upstream().start()
    server, name, directory = u.server, u.name, u.dir
    assert server.alive() and os.path.exists(u.path) and os.path.isdir(directory)
    assert os.path.exists(os.path.join(OWNER_DIR, name + ".json"))
    assert u.teardown() == []
    assert not server.alive()
    assert not os.path.exists(f"/run/netns/{name}")
    assert ip("netns", "list").stdout.find(name) < 0
    assert not os.path.exists(directory)
    assert not os.path.exists(os.path.join(OWNER_DIR, name + ".json"))
    assert u.teardown() == [], "teardown is idempotent"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_upstream_of_a_crashed_session_is_reaped():
    u = Upstream().start()
    server, name = u.server, u.name
    try:
        # Pretend the owner died: a child that has exited (and been reaped) owns it now.
        dead = subprocess.Popen(["true"])
        dead.wait(10)
        record_path = os.path.join(OWNER_DIR, name + ".json")
        with open(record_path) as f:
            record = f.read()
        data = json.loads(record)
        data["owner"] = [dead.pid, 0]
        with open(record_path, "w") as f:
            json.dump(data, f)
        done = Upstream.reap_stale()
        assert any(name in d for d in done), done
        assert procs.wait_gone([server], 10) == []
        assert not os.path.exists(f"/run/netns/{name}")
    finally:
        u.teardown()
