"""The setup phase and its three ways to end: setup fails (the entrypoint never runs), an explicit
`airlock seal`, the setup deadline (io.containerd.airlock.v2 only)."""

import os

from harness import procs
from harness.airlock import (PROBE_FN, assert_upstream_clean, field, link_names, policy_yaml,
                             wait_for_file, wait_probes)

# Entrypoint of the phase scenarios: says it ran, then lives on for status and execs.
ENTRY_MARK = "echo ran > /workspace/entrypoint-ran; "


def test_failing_setup_ends_the_task_and_the_entrypoint_never_runs(airlock, upstream):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    # Through a profile this time (annotation airlock.dev/policy=NAME in the host's profiles dir).
    profile = f"failing-{cid}"
    airlock.profile(profile, policy_yaml(
        uplink=f"netns:{upstream.path}",
        setup="echo ran > /workspace/setup-ran; exit 7"))
    r = airlock.run(cid, "sh", "-c", ENTRY_MARK, profile=profile, repo=repo)
    assert r.rc == 7, r
    assert os.path.exists(os.path.join(repo, "setup-ran")), "setup did not run"
    assert not os.path.exists(os.path.join(repo, "entrypoint-ran")), "the entrypoint ran"
    airlock.assert_no_leftovers(cid)
    assert_upstream_clean(upstream)
    events, _ = airlock.audit(cid)
    names = [e["event"] for e in events]
    assert "setup-exit" in names and "seal" not in names, names


def test_explicit_seal_ends_setup(airlock, upstream):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    setup = "echo started > /workspace/setup-started; sleep 3600; touch /workspace/setup-finished"
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{upstream.path}", setup=setup,
                                             timeout="10m"))
    airlock.start(cid, "sh", "-c", ENTRY_MARK + PROBE_FN + "probe links ip -o link; finish; "
                  "exec sleep 600", policy=policy, repo=repo)
    assert wait_for_file(os.path.join(repo, "setup-started"), 30), "setup never started"

    # Still in setup: the uplink is there, the entrypoint waits.
    status = airlock.status(cid)
    assert field(status, "phase") == "setup", status
    assert len(upstream.veths()) == 1, upstream.links()
    assert not os.path.exists(os.path.join(repo, "entrypoint-ran"))

    airlock.seal(cid)
    probes = wait_probes(repo, ctrd=airlock.ctrd, cid=cid)
    assert os.path.exists(os.path.join(repo, "entrypoint-ran"))
    assert not os.path.exists(os.path.join(repo, "setup-finished"))
    assert link_names(probes["links"][1]) == ["lo"], probes["links"]
    assert_upstream_clean(upstream)
    status = airlock.status(cid)
    assert field(status, "phase") == "sealed", status
    assert field(status, "verified") is True, status
    assert field(status, "seal_trigger") == "api", status

    # The setup command did not survive the seal (keep_processes is false).
    r = airlock.ctrd.exec(cid, "ps", "ps")
    assert r.rc == 0 and "sleep 3600" not in r.out, r

    # Sealing is one-way and idempotent.
    airlock.seal(cid)
    assert field(airlock.status(cid), "phase") == "sealed"
    airlock.remove(cid)
    assert_upstream_clean(upstream)


def test_setup_deadline_seals_regardless(airlock, upstream):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    # Setup that would never finish, and ignores the polite signals.
    setup = "trap '' TERM INT HUP; echo started > /workspace/setup-started; sleep 3600"
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{upstream.path}", setup=setup,
                                             timeout="2s"))
    airlock.start(cid, "sh", "-c", ENTRY_MARK + PROBE_FN + "probe links ip -o link; finish; "
                  "exec sleep 600", policy=policy, repo=repo)
    probes = wait_probes(repo, timeout=60, ctrd=airlock.ctrd, cid=cid)
    assert os.path.exists(os.path.join(repo, "setup-started"))
    assert link_names(probes["links"][1]) == ["lo"], probes["links"]
    assert_upstream_clean(upstream)
    status = airlock.status(cid)
    assert field(status, "phase") == "sealed", status
    assert field(status, "verified") is True, status
    assert field(status, "seal_trigger") == "deadline", status
    r = airlock.ctrd.exec(cid, "ps", "ps")
    assert r.rc == 0 and "sleep 3600" not in r.out, r
    airlock.remove(cid)
    events, _ = airlock.audit(cid)
    seals = [e for e in events if e["event"] == "seal"]
    assert len(seals) == 1 and "deadline" in str(seals[0]), seals


def test_setup_without_network_policy_none(airlock):
    """uplink none: setup runs with loopback only, and nothing is made on the host for it."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(uplink="none", setup="ip -o link > /workspace/setup-links"))
    r = airlock.run(cid, "sh", "-c", "touch /workspace/entrypoint-ran", policy=policy, repo=repo)
    assert r.rc == 0, r
    with open(os.path.join(repo, "setup-links")) as f:
        assert link_names(f.read()) == ["lo"]
    assert os.path.exists(os.path.join(repo, "entrypoint-ran"))
    airlock.assert_no_leftovers(cid)


def test_exit_code_of_the_entrypoint_after_the_seal(airlock):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(setup="true"))
    r = airlock.run(cid, "sh", "-c", "echo agent-out; echo agent-err >&2; exit 5",
                    policy=policy, repo=repo)
    assert r.rc == 5, r
    assert r.out == "agent-out\n" and r.err == "agent-err\n", r
    airlock.assert_no_leftovers(cid)
    assert procs.wait_until(lambda: os.path.exists(airlock.audit_path(cid)), 5), \
        f"no audit log at {airlock.audit_path(cid)}"


def test_unverifiable_seal_fails_closed(airlock, upstream):
    """A setup that can change the netns (the policy grants CAP_NET_ADMIN, ctr adds it) plants an
    extra interface. The uplink goes at the seal, but the verification reads back more than `lo`:
    the shim fails closed, the task is killed and the entrypoint never runs."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE",
            "CAP_MKNOD", "CAP_NET_ADMIN"]
    setup = "ip link add smuggled type veth peer name smuggled1 && echo planted > /workspace/planted"
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{upstream.path}", setup=setup,
                                             extra=f"capabilities: {caps}\n".replace("'", '"')))
    r = airlock.run(cid, "sh", "-c", ENTRY_MARK, policy=policy, repo=repo, flags=["--cap-add", "CAP_NET_ADMIN"])
    assert os.path.exists(os.path.join(repo, "planted")), "setup did not plant its interface"
    assert r.rc == 137, r  # killed, fail closed
    assert not os.path.exists(os.path.join(repo, "entrypoint-ran")), "the entrypoint ran on an unverified seal"
    events, _ = airlock.audit(cid)
    failures = [e for e in events if e["event"] == "failure"]
    assert failures and "seal verification failed" in failures[0]["reason"], events
    assert not any(e["event"] == "seal" for e in events), events
    airlock.assert_no_leftovers(cid)
    assert_upstream_clean(upstream)
