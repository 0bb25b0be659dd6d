"""Kill the init's children before its exit is reported (issue 14, item 3). A container without a
pid namespace of its own (the host's, or one joined by path: a pod's shared one) does not lose its
other processes when the init exits; containerd's runc shim therefore runs `runc kill --all` and
waits for it before it marks the init exited and publishes TaskExit (runtime/v2/runc/task/
service.go checkProcesses, ShouldKillAllOnExit). A client that looks right after the exit (here:
`ctr run` returning from Wait) must find no child alive, every time."""

import os

RUNS = 20


def _host_pid(pidns, inner):
    """The host pid of the process that is `inner` in the pid namespace `pidns` (a readlink
    of /proc/PID/ns/pid), or None."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != pidns:
                continue
            with open(f"/proc/{entry}/status") as f:
                nspid = [line.split()[1:] for line in f if line.startswith("NSpid:")]
        except OSError:
            continue
        if nspid and nspid[0][-1] == str(inner):
            return int(entry)
    return None


def _alive(pid):
    """True while `pid` is a live `sleep` (not gone, not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state != "Z" and cmdline.startswith(b"sleep")


def test_children_are_gone_when_the_init_exit_arrives(ctrd, runtime, new_id):
    # A pod's shared pid namespace: the pause container holds it, the others join it by path.
    pause = new_id()
    pause_pid = ctrd.start_detached(runtime, pause, "sleep", "600")
    pidns = os.readlink(f"/proc/{pause_pid}/ns/pid")
    survivors = []
    for run in range(RUNS):
        cid = new_id()
        # The child says its pid (in the shared namespace) and lives on past the init.
        r = ctrd.run(runtime, cid, "sh", "-c", "sleep 600 & echo $!",
                     extra=("--with-ns", f"pid:/proc/{pause_pid}/ns/pid"), check=True)
        inner = int(r.out.strip())
        child = _host_pid(pidns, inner)
        if child is not None and _alive(child):
            survivors.append((run, inner, child))
            os.kill(child, 9)
    ctrd.remove(pause)
    assert not survivors, f"children alive after the init's exit was reported: {survivors}"
