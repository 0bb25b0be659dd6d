"""`ctr run` scenarios: exit codes, stdio, stdin, tty, --rootfs, instantly exiting processes."""

import hashlib
import os
import random

from harness.image import extract_rootfs
from harness.ptyrun import PtySession


def test_exit_code_and_streams(ctrd, runtime, new_id):
    cid = new_id()
    r = ctrd.run(runtime, cid, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.rc == 3, r
    assert r.out == "out\n", r
    assert r.err == "err\n", r
    ctrd.assert_no_leftovers(cid)


def test_stdin_pipe(ctrd, runtime, new_id):
    cid = new_id()
    r = ctrd.run_piped(runtime, cid, "cat", data=b"hello\n")
    assert r.rc == 0, r
    assert r.stdout == b"hello\n", r
    ctrd.assert_no_leftovers(cid)


def test_stdin_large_payload_intact(ctrd, runtime, new_id):
    payload = random.Random(1234).randbytes(1 << 20)
    cid = new_id("c")
    r = ctrd.run_piped(runtime, cid, "cat", data=payload, timeout=120)
    assert r.rc == 0, r
    if "runc" in runtime and len(r.stdout) < len(payload):
        # The stock runc-v2 shim of containerd 1.6 now and then loses the tail of stdout (a pipe's
        # worth) when `cat` exits while ctr still reads, on a loaded machine (seen once in ~10
        # clean runs, with two test suites at once). The reference gets one more try; airlock none.
        ctrd.assert_no_leftovers(cid)
        print(f"runc-v2 reference: got {len(r.stdout)} of {len(payload)} bytes; tried once more")
        cid = new_id("c")
        r = ctrd.run_piped(runtime, cid, "cat", data=payload, timeout=120)
        assert r.rc == 0, r
    assert len(r.stdout) == len(payload), f"got {len(r.stdout)} of {len(payload)} bytes"
    assert r.stdout == payload
    ctrd.assert_no_leftovers(cid)

    # The bytes arrive intact inside the container too, not only on the way back.
    cid = new_id("s")
    r = ctrd.run_piped(runtime, cid, "wc", "-c", data=payload, timeout=120)
    assert r.rc == 0, r
    assert r.out.split() == [str(len(payload))], r
    ctrd.assert_no_leftovers(cid)
    cid = new_id("h")
    r = ctrd.run_piped(runtime, cid, "sha256sum", data=payload, timeout=120)
    assert r.rc == 0, r
    assert r.out.split()[0] == hashlib.sha256(payload).hexdigest(), r
    ctrd.assert_no_leftovers(cid)


def _poke_until(session, pattern, tries=60):
    """The container echoes `stty size` for every line it reads: send lines until it shows."""
    start = len(session.output)
    for _ in range(tries):
        session.write("x\n")
        try:
            return session.read_until(pattern, timeout=0.5, start=start)
        except AssertionError:
            continue
    raise AssertionError(f"{pattern!r} never appeared; pty output:\n{session.text()!r}")


def test_tty(ctrd, runtime, new_id):
    cid = new_id()
    script = 'tty; while read l; do stty size; [ "$l" = q ] && exit 7; done'
    argv = ["ctr", "--address", ctrd.sock, "-n", ctrd.namespace] + ctrd.run_args(
        runtime, cid, ["sh", "-c", script], tty=True)
    session = PtySession(argv, ctrd.env, rows=33, cols=101)
    try:
        session.read_until(r"/dev/pts/\d+")
        # ctr sets the pty size right after Start, so the very first `stty size`
        # may still see 0x0 (busybox then prints an error); poke until it shows.
        _poke_until(session, r"\b33 101\r*\n")
        session.resize(40, 120)
        _poke_until(session, r"\b40 120\r*\n")
        session.write("q\n")
        rc = session.wait(timeout=30)
    finally:
        session.close()
    assert rc == 7, session.text()
    ctrd.assert_no_leftovers(cid)


def test_rootfs_directory(ctrd, runtime, new_id, tmp_path, image_archive):
    rootfs = extract_rootfs(image_archive, str(tmp_path / "rootfs"))
    cid = new_id()
    r = ctrd.run(runtime, cid, "/bin/sh", "-c", "cat /etc/passwd; echo written > /marker; exit 4",
                 rootfs=rootfs)
    assert r.rc == 4, r
    assert r.out.startswith("root:x:0:0:"), r
    # The container ran on that very directory.
    with open(os.path.join(rootfs, "marker")) as f:
        assert f.read() == "written\n"
    ctrd.assert_no_leftovers(cid)


def test_instant_exit_keeps_status(ctrd, runtime, new_id):
    # A process that is gone before the shim looks must still report its status.
    for i in range(4):
        for cmd, want in ((["true"], 0), (["false"], 1), (["sh", "-c", "exit 13"], 13)):
            cid = new_id(str(i))
            r = ctrd.run(runtime, cid, *cmd)
            assert r.rc == want, r
            ctrd.assert_no_leftovers(cid)
