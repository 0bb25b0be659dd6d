"""A stop right after start (issue 14, item 9): the kubelet may send its SIGTERM milliseconds
after StartContainer. Under an airlock policy the entrypoint does not exist yet at that point
(setup runs, or the seal is under way, or airlock-init is still reading its payload): the signal
must end the task then, never be dropped so that only the grace period's SIGKILL ends it.

Each scenario sends SIGTERM straight to the task's shim (the Kill containerd would forward) at
0, 1, 5 and 50 ms after `ctr run -d` returned, and waits for the task's exit: 143 (SIGTERM, from
the entrypoint's trap or from airlock-init standing in for it), never a task still running. The
same through the CRI: StopContainer right after StartContainer ends the container with 143, not
with the stop timeout's SIGKILL (137)."""

import os
import secrets
import time

import pytest

from harness import ttrpc
from harness.airlock import RUNTIME, policy_yaml

DELAYS_MS = [0, 1, 5, 50]
# Ends on SIGTERM from its first instant on, so any loss is the runtime's.
ENTRY = ["sh", "-c", "trap 'exit 143' TERM; echo ran > /workspace/entrypoint-ran 2>/dev/null; "
         "while :; do sleep 0.05; done"]


def _shim_call(ctrd, cid, method, payload, timeout=30.0):
    with ttrpc.Conn(ctrd.shim_address(cid), timeout) as conn:
        resp = conn.call(ttrpc.TASK_SERVICE, method, payload,
                         metadata=[("containerd-namespace-ttrpc", ctrd.namespace)])
    assert resp.code == ttrpc.CODE_OK, f"{method}: {resp}"
    return ttrpc.decode(resp.payload)


def _sigterm_then_exit_status(ctrd, cid, delay_ms):
    """SIGTERM `delay_ms` after the start returned; the init's exit status, or None when the task
    is still running 20 s later (the signal was lost)."""
    time.sleep(delay_ms / 1000)
    _shim_call(ctrd, cid, "Kill", ttrpc.field_bytes(1, cid) + ttrpc.field_varint(3, 15))
    try:
        ctrd.wait_status(cid, "STOPPED", timeout=20)
    except AssertionError:
        return None
    waited = _shim_call(ctrd, cid, "Wait", ttrpc.field_bytes(1, cid))
    return ttrpc.first(waited, 1, 0)


@pytest.mark.parametrize("delay_ms", DELAYS_MS)
def test_sigterm_right_after_start(ctrd, runtime, new_id, delay_ms):
    """Side by side: no policy (passthrough) for airlock, as runc-v2."""
    cid = new_id()
    ctrd.run(runtime, cid, *ENTRY, rm=False, detach=True, check=True)
    ctrd.track(cid)
    assert _sigterm_then_exit_status(ctrd, cid, delay_ms) == 143
    ctrd.remove(cid)


@pytest.mark.parametrize("setup", [None, "true", "sleep 600"], ids=["no-setup", "short-setup", "long-setup"])
@pytest.mark.parametrize("delay_ms", DELAYS_MS)
def test_sigterm_before_or_during_the_seal_ends_the_task(airlock, upstream, delay_ms, setup):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{upstream.path}", setup=setup, timeout="10m"))
    airlock.ctrd.run(RUNTIME, cid, *ENTRY, rm=False, detach=True, check=True,
                     extra=airlock.run_extra(policy=policy, repo=repo))
    airlock.ctrd.track(cid)
    airlock.observe(cid)
    assert _sigterm_then_exit_status(airlock.ctrd, cid, delay_ms) == 143
    if setup == "sleep 600":
        # SIGTERM went to setup, which it ended: the entrypoint never started.
        assert not os.path.exists(os.path.join(repo, "entrypoint-ran"))
    airlock.remove(cid)


def test_sigterm_that_setup_survives_still_ends_the_task(airlock, upstream):
    """Setup traps SIGTERM and finishes well: the stop was asked for before the entrypoint
    existed, so the entrypoint never starts, whatever setup made of the signal."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    setup = "trap 'echo got-term > /workspace/setup-got-term' TERM; touch /workspace/setup-started; sleep 1; exit 0"
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{upstream.path}", setup=setup, timeout="10m"))
    airlock.ctrd.run(RUNTIME, cid, *ENTRY, rm=False, detach=True, check=True,
                     extra=airlock.run_extra(policy=policy, repo=repo))
    airlock.ctrd.track(cid)
    airlock.observe(cid)
    deadline = time.monotonic() + 30
    while not os.path.exists(os.path.join(repo, "setup-started")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _sigterm_then_exit_status(airlock.ctrd, cid, 0) == 143
    assert os.path.exists(os.path.join(repo, "setup-got-term")), "setup never saw the SIGTERM"
    assert not os.path.exists(os.path.join(repo, "entrypoint-ran")), "the entrypoint ran after a stop"
    events, _ = airlock.audit(cid)
    assert "setup-exit" in [e["event"] for e in events]
    airlock.remove(cid)
