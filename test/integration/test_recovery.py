"""containerd restarts under a running task; a shim dies under a running task."""

import os
import signal

from harness import procs


def test_containerd_restart_keeps_task(ctrd, runtime, new_id):
    cid = new_id()
    pid = ctrd.start_detached(runtime, cid)
    shim = procs.Proc(ctrd.shim_pid(cid), "shim")
    ctrd.restart()
    # containerd reconnects to the live shim through the bundle's address file.
    assert ctrd.tasks()[cid] == (pid, "RUNNING")
    assert shim.alive() and ctrd.shim_pid(cid) == shim.pid
    r = ctrd.exec(cid, "after-restart", "sh", "-c", "echo alive; exit 3")
    assert (r.rc, r.out) == (3, "alive\n"), r
    r = ctrd.ctr("task", "ps", cid, check=True)
    assert str(pid) in r.out.split(), r
    assert ctrd.remove(cid) == 137
    assert not shim.alive()


def test_task_exits_while_containerd_is_down(ctrd, runtime, new_id):
    # The shim must keep the exit status until containerd is back and asks for it.
    cid = new_id()
    init = procs.Proc(ctrd.start_detached(runtime, cid), "init")
    ctrd.stop()
    try:
        os.kill(init.pid, signal.SIGKILL)
        assert procs.wait_until(lambda: not init.alive(), 10)
    finally:
        ctrd.start()
    ctrd.wait_status(cid, "STOPPED")
    r, status = ctrd.delete_task(cid)
    assert status == 137, r
    ctrd.ctr("containers", "rm", cid, check=True)
    ctrd.assert_no_leftovers(cid)


def test_shim_killed_leaves_nothing_after_delete(ctrd, runtime, new_id):
    cid = new_id()
    init = procs.Proc(ctrd.start_detached(runtime, cid), "init")
    shim = procs.Proc(ctrd.shim_pid(cid), "shim")
    os.kill(shim.pid, signal.SIGKILL)
    assert procs.wait_until(lambda: not shim.alive(), 10)
    # containerd notices the dead shim, runs `<shim> delete` and the container's init
    # goes too (runc delete --force).
    assert procs.wait_until(lambda: not init.alive(), 30), init
    # A SIGKILLed shim cannot remove its socket file; the stock cleanup does not either.
    ctrd.accept_stale_socket(cid)
    _remove_after_dead_shim_cleanup(ctrd, cid)


def _remove_after_dead_shim_cleanup(ctrd, cid):
    """containerd's dead-shim cleanup has already removed the task: delete reports NotFound.
    Either way nothing may stay behind."""
    r = ctrd.ctr("task", "delete", "-f", cid)
    assert r.rc == 0 or "not found" in r.err, r
    assert ctrd.task_status(cid) is None
    ctrd.ctr("containers", "rm", cid, check=True)
    ctrd.assert_no_leftovers(cid)


def test_orphaned_shim_ends_on_sigterm_and_leaves_the_container_to_containerd(ctrd, runtime, new_id):
    """containerd stops; its orphaned shim gets SIGTERM (containerd's test harness, an operator's
    cleanup). As runc-v2: the shim exits within seconds and removes its socket, the container
    keeps running (a shim does not kill what containerd may still want), and containerd, back,
    finds the shim gone, runs `<shim> delete`, and nothing is left (issue 14, item 5). SIGUSR1
    (runc-v2 dumps its stacks) must not end a shim."""
    cid = new_id()
    init = procs.Proc(ctrd.start_detached(runtime, cid), "init")
    shim = procs.Proc(ctrd.shim_pid(cid), "shim")
    socket_path = ctrd.shim_address(cid).split("://", 1)[-1]
    os.kill(shim.pid, signal.SIGUSR1)
    r = ctrd.exec(cid, "after-usr1", "sh", "-c", "echo alive")
    assert (r.rc, r.out) == (0, "alive\n"), r
    assert shim.alive()
    ctrd.stop()
    try:
        os.kill(shim.pid, signal.SIGTERM)
        assert procs.wait_until(lambda: not shim.alive(), 10), "the orphaned shim ignored SIGTERM"
        assert init.alive(), "the shim killed its container on the way out"
        assert not os.path.exists(socket_path), "the shim left its socket"
    finally:
        ctrd.start()
    assert procs.wait_until(lambda: not init.alive(), 30), init
    _remove_after_dead_shim_cleanup(ctrd, cid)
