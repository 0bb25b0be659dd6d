"""After the seal: the root filesystem is read-only, only the workspace (the repository, shared
with the host) and the policy's tmpfs are writable, nothing of the host outside the repository
is reachable, and the secrets given to setup are gone (io.containerd.airlock.v2 only)."""

import hashlib
import os
import secrets

from harness.airlock import PROBE_FN, policy_yaml, read_probes, wait_probes

MARKER_PREFIX = "airlock-it-marker-"

# Every regular file of the container but the kernel's pseudo filesystems.
FIND_FILES = r"find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -type f -print"


def _grep_files(*needles):
    """A script listing the container's files that hold any needle. The needles are split in
    two shell variables, so the script itself (the entrypoint's command line) does not hold them."""
    assigns, args = [], []
    for i, needle in enumerate(needles):
        half = len(needle) // 2
        assigns.append(f"a{i}={needle[:half]}; b{i}={needle[half:]}")
        args.append(f'-e "$a{i}$b{i}"')
    return f"{'; '.join(assigns)}; {FIND_FILES} | xargs grep -l {' '.join(args)} 2>/dev/null; true"


def test_rootfs_readonly_workspace_writable_host_unreachable(airlock):
    cid = airlock.new_id()
    repo = airlock.repo(cid, {"README": "the repository\n"})
    # A marker next to the repository on the host, and one further away: neither may show.
    token = secrets.token_hex(8)
    beside = os.path.join(airlock.ctrd.repos_root, f"{MARKER_PREFIX}{token}-beside")
    with open(beside, "w") as f:
        f.write(token)
    airlock.paths.append(beside)
    far = airlock.outside_dir("far")
    with open(os.path.join(far, f"{MARKER_PREFIX}{token}-far"), "w") as f:
        f.write(token)

    policy = airlock.policy(cid, policy_yaml(setup="true", tmpfs={"/tmp": "8Mi"}))
    entry = (PROBE_FN
             + "probe write_root touch /airlock-it-root; "
             + "probe write_etc sh -c 'echo x >> /etc/passwd'; "
             + "probe write_bin touch /bin/airlock-it; "
             + "probe readme cat /workspace/README; "
             + "probe write_ws sh -c 'echo from-agent > /workspace/agent-wrote'; "
             + "probe write_tmp sh -c 'echo t > /tmp/t && cat /tmp/t'; "
             + f"probe find_marker sh -c '{FIND_FILES} | grep {MARKER_PREFIX}; true'; "
             + f"probe grep_token sh -c '{_grep_files(token)}'; "
             + f"probe repo_path ls -d {repo}; "
             + f"probe repos_root ls {airlock.ctrd.repos_root}; "
             + "probe mounts cat /proc/self/mountinfo; "
             + "finish")
    r = airlock.run(cid, "sh", "-c", entry, policy=policy, repo=repo)
    assert r.rc == 0, r
    probes = read_probes(repo)

    for name in ("write_root", "write_etc", "write_bin"):
        rc, out = probes[name]
        assert rc != 0 and "Read-only file system" in out, f"{name}: {probes[name]}"
    assert probes["readme"] == (0, "the repository\n"), probes["readme"]
    assert probes["write_ws"][0] == 0, probes["write_ws"]
    with open(os.path.join(repo, "agent-wrote")) as f:
        assert f.read() == "from-agent\n", "the workspace write shows on the host"
    assert probes["write_tmp"] == (0, "t\n"), probes["write_tmp"]

    assert probes["find_marker"][1].strip() == "", probes["find_marker"]
    assert probes["grep_token"][1].strip() == "", probes["grep_token"]
    assert probes["repo_path"][0] != 0, probes["repo_path"]
    assert probes["repos_root"][0] != 0, probes["repos_root"]
    # Writable mounts: the workspace and /tmp (plus ctr's default /run tmpfs and the kernel's
    # own under /proc and /dev).
    writable = _writable_mount_points(probes["mounts"][1])
    assert "/" not in writable, writable
    assert {"/workspace", "/tmp"} <= writable, writable
    unexpected = {p for p in writable - {"/workspace", "/tmp", "/run", "/proc", "/dev"}
                  if not p.startswith(("/proc/", "/dev/"))}
    assert not unexpected, f"writable mounts beyond the workspace and tmpfs: {unexpected}"
    airlock.assert_no_leftovers(cid)


def _writable_mount_points(mountinfo):
    points = set()
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 5 and "rw" in fields[5].split(","):
            points.add(fields[4])
    return points


def test_rootfs_writable_setup_installs_then_it_is_read_only(airlock):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    install = ("set -e; mkdir -p /usr/local/bin; "
               "printf '#!/bin/sh\\necho tool-ok\\n' > /usr/local/bin/it-tool; "
               "chmod 755 /usr/local/bin/it-tool; echo installed > /workspace/setup-done")
    policy = airlock.policy(cid, policy_yaml(setup=install, rootfs_setup="writable"))
    entry = (PROBE_FN
             + "probe run_tool /usr/local/bin/it-tool; "
             + "probe append_tool sh -c 'echo x >> /usr/local/bin/it-tool'; "
             + "probe rm_tool rm -f /usr/local/bin/it-tool; "
             + "probe new_file touch /usr/local/bin/another; "
             + "probe chmod_tool chmod 777 /usr/local/bin/it-tool; "
             + "finish; exec sleep 600")
    airlock.start(cid, "sh", "-c", entry, policy=policy, repo=repo)
    probes = wait_probes(repo, ctrd=airlock.ctrd, cid=cid)
    assert probes["run_tool"] == (0, "tool-ok\n"), probes["run_tool"]
    for name in ("append_tool", "rm_tool", "new_file", "chmod_tool"):
        rc, out = probes[name]
        assert rc != 0 and "Read-only file system" in out, f"{name}: {probes[name]}"
    # The same from an exec, which also still finds the installed tool.
    r = airlock.ctrd.exec(cid, "tool", "/usr/local/bin/it-tool")
    assert r.rc == 0 and r.out == "tool-ok\n", r
    # sh reports a failed redirection on its own stderr (2>&1 comes too late for it).
    r = airlock.ctrd.exec(cid, "write", "sh", "-c", "echo x >> /usr/local/bin/it-tool")
    assert r.rc != 0 and "Read-only file system" in r.err, r
    airlock.remove(cid)


def test_setup_cannot_replace_the_helper_and_its_payload_stays_out(airlock):
    """Setup runs as root with a writable rootfs, yet the helper at /.airlock (what every exec after
    the seal runs through) cannot be moved, removed, overwritten or shadowed: it is a read-only mount
    point of its own. Its config and seccomp program come through an fd, so no file of it exists in
    the container, and neither that fd nor the shim's channel reaches the entrypoint."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    attempts = ["mv /.airlock /.airlock-moved", "rm -f /.airlock", "cp /bin/busybox /.airlock",
                "echo evil > /.airlock", "ln -sf /bin/busybox /.airlock", "mount --bind /bin/busybox /.airlock",
                "mkdir /.airlock/x"]
    setup = "; ".join(f"if sh -c '{a}' 2>/dev/null; then echo 'ok: {a}'; else echo 'refused: {a}'; fi "
                      ">> /workspace/tamper" for a in attempts)
    policy = airlock.policy(cid, policy_yaml(setup=setup, rootfs_setup="writable"))
    entry = (PROBE_FN
             + "probe helper_mount sh -c 'grep \" /.airlock \" /proc/self/mountinfo'; "
             + "probe own_fds sh -c 'ls -l /proc/1/fd | grep -c -e memfd -e socket; true'; "
             + "probe seccomp grep Seccomp: /proc/self/status; "
             + "finish; exec sleep 600")
    airlock.start(cid, "sh", "-c", entry, policy=policy, repo=repo)
    probes = wait_probes(repo, ctrd=airlock.ctrd, cid=cid)
    with open(os.path.join(repo, "tamper")) as f:
        results = f.read().splitlines()
    assert results == [f"refused: {a}" for a in attempts], results
    rc, mount = probes["helper_mount"]
    assert rc == 0 and len(mount.splitlines()) == 1 and " ro," in f" {mount.split()[5]},", mount
    assert probes["own_fds"][1].strip() == "0", probes["own_fds"]  # PID 1: the entrypoint
    assert probes["seccomp"][1].split()[-1] == "2", probes["seccomp"]
    # An exec after the seal goes through the helper, which gets its payload and filters.
    r = airlock.ctrd.exec(cid, "fds", "sh", "-c", "ls /proc/self/fd; grep Seccomp: /proc/self/status")
    assert r.rc == 0 and "Seccomp:\t2" in r.out, r
    assert r.out.split()[:4] == ["0", "1", "2", "3"] and "4" not in r.out.split()[:5], r
    airlock.remove(cid)


def test_rootfs_readonly_setup_cannot_install(airlock):
    """With `rootfs.setup: readonly` the same install fails, and so does setup."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    install = ("mkdir -p /usr/local/bin && echo x > /usr/local/bin/it-tool "
               "|| { echo install-failed > /workspace/setup-failed; exit 3; }")
    policy = airlock.policy(cid, policy_yaml(setup=install, rootfs_setup="readonly"))
    r = airlock.run(cid, "sh", "-c", "touch /workspace/entrypoint-ran", policy=policy, repo=repo)
    assert r.rc == 3, r
    assert os.path.exists(os.path.join(repo, "setup-failed"))
    assert not os.path.exists(os.path.join(repo, "entrypoint-ran"))
    airlock.assert_no_leftovers(cid)


def test_secrets_reach_setup_only(airlock):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    token = "npm_" + secrets.token_hex(16)
    other = "gh_" + secrets.token_hex(16)
    setup = ('[ -n "$NPM_TOKEN" ] && [ -n "$GITHUB_TOKEN" ] || exit 41; '
             'printf %s "$NPM_TOKEN" | sha256sum | cut -d" " -f1 > /workspace/setup-npm.sha; '
             'echo "$PLAIN_SETTING" > /workspace/setup-plain')
    policy = airlock.policy(cid, policy_yaml(setup=setup, secrets_=["NPM_TOKEN", "GITHUB_TOKEN"]))
    entry = (PROBE_FN
             + "probe env env; "
             + "probe environ1 sh -c \"tr '\\\\0' '\\\\n' < /proc/1/environ\"; "
             + "probe environ_all sh -c \"cat /proc/[0-9]*/environ | tr '\\\\0' '\\\\n'\"; "
             + f"probe grep_files sh -c '{_grep_files(token, other)}'; "
             + "finish; exec sleep 600")
    env = {"NPM_TOKEN": token, "GITHUB_TOKEN": other, "PLAIN_SETTING": "plain-value"}
    airlock.start(cid, "sh", "-c", entry, policy=policy, repo=repo, env=env)
    probes = wait_probes(repo, ctrd=airlock.ctrd, cid=cid)

    # Setup had them (it wrote the hash, not the value).
    with open(os.path.join(repo, "setup-npm.sha")) as f:
        assert f.read().strip() == hashlib.sha256(token.encode()).hexdigest()
    with open(os.path.join(repo, "setup-plain")) as f:
        assert f.read() == "plain-value\n"

    # The entrypoint keeps the ordinary environment (so absence below means something) ...
    assert "PLAIN_SETTING=plain-value" in probes["env"][1].splitlines(), probes["env"]
    assert probes["environ1"][0] == 0 and "PLAIN_SETTING=plain-value" in probes["environ1"][1], \
        probes["environ1"]
    # ... but neither the names nor the values of the secrets, anywhere it can look.
    for name in ("env", "environ1", "environ_all"):
        text = probes[name][1]
        assert "NPM_TOKEN" not in text and "GITHUB_TOKEN" not in text, f"{name}: {text!r}"
        assert token not in text and other not in text, f"{name}: {text!r}"
    assert probes["grep_files"][1].strip() == "", f"secret values readable in: {probes['grep_files']}"

    # A later exec: no secrets in its own environment nor in PID 1's.
    r = airlock.ctrd.exec(cid, "env", "sh", "-c", "env; tr '\\0' '\\n' < /proc/1/environ")
    assert r.rc == 0 and "PLAIN_SETTING=plain-value" in r.out, r
    assert token not in r.out and other not in r.out and "NPM_TOKEN" not in r.out, r

    airlock.remove(cid)
    _, raw = airlock.audit(cid)
    assert token not in raw and other not in raw, "secret values in the audit log"
