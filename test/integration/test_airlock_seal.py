"""The airlock's one-way seal, end to end (io.containerd.airlock.v2 only).

Setup reaches a test-made upstream netns through the veth the shim makes (policy
`uplink: netns:PATH`), the seal follows setup's successful exit, and from then on nothing
leaves the sandbox: not from the entrypoint, not from a later `ctr task exec`.
"""

import json
import os

from harness.airlock import (PROBE_FN, VERIFY_PROBES, assert_upstream_clean, field, link_names,
                             policy_yaml, read_probes, setup_fetch_script, sha256_file,
                             wait_probes)


def _fetch_probe(port, tag):
    """A fetch of /pkg from the former gateway; the query names who tried (see requests())."""
    return (f'gw=$(cat /workspace/gateway); '
            f'probe fetch_{tag} timeout 20 wget -q -O /tmp/pkg-{tag} "http://$gw:{port}/pkg?from={tag}"; ')


def _paths_requested(upstream):
    return [path for _, _, path, _ in upstream.requests()]


def test_setup_fetches_then_seal_cuts_the_network(airlock, upstream):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{upstream.path}",
                                             setup=setup_fetch_script(upstream.port)))
    entry = PROBE_FN + _fetch_probe(upstream.port, "entrypoint") + "finish; exec sleep 600"
    airlock.start(cid, "sh", "-c", entry, policy=policy, repo=repo)
    probes = wait_probes(repo, ctrd=airlock.ctrd, cid=cid)

    # Setup: one uplink besides lo, the package fetched intact from the upstream.
    with open(os.path.join(repo, "setup-links")) as f:
        setup_links = link_names(f.read())
    assert len(setup_links) == 2 and "lo" in setup_links, setup_links
    assert sha256_file(os.path.join(repo, "pkg")) == upstream.sha256
    with open(os.path.join(repo, "gateway")) as f:
        gateway = f.read().strip()
    assert gateway.startswith("198.18."), f"gateway {gateway} not from the 198.18.0.0/16 pool"
    setup_requests = [r for r in upstream.requests() if r[2] == "/pkg?from=setup"]
    assert len(setup_requests) == 1 and setup_requests[0][3] == 200, upstream.requests()
    assert setup_requests[0][0].startswith("198.18."), "the fetch came through the shim's veth"

    # The seal removed the uplink: the upstream end of the veth is gone too.
    assert_upstream_clean(upstream)

    # After the seal the same fetch fails, from the entrypoint ...
    rc, out = probes["fetch_entrypoint"]
    assert rc != 0, f"the entrypoint fetched from the upstream after the seal: {out!r}"
    # ... and from an exec.
    r = airlock.ctrd.exec(cid, "fetch", "sh", "-c",
                          f'timeout 20 wget -q -O /tmp/pkg-exec "http://{gateway}:{upstream.port}/pkg?from=exec"')
    assert r.rc != 0, r
    paths = _paths_requested(upstream)
    assert "/pkg?from=entrypoint" not in paths and "/pkg?from=exec" not in paths, paths

    status = airlock.status(cid)
    assert field(status, "phase") == "sealed", status
    assert field(status, "verified") is True, status
    assert field(status, "seal_trigger") == "setup-exit", status

    airlock.remove(cid)
    assert_upstream_clean(upstream)

    # The audit log stays, and tells the story in order.
    events, _ = airlock.audit(cid)
    names = [e["event"] for e in events]
    order = ["created", "setup-start", "setup-exit", "seal", "destroyed"]
    assert all(n in names for n in order), names
    assert [names.index(n) for n in order] == sorted(names.index(n) for n in order), names
    assert "exec" in names, names
    # The seal event says where its time went: each step, in microseconds.
    seal = next(e for e in events if e["event"] == "seal")
    steps = {k: seal.get(k) for k in ("latency_us", "queued_us", "leftovers_us", "network_us", "rootfs_us")}
    assert all(isinstance(v, int) and v >= 0 for v in steps.values()), seal
    assert seal["verified"] is True and any(f.startswith("link 1:lo") for f in seal["findings"]), seal


def test_sealed_sandbox_sees_only_loopback_and_no_way_out(airlock, upstream):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{upstream.path}",
                                             setup=setup_fetch_script(upstream.port)))
    entry = (PROBE_FN
             + "probe links ip -o link; "
             + "probe netdev cat /proc/net/dev; "
             + "probe sysnet ls /sys/class/net; "
             + "probe routes ip route; "
             # Only ever towards the former gateway, never a real address.
             + 'probe ping ping -c 1 -W 2 "$(cat /workspace/gateway)"; '
             + "probe arping arping -c 1 -w 1 -I lo 127.0.0.1; "
             + "probe unshare_net unshare -n true; "
             + "probe unshare_user unshare -U true; "
             + "probe unshare_user_net unshare -U -n true; "
             + "finish")
    r = airlock.run(cid, "sh", "-c", entry, policy=policy, repo=repo)
    assert r.rc == 0, r
    probes = read_probes(repo)

    assert link_names(probes["links"][1]) == ["lo"], probes["links"]
    devices = [line.split(":", 1)[0].strip() for line in probes["netdev"][1].splitlines()[2:]]
    assert devices == ["lo"], probes["netdev"]
    assert probes["sysnet"][1].split() == ["lo"], probes["sysnet"]
    assert "default" not in probes["routes"][1], probes["routes"]

    for name in ("ping", "arping", "unshare_net", "unshare_user", "unshare_user_net"):
        rc, out = probes[name]
        assert rc not in (0, None), f"{name} succeeded after the seal: {out!r}"
    # Raw and packet sockets are refused outright (not merely unrouted).
    assert "permission denied" in probes["ping"][1].lower() or \
        "operation not permitted" in probes["ping"][1].lower(), probes["ping"]
    assert "Operation not permitted" in probes["arping"][1], probes["arping"]
    assert "Operation not permitted" in probes["unshare_net"][1], probes["unshare_net"]
    assert "Operation not permitted" in probes["unshare_user"][1], probes["unshare_user"]
    airlock.assert_no_leftovers(cid)
    assert_upstream_clean(upstream)


def test_exec_after_the_seal_is_sealed_too(airlock, upstream):
    """A later `ctr task exec` gets the same treatment as the entrypoint (seccomp, no uplink)."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{upstream.path}",
                                             setup=setup_fetch_script(upstream.port)))
    airlock.start(cid, "sh", "-c", PROBE_FN + "finish; exec sleep 600", policy=policy, repo=repo)
    wait_probes(repo, ctrd=airlock.ctrd, cid=cid)
    checks = {
        "links": ("ip -o link", lambda rc, out: rc == 0 and link_names(out) == ["lo"]),
        "arping": ("arping -c 1 -w 1 -I lo 127.0.0.1", lambda rc, out: rc != 0 and "Operation not permitted" in out),
        "unshare_net": ("unshare -n true", lambda rc, out: rc != 0),
        "unshare_user": ("unshare -U true", lambda rc, out: rc != 0),
        "seccomp": ("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
                    lambda rc, out: "Seccomp:\t2" in out and "NoNewPrivs:\t1" in out),
    }
    for n, (script, ok) in checks.items():
        r = airlock.ctrd.exec(cid, f"x{n.replace('_', '')}", "sh", "-c", script + " 2>&1")
        assert ok(r.rc, r.out), f"exec {script!r}: {r!r}"
    airlock.remove(cid)
    assert_upstream_clean(upstream)


def test_status_and_verify_report_sealed_and_held(airlock, upstream):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{upstream.path}",
                                             setup=setup_fetch_script(upstream.port),
                                             secrets_=["NPM_TOKEN"]))
    airlock.start(cid, "sh", "-c", PROBE_FN + "finish; exec sleep 600", policy=policy, repo=repo,
                  env={"NPM_TOKEN": "status-test-token"})
    wait_probes(repo, ctrd=airlock.ctrd, cid=cid)

    status = airlock.status(cid)
    assert field(status, "id") == cid, status
    assert field(status, "namespace") == airlock.ctrd.namespace, status
    assert field(status, "phase") == "sealed", status
    assert field(status, "verified") is True, status
    assert field(status, "seal_trigger") == "setup-exit", status
    assert field(status, "uplink") == f"netns:{upstream.path}", status
    assert field(status, "workspace_source") == repo, status
    assert field(status, "workspace_target") == "/workspace", status
    assert field(status, "setup_ran") is True, status
    assert field(status, "setup_exit_code") in (0, None), status  # proto3: 0 may be left out
    assert not field(status, "failure"), status

    report = airlock.verify(cid)
    probes = {p["name"]: p for p in report.get("probes", [])}
    missing = [n for n in VERIFY_PROBES if n not in probes]
    assert not missing, f"probes missing from verify: {missing}\n{json.dumps(report, indent=1)}"
    broken = {n: p for n, p in probes.items() if p.get("result") != "held"}
    assert not broken, f"verify found promises not held: {json.dumps(broken, indent=1)}"
    if "held" in report:
        assert report["held"] is True, report

    # Verify is not an exec containerd knows about, and leaves the sandbox as it was.
    assert field(airlock.status(cid), "phase") == "sealed"
    airlock.remove(cid)
    assert_upstream_clean(upstream)
    _, raw = airlock.audit(cid)
    assert "status-test-token" not in raw


def test_during_setup_execs_get_no_payload_and_verify_tells_the_phase(airlock):
    """Before the seal an exec runs as itself (not through the helper): it gets neither the helper's
    payload nor the shim's channel. `airlock verify` works in every phase (its probe gets the
    payload) but holds only once sealed: before, the probe (run through the helper, as an exec after
    the seal would be) says nothing of setup's processes. After `airlock seal` it holds."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(setup="sleep 60", timeout="120s"))
    airlock.start(cid, "sh", "-c", "exec sleep 600", policy=policy, repo=repo)
    assert field(airlock.status(cid), "phase") == "setup"

    r = airlock.ctrd.exec(cid, "fds", "sh", "-c", "ls -l /proc/self/fd | grep -c -e memfd -e socket; true")
    assert r.rc == 0 and r.out.strip() == "0", r

    def verify():
        v = airlock.cli("verify", cid, "--namespace", airlock.ctrd.namespace, "--json", timeout=60.0)
        report = json.loads(v.stdout)
        return report, {p["name"]: p.get("result") for p in report.get("probes", [])}

    report, results = verify()
    assert results and report.get("phase") == "setup", report
    assert not report.get("held"), report  # whatever the probes found: setup is not sealed

    airlock.seal(cid)
    report, results = verify()
    assert report.get("held") is True and all(r == "held" for r in results.values()), report
    airlock.remove(cid)
