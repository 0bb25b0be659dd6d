"""Many exec cycles must not grow the shim's file descriptors or threads."""

from harness import procs

CYCLES = 200
WARMUP = 20
# Small jitter is fine (a Go shim may add a runtime thread); a leak per exec is not.
FD_SLACK = 2
THREAD_SLACK = 3


def _fds(pid):
    return procs.fd_count(pid), procs.thread_count(pid)


def test_exec_cycles_keep_shim_flat(ctrd, runtime, new_id):
    cid = new_id()
    ctrd.start_detached(runtime, cid)
    shim = ctrd.shim_pid(cid)
    seen = {}
    for i in range(1, CYCLES + 1):
        r = ctrd.exec(cid, f"c{i}", "true")
        assert r.rc == 0, r
        if i in (WARMUP, CYCLES // 2, CYCLES):
            seen[i] = _fds(shim)
    fds_warm, threads_warm = seen[WARMUP]
    fds_end, threads_end = seen[CYCLES]
    assert fds_end <= fds_warm + FD_SLACK, f"shim fds grew: {seen}"
    assert threads_end <= threads_warm + THREAD_SLACK, f"shim threads grew: {seen}"
    # Failing execs (no such binary) are cleaned up as well.
    for i in range(1, 21):
        assert ctrd.exec(cid, f"bad{i}", "/no/such/binary").rc != 0
    fds_bad, threads_bad = _fds(shim)
    assert fds_bad <= fds_warm + FD_SLACK, f"shim fds grew after failed execs: {fds_bad} vs {seen}"
    assert threads_bad <= threads_warm + THREAD_SLACK, f"threads: {threads_bad} vs {seen}"
    assert ctrd.task_status(cid) == "RUNNING"
    ctrd.remove(cid)
