"""A sandbox's shim SIGKILLed: containerd runs `<shim> delete`, which must take everything the
airlock put on the host with it (io.containerd.airlock.v2 only)."""

import os
import signal

from harness import procs
from harness.airlock import (PROBE_FN, assert_upstream_clean, field, policy_yaml, sandbox_name,
                             wait_probes)

WORKSPACES = "/run/airlock/workspaces"


def test_shim_killed_while_sealed_leaves_nothing(airlock, upstream):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{upstream.path}", setup="true"))
    airlock.start(cid, "sh", "-c", PROBE_FN + "probe links ip -o link; finish; exec sleep 600",
                  policy=policy, repo=repo)
    wait_probes(repo, ctrd=airlock.ctrd, cid=cid)
    assert field(airlock.status(cid), "phase") == "sealed"
    staged = os.path.join(WORKSPACES, sandbox_name(airlock.ctrd.namespace, cid))
    assert os.path.isdir(staged), "the repository is staged for runc under /run/airlock/workspaces"

    init = procs.Proc(airlock.ctrd.tasks()[cid][0], "init")
    shim = procs.Proc(airlock.ctrd.shim_pid(cid), "shim")
    os.kill(shim.pid, signal.SIGKILL)
    assert procs.wait_until(lambda: not shim.alive(), 10)
    assert procs.wait_until(lambda: not init.alive(), 30), init

    r = airlock.ctrd.ctr("task", "delete", "-f", cid)
    assert r.rc == 0 or "not found" in r.err, r
    airlock.ctrd.ctr("containers", "rm", cid, check=True)
    airlock.ctrd.accept_stale_socket(cid)
    airlock.assert_no_leftovers(cid)
    # The staged repository mount went with `delete`; the repository itself is intact.
    assert not os.path.exists(staged)
    assert os.path.isdir(repo) and os.path.exists(os.path.join(repo, "out", "DONE"))
    # The sandbox netns was held by the shim and the container only: gone with them, and the
    # uplink's far end in the upstream netns with it.
    assert_upstream_clean(upstream)
