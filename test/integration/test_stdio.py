"""The container's stdio is pipes, never containerd's fifos or a host log file (issue 13, part 4).

containerd names a process' stdio as host paths (fifos under its fifo dir, `file://` log files).
A process holding such an fd sees the host path in /proc/self/fd and can reopen the host inode
through it: chmod/chown containerd's fifo, hold it open so containerd never sees EOF, read or
truncate a host log file. The stock runc-v2 shim hands the container pipes and copies; so does
airlock (splice into the fifo). Every scenario runs for both runtimes and must behave alike.
"""

import hashlib
import os
import re
import stat

from harness import procs
from harness.airlock import RUNTIME as AIRLOCK_RUNTIME, field, policy_yaml

# fds 0-2 of this shell and of PID 1, as `readlink` sees them, one "<who> <fd> <target>" a line.
# "self" is this shell ($$), not readlink: inside $(...) readlink's own fd 1 is the substitution's pipe.
_LINKS = ('for who in self 1; do p=$who; [ "$who" = self ] && p=$$; for fd in 0 1 2; do '
          'echo "links $who $fd $(readlink /proc/$p/fd/$fd 2>/dev/null || echo closed)"; done; done')


def _links(out):
    return {(m.group(1), int(m.group(2))): m.group(3) for m in re.finditer(r"^links (\S+) (\d) (.*)$", out, re.M)}


def _assert_pipes(links, ctrd, what):
    assert len(links) == 6, f"{what}: {links}"
    for (who, fd), target in links.items():
        assert target.startswith("pipe:[") or target in ("/dev/null", "closed"), \
            f"{what}: /proc/{who}/fd/{fd} -> {target}: not a pipe"
        assert ctrd.base not in target and "/run/" not in target, f"{what}: host path {target}"
    for who in ("self", "1"):
        assert links[(who, 1)].startswith("pipe:[") and links[(who, 2)].startswith("pipe:["), f"{what}: {links}"


def _host_fifos(ctrd):
    """mode and inode of every file under the harness's fifo dir (ctr's fifos live there)."""
    found = {}
    for dirpath, _, files in os.walk(ctrd.fifo_dir):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            found[path] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_ino)
    return found


def test_run_and_exec_stdio_are_pipes(ctrd, runtime, new_id):
    cid = new_id("r")
    r = ctrd.run(runtime, cid, "sh", "-c", "ls -l /proc/self/fd/; " + _LINKS)
    assert r.rc == 0, r
    _assert_pipes(_links(r.out), ctrd, "ctr run")
    assert ctrd.fifo_dir not in r.out, r.out
    ctrd.assert_no_leftovers(cid)

    cid = new_id("d")
    ctrd.start_detached(runtime, cid)
    r = ctrd.exec(cid, "fds", "sh", "-c", "ls -l /proc/self/fd/ /proc/1/fd/; " + _LINKS)
    assert r.rc == 0, r
    _assert_pipes(_links(r.out), ctrd, "ctr task exec")
    assert ctrd.fifo_dir not in r.out, r.out
    ctrd.remove(cid)


def test_reopened_stdio_reaches_no_host_fifo(ctrd, runtime, new_id):
    """Through /proc/<pid>/fd/N the container reopens what it holds: a pipe of its own reads back
    nothing of containerd's, and chmod/chown/touch land on the pipe, not on containerd's fifo."""
    cid = new_id()
    ctrd.start_detached(runtime, cid)
    before = _host_fifos(ctrd)
    assert before, "ctr made no fifos in the harness's fifo dir"
    script = ("for f in /proc/1/fd/0 /proc/1/fd/1 /proc/1/fd/2 /proc/self/fd/1 /proc/self/fd/2; do "
              "chmod 0666 $f; chown 1234:1234 $f; touch -c $f; "
              # reopen for reading: only the container's own (empty) pipe is there to read
              "echo \"read $f [$(timeout 1 cat $f </dev/null | head -c 64)]\" >&2; "
              "done 2>/dev/null; "
              "echo exec-output-intact; " + _LINKS)
    r = ctrd.exec(cid, "reopen", "sh", "-c", script)
    assert r.rc == 0, r
    assert "exec-output-intact" in r.out, r
    _assert_pipes(_links(r.out), ctrd, "exec")
    after = _host_fifos(ctrd)
    changed = {p: (before[p], after.get(p)) for p in before if after.get(p) != before[p]}
    assert not changed, f"the container changed containerd's fifos on the host: {changed}"
    # The init still writes to its stdout (its pipe still has the shim at the other end).
    r = ctrd.exec(cid, "again", "sh", "-c", "echo still > /proc/1/fd/1; echo ok")
    assert (r.rc, r.out) == (0, "ok\n"), r
    ctrd.remove(cid)


def _expected(n):
    """What `seq 0 2000000 | head -c n` prints."""
    out, i = [], 0
    size = 0
    while size < n:
        line = f"{i}\n"
        out.append(line)
        size += len(line)
        i += 1
    return "".join(out).encode()[:n]


def test_10mib_then_exit_arrives_complete(ctrd, runtime, new_id):
    size = 10 << 20
    want = hashlib.sha256(_expected(size)).hexdigest()
    cmd = ("sh", "-c", f"seq 0 2000000 | head -c {size}; echo tail-on-stderr >&2")
    cid = new_id("r")
    r = ctrd.run(runtime, cid, *cmd, timeout=120)
    assert r.rc == 0, (r.rc, r.stderr[-500:])
    assert len(r.stdout) == size, f"got {len(r.stdout)} of {size} bytes"
    assert hashlib.sha256(r.stdout).hexdigest() == want
    assert r.err == "tail-on-stderr\n", r.err
    ctrd.assert_no_leftovers(cid)

    # Exec streams too, several in a row.
    cid = new_id("e")
    ctrd.start_detached(runtime, cid)
    for i in range(3):
        r = ctrd.exec(cid, f"big{i}", *cmd, timeout=120)
        assert r.rc == 0, (r.rc, r.stderr[-500:])
        assert len(r.stdout) == size and hashlib.sha256(r.stdout).hexdigest() == want, \
            f"exec {i}: got {len(r.stdout)} of {size} bytes"
        assert r.err == "tail-on-stderr\n", r.err
    ctrd.remove(cid)


def test_log_uri_file_is_written_by_the_shim_not_the_container(ctrd, runtime, new_id, tmp_path):
    """`ctr run --log-uri file://...`: the container gets a pipe; it can neither read the host
    log file back through /proc/self/fd/1 nor truncate it."""
    log = tmp_path / "logs" / "c.log"
    log.parent.mkdir()
    log.write_text("host-line-before\n")
    cid = new_id()
    # The sleep lets "first" leave the pipe before the reopened read end could take it.
    script = ("echo first; sleep 1; "
              "timeout 1 cat /proc/self/fd/1 </dev/null > /tmp/peek 2>/dev/null; "
              "echo \"peeked $(grep -c host-line-before /tmp/peek)\"; "
              ": > /proc/self/fd/1; "  # O_TRUNC on what fd 1 names
              # runc-v2 (1.6) closes the shared log file when stdout ends: stderr copied after
              # that is lost ("error copying stderr"). The sleep keeps the reference off that race;
              # the next test holds airlock to the harder order.
              "echo last >&2; sleep 1; readlink /proc/self/fd/1")
    r = ctrd.run(runtime, cid, "sh", "-c", script, extra=("--log-uri", f"file://{log}"))
    assert r.rc == 0, r
    text = log.read_text()
    lines = text.splitlines()
    assert lines[0] == "host-line-before", f"the host log file was truncated: {text!r}"
    # runc-v2 copies stdout and stderr in two goroutines: their lines may interleave either way.
    pipes = [line for line in lines[1:] if line.startswith("pipe:[")]
    assert len(pipes) == 1, text
    assert sorted(line for line in lines[1:] if line not in pipes) == ["first", "last", "peeked 0"], text
    ctrd.assert_no_leftovers(cid)


def test_log_uri_file_keeps_stderr_written_after_stdout_ended(ctrd, new_id, tmp_path):
    """Both streams share one log file: stdout ending (closed by the process) must not close the
    file under stderr. The stock runc-v2 of containerd 1.6 loses such stderr (its stdout copier
    closes the shared file), so this runs for airlock only."""
    log = tmp_path / "c.log"
    cid = new_id()
    script = "echo out; exec 1>&-; sleep 0.5; for i in 1 2 3; do echo err$i >&2; sleep 0.2; done"
    r = ctrd.run(AIRLOCK_RUNTIME, cid, "sh", "-c", script, extra=("--log-uri", f"file://{log}"))
    assert r.rc == 0, r
    assert log.read_text().splitlines() == ["out", "err1", "err2", "err3"], log.read_text()
    ctrd.assert_no_leftovers(cid)


def test_verify_probes_the_sandbox_stdio(airlock):
    """`airlock verify`'s stdio.no-host-fifo looks at the sandbox's init and execs: held, and
    really looked (not "unreadable")."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(setup="true"))
    airlock.start(cid, "sh", "-c", "echo started; exec sleep 600", policy=policy, repo=repo)
    assert procs.wait_until(lambda: field(airlock.status(cid), "phase") == "sealed", 30), airlock.status(cid)
    airlock.ctrd.exec(cid, "bg", "sleep", "600", detach=True, check=True)
    report = airlock.verify(cid)
    probes = {p["name"]: p for p in report.get("probes", [])}
    stdio_probe = probes.get("stdio.no-host-fifo")
    assert stdio_probe and stdio_probe.get("result") == "held", report
    # The init, the detached exec and the probe itself: pipes (the probe's stdin is /dev/null).
    m = re.search(r"of (\d+) process\(es\)", stdio_probe.get("detail", ""))
    assert m and int(m.group(1)) >= 3, stdio_probe
    assert "unreadable" not in stdio_probe["detail"], stdio_probe
    airlock.remove(cid)
