"""The hostname of a UTS namespace the spec joins (issue 14, item 8): a pod's containers join the
pod's; runc-v2 runs them in it, so `hostname` says the pod's name. Under an airlock policy the
container gets a UTS namespace of its own, with that namespace's hostname set in it: the same
answer, and never the node's name. `ctr run --with-ns uts:<path>` stands in for the pod: the test
makes the namespace itself (unshare) with a hostname of its own."""

import os
import secrets
import subprocess

import pytest

from harness import procs
from harness.airlock import policy_yaml


@pytest.fixture
def uts_holder():
    name = "airlock-uts-" + secrets.token_hex(3)
    holder = subprocess.Popen(["unshare", "--uts", "sh", "-c", f"hostname {name} && exec sleep 600"])
    try:
        path = f"/proc/{holder.pid}/ns/uts"
        assert procs.wait_until(lambda: os.readlink(path) != os.readlink("/proc/self/ns/uts") and subprocess.run(
            ["nsenter", f"--uts={path}", "hostname"], capture_output=True, text=True).stdout.strip() == name, 10)
        yield name, path
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_joined_uts_namespace_hostname(ctrd, runtime, new_id, uts_holder):
    """Side by side, no policy (passthrough for airlock): the container is in that namespace."""
    name, path = uts_holder
    cid = new_id()
    r = ctrd.run(runtime, cid, "sh", "-c", "hostname; uname -n", extra=("--with-ns", f"uts:{path}"), check=True)
    assert r.out.split() == [name, name], r


def test_airlock_sandbox_gets_the_hostname_of_the_uts_namespace_it_leaves(airlock, uts_holder):
    name, path = uts_holder
    cid = airlock.new_id()
    policy = airlock.policy(cid, policy_yaml(required=False))
    r = airlock.run(cid, "sh", "-c", "hostname; uname -n; readlink /proc/self/ns/uts", policy=policy,
                    flags=("--with-ns", f"uts:{path}"))
    assert r.rc == 0, r
    got = r.out.split()
    assert got[:2] == [name, name], r
    assert got[2] != os.readlink(path), "the sandbox joined the namespace instead of having its own"
    airlock.assert_no_leftovers(cid)
