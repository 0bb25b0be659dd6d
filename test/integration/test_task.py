"""Detached tasks: exec, kill, pause/resume, ps, ls, metrics, delete, container rm."""

import json
import os
import subprocess
import threading
import time

from harness import procs, ttrpc
from harness.ptyrun import PtySession


def test_exec_exit_code_and_streams(ctrd, runtime, new_id):
    cid = new_id()
    ctrd.start_detached(runtime, cid)
    r = ctrd.exec(cid, "e1", "sh", "-c", "echo eo; echo ee >&2; exit 5")
    assert (r.rc, r.out, r.err) == (5, "eo\n", "ee\n"), r
    r = ctrd.exec(cid, "e2", "cat", input=b"to exec\n")
    assert (r.rc, r.stdout) == (0, b"to exec\n"), r
    # An exec id may be reused once its process is gone.
    r = ctrd.exec(cid, "e1", "sh", "-c", "echo again")
    assert (r.rc, r.out) == (0, "again\n"), r
    # The exec runs in the container: same rootfs, its own pid namespace.
    r = ctrd.exec(cid, "e3", "sh", "-c", "cat /etc/group; ls /proc | grep -c '^[0-9]'")
    assert r.rc == 0 and r.out.startswith("root:x:0:"), r
    assert ctrd.remove(cid) == 137


def test_exec_instant_exit_keeps_status(ctrd, runtime, new_id):
    cid = new_id()
    ctrd.start_detached(runtime, cid)
    for i in range(10):
        for cmd, want in ((["true"], 0), (["false"], 1), (["sh", "-c", "exit 9"], 9)):
            r = ctrd.exec(cid, f"x{i}-{want}", *cmd)
            assert r.rc == want, r
    assert ctrd.task_status(cid) == "RUNNING"
    ctrd.remove(cid)


def test_exec_missing_binary_fails(ctrd, runtime, new_id):
    cid = new_id()
    ctrd.start_detached(runtime, cid)
    r = ctrd.exec(cid, "nope", "/no/such/binary")
    assert r.rc != 0, r
    # The failed exec does not hurt the task; the same exec id works afterwards.
    r = ctrd.exec(cid, "nope", "true")
    assert r.rc == 0, r
    assert ctrd.task_status(cid) == "RUNNING"
    ctrd.remove(cid)


def test_exec_tty(ctrd, runtime, new_id):
    cid = new_id()
    ctrd.start_detached(runtime, cid)
    argv = ["ctr", "--address", ctrd.sock, "-n", ctrd.namespace] + ctrd.exec_args(
        cid, "tty1", ["sh", "-c", "tty; exit 5"], tty=True)
    session = PtySession(argv, ctrd.env)
    try:
        session.read_until(r"/dev/pts/\d+")
        rc = session.wait(timeout=30)
    finally:
        session.close()
    assert rc == 5, session.text()
    assert ctrd.task_status(cid) == "RUNNING"
    ctrd.remove(cid)


def test_kill_default_is_sigterm(ctrd, runtime, new_id):
    cid = new_id()
    # PID 1 of a pid namespace ignores signals it has no handler for: trap TERM.
    ctrd.start_detached(runtime, cid, "sh", "-c", 'trap "exit 42" TERM; sleep 600 & wait')
    ctrd.ctr("task", "kill", cid, check=True)
    ctrd.wait_status(cid, "STOPPED")
    r, status = ctrd.delete_task(cid)
    assert status == 42, r
    ctrd.ctr("containers", "rm", cid, check=True)
    ctrd.assert_no_leftovers(cid)


def test_kill_sigkill(ctrd, runtime, new_id):
    cid = new_id()
    init = procs.Proc(ctrd.start_detached(runtime, cid))
    ctrd.ctr("task", "kill", "-s", "KILL", cid, check=True)
    ctrd.wait_status(cid, "STOPPED")
    assert procs.wait_until(lambda: not init.alive(), 10), init
    # Signalling a finished init is NotFound ("process already finished").
    r = ctrd.ctr("task", "kill", "-s", "KILL", cid)
    assert r.rc != 0 and "not found" in r.err, r
    # A task that is still listed as STOPPED keeps its status until deleted.
    assert ctrd.task_status(cid) == "STOPPED"
    r, status = ctrd.delete_task(cid)
    assert status == 137, r
    r = ctrd.ctr("task", "delete", cid)
    assert r.rc != 0 and "not found" in r.err, r
    ctrd.ctr("containers", "rm", cid, check=True)
    ctrd.assert_no_leftovers(cid)


def test_kill_all(ctrd, runtime, new_id):
    # Default signal to every process: the children die, the init (TERM ignored as
    # PID 1 without a handler) sees `wait` return and exits 7.
    cid = new_id("t")
    ctrd.start_detached(runtime, cid, "sh", "-c", "sleep 600 & sleep 600 & wait; exit 7")
    ctrd.exec(cid, "bg", "sleep", "600", detach=True, check=True)
    members = [procs.Proc(p) for p in _wait_ps_count(ctrd, cid, 4)]
    ctrd.ctr("task", "kill", "--all", cid, check=True)
    ctrd.wait_status(cid, "STOPPED")
    assert procs.wait_until(lambda: not any(p.alive() for p in members), 10), members
    r, status = ctrd.delete_task(cid)
    assert status == 7, r
    ctrd.ctr("containers", "rm", cid, check=True)
    ctrd.assert_no_leftovers(cid)

    # SIGKILL to every process, exec processes included.
    cid = new_id("k")
    ctrd.start_detached(runtime, cid, "sh", "-c", "sleep 600 & wait")
    ctrd.exec(cid, "bg", "sleep", "600", detach=True, check=True)
    members = [procs.Proc(p) for p in _wait_ps_count(ctrd, cid, 3)]
    ctrd.ctr("task", "kill", "--all", "-s", "KILL", cid, check=True)
    ctrd.wait_status(cid, "STOPPED")
    assert procs.wait_until(lambda: not any(p.alive() for p in members), 10), members
    # --all on a stopped task is not an error for the stock shim.
    r = ctrd.ctr("task", "kill", "--all", "-s", "KILL", cid)
    assert r.rc == 0, r
    r, status = ctrd.delete_task(cid)
    assert status == 137, r
    ctrd.ctr("containers", "rm", cid, check=True)
    ctrd.assert_no_leftovers(cid)


def _ps_pids(ctrd, cid):
    r = ctrd.ctr("task", "ps", cid, check=True)
    lines = r.out.splitlines()
    assert lines and lines[0].split()[:2] == ["PID", "INFO"], r
    return [int(line.split()[0]) for line in lines[1:] if line.strip()]


def _wait_ps_count(ctrd, cid, n):
    got = procs.wait_until(lambda: len(_ps_pids(ctrd, cid)) >= n, 10, interval=0.1)
    assert got, f"ps never showed {n} processes: {_ps_pids(ctrd, cid)}"
    return _ps_pids(ctrd, cid)


def test_pause_resume(ctrd, runtime, new_id):
    cid = new_id()
    pid = ctrd.start_detached(runtime, cid)
    ctrd.ctr("task", "pause", cid, check=True)
    assert ctrd.tasks()[cid] == (pid, "PAUSED")
    assert pid in _ps_pids(ctrd, cid)
    # Exec into a frozen container is refused (it must not hang).
    r = ctrd.exec(cid, "frozen", "true", timeout=20)
    assert r.rc != 0 and r.rc != -9, r
    ctrd.ctr("task", "resume", cid, check=True)
    assert ctrd.tasks()[cid] == (pid, "RUNNING")
    r = ctrd.exec(cid, "thawed", "echo", "ok")
    assert (r.rc, r.out) == (0, "ok\n"), r
    # Pausing and resuming again works, and a paused task can be killed and deleted.
    ctrd.ctr("task", "pause", cid, check=True)
    assert ctrd.task_status(cid) == "PAUSED"
    ctrd.ctr("task", "resume", cid, check=True)
    ctrd.ctr("task", "pause", cid, check=True)
    ctrd.ctr("task", "kill", "-s", "KILL", cid, check=True)
    ctrd.ctr("task", "resume", cid)
    ctrd.wait_status(cid, "STOPPED")
    r, status = ctrd.delete_task(cid)
    assert status == 137, r
    ctrd.ctr("containers", "rm", cid, check=True)
    ctrd.assert_no_leftovers(cid)


def test_ps_ls_metrics(ctrd, runtime, new_id):
    cid = new_id()
    pid = ctrd.start_detached(runtime, cid)
    assert ctrd.tasks()[cid] == (pid, "RUNNING")
    r = ctrd.ctr("task", "ls", "-q", check=True)
    assert cid in r.out.split()
    assert _ps_pids(ctrd, cid) == [pid]
    ctrd.exec(cid, "bg", "sleep", "600", detach=True, check=True)
    pids = _wait_ps_count(ctrd, cid, 2)
    assert pid in pids and len(pids) == 2
    r = ctrd.ctr("task", "metrics", cid, check=True)
    assert cid in r.out, r
    assert "memory" in r.out and "pids" in r.out, r
    ctrd.remove(cid)


def test_delete_running_task_needs_force(ctrd, runtime, new_id):
    cid = new_id()
    pid = ctrd.start_detached(runtime, cid)
    r = ctrd.ctr("task", "delete", cid)
    assert r.rc != 0, r
    assert ctrd.tasks()[cid] == (pid, "RUNNING")
    # A container with a task cannot be removed either.
    r = ctrd.ctr("containers", "rm", cid)
    assert r.rc != 0, r
    r, status = ctrd.delete_task(cid, "-f")
    assert r.rc == 0, r
    assert status == 137, r
    ctrd.ctr("containers", "rm", cid, check=True)
    ctrd.assert_no_leftovers(cid)


def test_start_failure_leaves_nothing(ctrd, runtime, new_id):
    cid = new_id()
    r = ctrd.run(runtime, cid, "/no/such/binary")
    assert r.rc != 0, r
    assert ctrd.task_status(cid) is None
    # ctr run --rm does not remove the container when the task never started.
    ctrd.ctr("containers", "rm", cid)
    ctrd.assert_no_leftovers(cid)


def test_detached_exec_kill_and_delete(ctrd, runtime, new_id):
    cid = new_id()
    pid = ctrd.start_detached(runtime, cid)
    ctrd.exec(cid, "s1", "sleep", "600", detach=True, check=True)
    members = _wait_ps_count(ctrd, cid, 2)
    # The id of a live exec is taken.
    r = ctrd.exec(cid, "s1", "true")
    assert r.rc != 0 and "already exists" in r.err, r
    exec_proc = procs.Proc([p for p in members if p != pid][0], "exec")
    ctrd.ctr("task", "kill", "--exec-id", "s1", cid, check=True)  # SIGTERM; not PID 1
    assert procs.wait_until(lambda: not exec_proc.alive(), 10), exec_proc
    # ctr exits with the exec's status when deleting an exec (128 + SIGTERM).
    r = ctrd.ctr("task", "delete", "--exec-id", "s1", cid)
    assert r.rc == 143, r
    assert _ps_pids(ctrd, cid) == [pid]
    assert ctrd.tasks()[cid] == (pid, "RUNNING")
    # The id is free again.
    r = ctrd.exec(cid, "s1", "true")
    assert r.rc == 0, r
    ctrd.remove(cid)


def _update_request(cid, resources):
    """UpdateTaskRequest{id=1, resources=2: Any{type_url=1, value=2 (LinuxResources as JSON)}}."""
    any_ = (ttrpc.field_bytes(1, "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources")
            + ttrpc.field_bytes(2, json.dumps(resources)))
    return ttrpc.field_bytes(1, cid) + ttrpc.field_bytes(2, any_)


def test_update_resources(ctrd, runtime, new_id):
    """Task.Update (what `nerdctl update` and CRI's UpdateContainerResources send) reaches runc:
    the memory limit lands in the container's cgroup. ctr 1.6 has no update command, so the call
    goes straight to the shim's socket like containerd would send it."""
    cid = new_id()
    ctrd.start_detached(runtime, cid)
    limit = 96 << 20
    with ttrpc.Conn(ctrd.shim_address(cid)) as conn:
        resp = conn.call(ttrpc.TASK_SERVICE, "Update", _update_request(cid, {"memory": {"limit": limit}}))
        assert resp.code == ttrpc.CODE_OK, resp
    limits = []
    for d in ctrd.cgroup_dirs(cid):
        path = os.path.join(d, "memory.limit_in_bytes")
        if os.path.exists(path):
            with open(path) as f:
                limits.append(int(f.read()))
        path = os.path.join(d, "memory.max")
        if os.path.exists(path):
            with open(path) as f:
                limits.append(int(f.read()))
    assert limit in limits, limits
    ctrd.remove(cid)


def test_checkpoint_is_refused_clearly(ctrd, new_id):
    """Sandboxes are disposable: Checkpoint answers Unimplemented with a clear message and the
    task keeps running. (Airlock only: the stock shim would try criu.)"""
    runtime = "io.containerd.airlock.v2"
    cid = new_id()
    pid = ctrd.start_detached(runtime, cid)
    with ttrpc.Conn(ctrd.shim_address(cid)) as conn:
        resp = conn.call(ttrpc.TASK_SERVICE, "Checkpoint", ttrpc.field_bytes(1, cid) + ttrpc.field_bytes(2, "/tmp/x"))
    assert resp.code == ttrpc.CODE_UNIMPLEMENTED, resp
    assert "checkpoint is not supported" in resp.message, resp
    r = ctrd.ctr("task", "checkpoint", cid)
    assert r.rc != 0 and "checkpoint is not supported" in r.err, r
    assert ctrd.tasks()[cid] == (pid, "RUNNING")
    ctrd.remove(cid)


def _task_call(ctrd, cid, method, payload, timeout=60.0):
    """One containerd.task.v2.Task call straight to the task's shim over ttrpc, as containerd makes
    it (the namespace in the metadata); the decoded response fields."""
    with ttrpc.Conn(ctrd.shim_address(cid), timeout) as conn:
        resp = conn.call(ttrpc.TASK_SERVICE, method, payload,
                         metadata=[("containerd-namespace-ttrpc", ctrd.namespace)])
    assert resp.code == ttrpc.CODE_OK, f"{method}: {resp}"
    return ttrpc.decode(resp.payload)


def test_exec_terminal_comes_from_the_request(ctrd, runtime, new_id, tmp_path):
    """An exec whose request asks for a terminal while its process spec (taken from the
    container's) says none, as containerd's own client tests do (TestContainerExecLargeOutputWithTTY):
    the request decides, and large output comes back whole."""
    cid = new_id()
    ctrd.start_detached(runtime, cid)
    out_fifo = str(tmp_path / "exec-out")
    os.mkfifo(out_fifo, 0o600)
    lines = 20000
    spec = {"args": ["sh", "-c", f"tty; seq 1 {lines}"], "cwd": "/", "terminal": False,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "user": {"uid": 0, "gid": 0}}
    any_spec = (ttrpc.field_bytes(1, "types.containerd.io/opencontainers/runtime-spec/1/Process")
                + ttrpc.field_bytes(2, json.dumps(spec)))
    exec_request = (ttrpc.field_bytes(1, cid) + ttrpc.field_bytes(2, "tty-big") + ttrpc.field_varint(3, 1)
                    + ttrpc.field_bytes(5, out_fifo) + ttrpc.field_bytes(7, any_spec))
    got = bytearray()
    exited = threading.Event()
    fd = os.open(out_fifo, os.O_RDONLY | os.O_NONBLOCK)  # before the shim opens it: no one blocks

    def read_all():
        # Concurrently: a tty's output waits for its reader. b"" is EOF only once the process
        # exited (before the shim opens its end, a fifo without writers reads empty too).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                chunk = None
            if chunk:
                got.extend(chunk)
            elif chunk == b"" and exited.is_set():
                return
            else:
                time.sleep(0.01)

    reader = threading.Thread(target=read_all)
    reader.start()
    try:
        _task_call(ctrd, cid, "Exec", exec_request)
        start = ttrpc.field_bytes(1, cid) + ttrpc.field_bytes(2, "tty-big")
        _task_call(ctrd, cid, "Start", start)
        waited = _task_call(ctrd, cid, "Wait", start)
        assert ttrpc.first(waited, 1, 0) == 0, waited
    finally:
        exited.set()
        reader.join()
        os.close(fd)
    text = got.decode(errors="replace").replace("\r\n", "\n")
    assert text.startswith("/dev/pts/"), text[:200]
    numbers = text.splitlines()[1:]
    assert numbers == [str(i) for i in range(1, lines + 1)], (len(numbers), numbers[-3:])
    _task_call(ctrd, cid, "Delete", start)
    ctrd.remove(cid)


def test_runc_state_where_runc_v2_keeps_it_and_a_container_deleted_by_runc(ctrd, runtime, new_id):
    """runc's state is in containerd's runc-shim layout, /run/containerd/runc/<namespace>/<id>, for
    tools that look there; a container deleted there behind the shim's back (`runc delete
    --force`, as containerd's TestKillContainerDeletedByRunc does) makes Kill answer NotFound, and
    the task's exit is still reported (issue 14, item 2)."""
    cid = new_id()
    ctrd.start_detached(runtime, cid)
    root = ctrd.runc_state_dir()
    listed = subprocess.run(["runc", "--root", root, "list", "-q"], capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0 and cid in listed.stdout.split(), listed
    deleted = subprocess.run(["runc", "--root", root, "delete", "--force", cid], capture_output=True, text=True,
                             timeout=30)
    assert deleted.returncode == 0, deleted
    with ttrpc.Conn(ctrd.shim_address(cid), 30) as conn:
        resp = conn.call(ttrpc.TASK_SERVICE, "Kill", ttrpc.field_bytes(1, cid) + ttrpc.field_varint(3, 9),
                         metadata=[("containerd-namespace-ttrpc", ctrd.namespace)])
    assert resp.code == ttrpc.CODE_NOT_FOUND, resp
    ctrd.wait_status(cid, "STOPPED")
    ctrd.remove(cid)
