"""The seal's secret sweep (issue 13, part 3): a setup script has the secrets by design; what it
leaves on disk must never reach the agent. At the seal, before the entrypoint starts, the shim
searches every place setup could write (the rootfs' changes when setup may write it, the
workspace, the policy's tmpfs, /dev) for the values, raw and encoded, and empties the tmpfs and
mqueue mounts the policy does not name (/dev/shm, /run, /dev/mqueue). `leftover_secrets: fail`
(the default) fails the seal closed, naming the files, never the values; `scrub` removes them.
(io.containerd.airlock.v2 only)"""

import base64
import os
import secrets
import subprocess
import sys

from harness.airlock import PROBE_FN, policy_yaml, read_probes, wait_probes

ENTRY_MARK = "echo ran > /workspace/entrypoint-ran"

# Leaves the secret where careless and hostile setups do: ~/.npmrc (rootfs), /tmp (the policy's
# tmpfs), /dev/shm and /run (tmpfs the policy never names), the workspace (hidden, base64), /dev,
# a file name, a symlink's target; /dev/mqueue gets a message queue. The rootfs is writable.
LITTER = ('mkdir -p /root /run && printf "//registry.example/:_authToken=%s\\n" "$NPM_TOKEN" > /root/.npmrc; '
          'printf %s "$NPM_TOKEN" > /tmp/token; '
          'echo "$NPM_TOKEN" > /dev/shm/token; echo harmless > /dev/shm/other; '
          'echo "$NPM_TOKEN" > /run/token; '
          'mkdir -p /workspace/.cache && printf %s "$NPM_TOKEN" | base64 > /workspace/.cache/b64; '
          'echo "x$NPM_TOKEN" > /dev/airlock-token; '
          'touch "/tmp/name-$NPM_TOKEN"; ln -s "/nowhere/$NPM_TOKEN" /tmp/link; '
          'mkdir -p /dev/mqueue && touch /dev/mqueue/q 2>/dev/null; true')


def _places_policy(airlock, cid, leftover_secrets=None, setup=LITTER):
    return airlock.policy(cid, policy_yaml(setup=setup, rootfs_setup="writable", secrets_=["NPM_TOKEN"],
                                           tmpfs={"/tmp": "16Mi"}, leftover_secrets=leftover_secrets))


def test_secret_left_by_setup_fails_the_seal_closed(airlock):
    """Default (fail): the seal fails, the entrypoint never runs, the error and the audit name the
    files and the secret's name, never its value; nothing is left."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    token = "npm_" + secrets.token_hex(16)
    policy = _places_policy(airlock, cid)
    r = airlock.run(cid, "sh", "-c", ENTRY_MARK, policy=policy, repo=repo, env={"NPM_TOKEN": token})
    assert r.rc == 137, r  # killed: fail closed
    assert not os.path.exists(os.path.join(repo, "entrypoint-ran")), "the entrypoint ran with a secret on disk"
    events, raw = airlock.audit(cid)
    assert token not in raw, "a secret value in the audit log"
    assert base64.b64encode(token.encode()).decode() not in raw
    sweep = [e for e in events if e["event"] == "secret-sweep"]
    assert sweep and sweep[0]["completed"], events
    found = "\n".join(sweep[0]["found"])
    for where in ("rootfs: root/.npmrc", "tmpfs /tmp: token", "workspace /workspace: .cache/b64",
                  "tmpfs /dev: airlock-token", "tmpfs /tmp: link"):
        assert where in found, (where, sweep[0]["found"])
    assert "base64" in found and "NPM_TOKEN" in found, found
    # The file named after the value is reported without the value.
    assert "tmpfs /tmp: (a path holding NPM_TOKEN)" in found, found
    failures = [e for e in events if e["event"] == "failure"]
    assert failures and "setup left secret values on disk" in failures[0]["reason"], events
    assert "root/.npmrc" in failures[0]["reason"], failures[0]
    assert not any(e["event"] == "seal" for e in events), events
    airlock.assert_no_leftovers(cid)


def test_scrub_removes_what_setup_left_and_empties_unnamed_tmpfs(airlock):
    """scrub: the files holding the value are gone before the entrypoint starts; /dev/shm and /run
    are empty; the agent finds the value nowhere; files without it stay."""
    cid = airlock.new_id()
    repo = airlock.repo(cid, {"README": "kept\n"})
    token = "npm_" + secrets.token_hex(16)
    policy = _places_policy(airlock, cid, leftover_secrets="scrub")
    half = len(token) // 2
    entry = (PROBE_FN
             + f"export a={token[:half]} b={token[half:]}; "
             + "probe grep sh -c 'find / \\( -path /proc -o -path /sys \\) -prune -o -type f -print "
             + "| xargs grep -l -e \"$a$b\" 2>/dev/null; "
             + "find / \\( -path /proc -o -path /sys \\) -prune -o -name \"*$a$b*\" -print 2>/dev/null; true'; "
             + "probe names sh -c 'ls -a /tmp /dev/shm /run /dev/mqueue /workspace/.cache 2>&1'; "
             + "probe npmrc sh -c 'cat /root/.npmrc 2>&1; true'; "
             + "finish")
    r = airlock.run(cid, "sh", "-c", entry, policy=policy, repo=repo, env={"NPM_TOKEN": token})
    assert r.rc == 0, r
    probes = read_probes(repo)
    assert probes["grep"][1].strip() == "", f"the agent read the secret in: {probes['grep']}"
    names = probes["names"][1]
    assert token not in names and "token" not in names and "other" not in names, names
    assert "link" not in names and "b64" not in names, names
    assert "No such file" in probes["npmrc"][1], probes["npmrc"]
    with open(os.path.join(repo, "README")) as f:
        assert f.read() == "kept\n"
    events, raw = airlock.audit(cid)
    assert token not in raw
    sweep = [e for e in events if e["event"] == "secret-sweep"][0]
    assert sweep["action"] == "scrub" and sweep["found"] and sweep["removed"], sweep
    assert any(p.startswith("tmpfs /dev/shm (not in the policy)") for p in sweep["emptied"]), sweep
    assert any(e["event"] == "seal" for e in events), events
    airlock.assert_no_leftovers(cid)


def test_clean_setup_seals_and_unnamed_tmpfs_is_emptied_without_secrets(airlock):
    """A setup that leaves no secret seals as before; what it left in /dev/shm is emptied even when
    the policy has no secrets (a channel from setup to the agent that nothing names)."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    setup = "echo from-setup > /dev/shm/note; echo kept > /tmp/kept; echo dep > /workspace/installed"
    policy = airlock.policy(cid, policy_yaml(setup=setup, tmpfs={"/tmp": "16Mi"}))
    entry = (PROBE_FN + "probe shm ls -A /dev/shm; probe tmp cat /tmp/kept; probe ws cat /workspace/installed; finish")
    r = airlock.run(cid, "sh", "-c", entry, policy=policy, repo=repo)
    assert r.rc == 0, r
    probes = read_probes(repo)
    assert probes["shm"][1].strip() == "", probes["shm"]
    assert probes["tmp"][1].strip() == "kept" and probes["ws"][1].strip() == "dep", probes
    airlock.assert_no_leftovers(cid)


def test_secret_in_a_deep_or_linked_tree_is_found_without_following_links(airlock):
    """Symlinks are never followed (a link to / must not make the sweep walk the container or the
    host), a deep tree is walked whole, and a value split over a 64 KiB read boundary is found."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    token = "npm_" + secrets.token_hex(16)
    setup = ('ln -s / /tmp/root-link; ln -s /proc/1/root /tmp/proc-link; '
             'd=/tmp; for i in $(seq 1 60); do d=$d/d$i; done; mkdir -p $d; printf %s "$NPM_TOKEN" > $d/deep; '
             'head -c 65530 /dev/zero > /tmp/split; printf %s "$NPM_TOKEN" >> /tmp/split')
    policy = airlock.policy(cid, policy_yaml(setup=setup, secrets_=["NPM_TOKEN"], tmpfs={"/tmp": "16Mi"}))
    r = airlock.run(cid, "sh", "-c", ENTRY_MARK, policy=policy, repo=repo, env={"NPM_TOKEN": token})
    assert r.rc == 137, r
    events, raw = airlock.audit(cid)
    assert token not in raw
    found = "\n".join([e for e in events if e["event"] == "secret-sweep"][0]["found"])
    assert "/d60/deep holds NPM_TOKEN" in found and "tmpfs /tmp: split holds NPM_TOKEN" in found, found
    assert "root-link" not in found and "proc-link" not in found, found
    airlock.assert_no_leftovers(cid)


# Run with `nsenter --ipc --target PID`: a SysV shared memory segment holding argv[1] and a message
# queue, both left behind (no IPC_RMID), as a setup process would park a secret.
_IPC_PARK = r'''
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
value = sys.argv[1].encode()
shm = libc.shmget(0, 4096, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
assert shm >= 0, ctypes.get_errno()
at = libc.shmat(shm, None, 0)
ctypes.memmove(at, value, len(value))
libc.shmdt(ctypes.c_void_p(at))
assert libc.msgget(0, 0o1600) >= 0, ctypes.get_errno()
print("parked", shm)
'''


def test_sysv_ipc_left_by_setup_is_removed_at_the_seal(airlock):
    """Setup parks the secret in a SysV shared memory segment and leaves a message queue: both
    outlive setup's processes in the container's IPC namespace. At the seal they are removed; the
    agent sees none (/proc/sysvipc)."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    token = "npm_" + secrets.token_hex(16)
    # Setup waits (bounded) for the test to park the objects in its IPC namespace.
    setup = "i=0; while [ ! -e /workspace/parked ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done"
    policy = airlock.policy(cid, policy_yaml(setup=setup, secrets_=["NPM_TOKEN"], timeout="60s"))
    entry = (PROBE_FN + "probe shm cat /proc/sysvipc/shm; probe msg cat /proc/sysvipc/msg; finish; exec sleep 600")
    pid = airlock.start(cid, "sh", "-c", entry, policy=policy, repo=repo, env={"NPM_TOKEN": token})
    parked = subprocess.run(["nsenter", "--ipc", "--target", str(pid), sys.executable, "-c", _IPC_PARK, token],
                            capture_output=True, text=True, timeout=30)
    assert parked.returncode == 0 and "parked" in parked.stdout, parked
    with open(os.path.join(repo, "parked"), "w"):
        pass
    probes = wait_probes(repo, ctrd=airlock.ctrd, cid=cid)
    for kind in ("shm", "msg"):
        rc, text = probes[kind]
        assert rc == 0 and len(text.strip().splitlines()) == 1, f"{kind} left for the agent: {text!r}"  # header only
    airlock.remove(cid)
    events, raw = airlock.audit(cid)
    assert token not in raw
    sweep = [e for e in events if e["event"] == "secret-sweep"][0]
    assert sweep["ipc_removed"]["shm"] == 1 and sweep["ipc_removed"]["msg"] == 1, sweep
