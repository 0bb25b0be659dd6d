"""The setup phase's seccomp filter (issue 13, part 2), in a real sandbox (io.containerd.airlock.v2).

The setup command (the repository's own code, run with network) gets EPERM for AF_VSOCK (bound to
no network namespace: it would reach the hypervisor past the uplink), new user namespaces, bpf,
keyctl, perf_event_open, mount..., while a fetch from the test's upstream still works. After the
seal AF_VSOCK stays denied. `airlock verify` and `airlock policy explain` cover both phases.

The busybox image cannot call socket(AF_VSOCK) or bpf itself: the setup command runs
`/.airlock probe --setup-filter` (airlock-init, bound into every sandbox), whose calls are made so
that only a filter answers EPERM (without one the kernel says EINVAL/EFAULT, or for vsock: success
on a host with vsock, EAFNOSUPPORT on one without). So EPERM inside proves the filter on either kind
of host; the test says which kind this one is.
"""

import errno
import json
import os
import socket

from harness.airlock import (PROBE_FN, SETUP_VERIFY_PROBES, VERIFY_PROBES, field, policy_yaml,
                             setup_fetch_script, sha256_file, wait_probes)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def host_vsock():
    """'available' when this kernel makes AF_VSOCK sockets (what setup could reach without the
    filter), else why not."""
    try:
        socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM).close()
        return "available"
    except OSError as e:
        return f"absent ({errno.errorcode.get(e.errno, e.errno)})"


# Setup's own checks, each result in /workspace/setup-<name> and its exit code in .rc.
SETUP_CHECKS = (
    't() { n=$1; shift; "$@" > /workspace/setup-$n 2>&1; echo $? > /workspace/setup-$n.rc; }; '
    "t probe /.airlock probe --json --setup-filter MODE; "
    "t status grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; "
    "t unshare_user unshare -U true; "
    "t mount sh -c 'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m'; "
)


def read_setup(repo, name):
    with open(os.path.join(repo, f"setup-{name}"), errors="replace") as f:
        text = f.read()
    with open(os.path.join(repo, f"setup-{name}.rc")) as f:
        return int(f.read().strip()), text


def probes_by_name(report):
    return {p["name"]: p for p in report.get("probes", [])}


def test_setup_runs_under_its_filter_fetch_works_and_verify_covers_both_phases(airlock, upstream):
    vsock = host_vsock()
    print(f"host vsock: {vsock}")
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    setup = SETUP_CHECKS.replace("MODE", "strict") + setup_fetch_script(upstream.port)
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{upstream.path}", setup=setup))
    airlock.start(cid, "sh", "-c", PROBE_FN + "finish; exec sleep 600", policy=policy, repo=repo)
    wait_probes(repo, ctrd=airlock.ctrd, cid=cid)

    # The setup command's own process: filtered (and no_new_privs), whatever it execs.
    rc, status = read_setup(repo, "status")
    assert rc == 0 and "Seccomp:\t2" in status and "NoNewPrivs:\t1" in status, status

    # The battery, run by the setup command itself: every promise of the setup filter held.
    rc, text = read_setup(repo, "probe")
    report = json.loads(text)
    probes = probes_by_name(report)
    assert rc == 0 and report["held"] is True, json.dumps(report, indent=1)
    assert sorted(probes) == sorted(SETUP_VERIFY_PROBES), sorted(probes)
    vsock_detail = probes["setup.socket.vsock-denied"]["detail"]
    # EPERM, not success (host with vsock) nor EAFNOSUPPORT (host without): the filter said no.
    assert "socket(AF_VSOCK, SOCK_STREAM): EPERM" in vsock_detail, (vsock, vsock_detail)
    assert probes["setup.ns.user-denied"]["detail"] == \
        "unshare(CLONE_NEWUSER): EPERM; clone(CLONE_NEWUSER): EPERM; clone3: ENOSYS", probes["setup.ns.user-denied"]
    kernel = probes["setup.kernel-denied"]["detail"]
    for call in ("bpf", "keyctl", "add_key", "perf_event_open", "userfaultfd", "io_uring_setup"):
        assert f"{call}: EPERM" in kernel, kernel
    assert "mount: EPERM" in probes["setup.mount-denied"]["detail"], probes["setup.mount-denied"]
    assert probes["setup.sockets-allowed"]["result"] == "held", probes["setup.sockets-allowed"]

    # The same from busybox's own tools.
    rc, out = read_setup(repo, "unshare_user")
    assert rc != 0 and "Operation not permitted" in out, out
    rc, out = read_setup(repo, "mount")
    assert rc != 0, out

    # ... and the dependency still came down from the upstream, through the uplink.
    assert sha256_file(os.path.join(repo, "pkg")) == upstream.sha256
    setup_requests = [r for r in upstream.requests() if r[2] == "/pkg?from=setup"]
    assert len(setup_requests) == 1 and setup_requests[0][3] == 200, upstream.requests()

    # `airlock verify`: the sealed battery, run now, and the setup one, recorded by the setup
    # command's process under its filter before its exec.
    verify = airlock.verify(cid)
    probes = probes_by_name(verify)
    missing = [n for n in VERIFY_PROBES + SETUP_VERIFY_PROBES if n not in probes]
    assert not missing, f"missing from verify: {missing}\n{json.dumps(verify, indent=1)}"
    not_held = {n: p for n, p in probes.items() if p["result"] != "held"}
    assert not not_held and verify.get("held") is True, json.dumps(not_held, indent=1)
    # After the seal AF_VSOCK is still refused, by the execution filter.
    assert "socket(AF_VSOCK, SOCK_STREAM): EPERM" in probes["socket.vsock-denied"]["detail"], \
        probes["socket.vsock-denied"]
    assert "socket(AF_VSOCK, SOCK_STREAM): EPERM" in probes["setup.socket.vsock-denied"]["detail"]
    text = airlock.cli("verify", cid, "--namespace", airlock.ctrd.namespace)
    assert text.returncode == 0, text.stdout + text.stderr
    for name in ("setup.socket.vsock-denied", "socket.vsock-denied", "setup.kernel-denied"):
        assert any(line.split()[:2] == ["held", name] for line in text.stdout.splitlines()), text.stdout

    # An exec after the seal: the execution filter, vsock included.
    r = airlock.ctrd.exec(cid, "vsock", "/.airlock", "probe", "--json", "--setup-filter", "strict")
    sealed = probes_by_name(json.loads(r.out))
    assert "socket(AF_VSOCK, SOCK_STREAM): EPERM" in sealed["setup.socket.vsock-denied"]["detail"], r

    airlock.remove(cid)
    events, _ = airlock.audit(cid)
    recorded = [e for e in events if e["event"] == "setup-filter"]
    assert len(recorded) == 1 and recorded[0]["held"] is True, recorded
    names = [e["event"] for e in events]
    assert names.index("setup-filter") < names.index("seal"), names


def test_allow_mount_opens_only_the_mount_api(airlock):
    """seccomp.setup: allow-mount leaves the mount API to the capabilities (none here: busybox's
    mount still fails, from the kernel now), every other denial stays."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    text = policy_yaml(setup=SETUP_CHECKS.replace("MODE", "allow-mount"))
    policy = airlock.policy(cid, text.replace("  execution: strict\n", "  execution: strict\n  setup: allow-mount\n"))
    r = airlock.run(cid, "sh", "-c", "true", policy=policy, repo=repo)
    assert r.rc == 0, r
    rc, text = read_setup(repo, "probe")
    probes = probes_by_name(json.loads(text))
    assert rc == 0, text
    assert probes["setup.mount-denied"]["result"] == "info", probes["setup.mount-denied"]
    for name in ("setup.socket.vsock-denied", "setup.ns.user-denied", "setup.kernel-denied"):
        assert probes[name]["result"] == "held", probes[name]
    rc, out = read_setup(repo, "mount")
    assert rc != 0, out  # no CAP_SYS_ADMIN
    events, _ = airlock.audit(cid)
    recorded = next(e for e in events if e["event"] == "setup-filter")
    mount = next(p for p in recorded["probes"] if p["name"] == "setup.mount-denied")
    assert mount["result"] == "info" and recorded["held"] is True, recorded
    airlock.assert_no_leftovers(cid)


def test_policy_explain_covers_both_phases(airlock):
    r = airlock.cli("policy", "explain", os.path.join(REPO_ROOT, "examples", "policies", "npm.yaml"))
    assert r.returncode == 0, r.stderr
    setup = r.stdout[r.stdout.index("During setup:"):r.stdout.index("The seal")]
    after = r.stdout[r.stdout.index("After the seal"):]
    assert "seccomp (setup: strict): sockets only of the families unix, inet, inet6 and netlink (no vsock" in setup, setup
    assert "no new user namespaces, no bpf, keyring, io_uring, perf events" in setup, setup
    assert "no mount (EPERM)" in setup, setup
    assert "what package managers need stays" in setup, setup
    assert "seccomp (strict): sockets only of the families unix, inet, inet6 and netlink (no vsock" in after, after
