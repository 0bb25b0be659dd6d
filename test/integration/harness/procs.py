"""Process discovery through /proc: shims, their children, container members.

Nothing here signals a process by name: callers get pids (with start times, so a
recycled pid is never mistaken for the one we saw) and end exactly those.
"""

import os
import signal
import time

SHIM_BINARIES = ("containerd-shim-runc-v2", "containerd-shim-airlock-v2")


def pids():
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def stat_fields(pid):
    """(state, ppid, starttime) from /proc/PID/stat, or None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    # comm may hold spaces and parens: fields start after the last ')'.
    rest = raw[raw.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[19])


def start_time(pid):
    st = stat_fields(pid)
    return st[2] if st else None


class Proc:
    """A pid pinned to its start time."""

    def __init__(self, pid, what=""):
        self.pid = pid
        self.start = start_time(pid)
        self.what = what

    def alive(self):
        st = stat_fields(self.pid)
        return st is not None and st[2] == self.start and st[0] not in ("Z", "X")

    def __repr__(self):
        return f"{self.what or 'pid'} {self.pid}: {' '.join(cmdline(self.pid))[:200]}"


def _has_pair(argv, flag, value):
    return any(argv[i] == flag and argv[i + 1] == value for i in range(len(argv) - 1))


def is_shim_of(argv, address, cid=None):
    """True for a shim process (any action) that belongs to our containerd."""
    if not argv or not any(b in a for a in argv[:1] for b in SHIM_BINARIES):
        return False
    if not _has_pair(argv, "-address", address):
        return False
    return cid is None or _has_pair(argv, "-id", cid)


def find_shims(address, cid=None, long_lived_only=True, socket_path=None):
    """Pids of live shims started by the containerd at `address` (optionally for one task).

    With long_lived_only, the short-lived `start` and `delete` invocations are skipped;
    but a shim that daemonises by fork without exec keeps the `start` argv in its
    server, so a `start` process that holds the task's socket (socket_path) counts.
    """
    inodes = unix_socket_inodes(socket_path) if socket_path else set()
    found = []
    for pid in pids():
        argv = cmdline(pid)
        if not is_shim_of(argv, address, cid):
            continue
        st = stat_fields(pid)
        if not st or st[0] in ("Z", "X"):
            continue
        if long_lived_only and argv[-1] in ("start", "delete"):
            if not (argv[-1] == "start" and inodes and holds_socket(pid, inodes)):
                continue
        found.append(pid)
    return sorted(found)


def unix_socket_inodes(path):
    """Inodes of unix sockets bound to `path` (listening ones included), from /proc/net/unix."""
    inodes = set()
    try:
        with open("/proc/net/unix") as f:
            next(f, None)
            for line in f:
                parts = line.split()
                if len(parts) >= 8 and parts[7] == path:
                    inodes.add(parts[6])
    except OSError:
        pass
    return inodes


def holds_socket(pid, inodes):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def children_map():
    kids = {}
    for pid in pids():
        st = stat_fields(pid)
        if st:
            kids.setdefault(st[1], []).append(pid)
    return kids


def descendants(root_pids):
    kids = children_map()
    out, todo = [], list(root_pids)
    seen = set()
    while todo and len(seen) < 100000:
        p = todo.pop()
        for c in kids.get(p, []):
            if c not in seen:
                seen.add(c)
                out.append(c)
                todo.append(c)
    return out


def cgroup_paths(pid):
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return [line.rstrip("\n").split(":", 2)[2] for line in f if line.count(":") >= 2]
    except OSError:
        return []


def pids_in_cgroup(prefix_or_path, exact=True):
    """Pids whose cgroup (any hierarchy) is the given path (or lies below it)."""
    found = []
    for pid in pids():
        for path in cgroup_paths(pid):
            if path == prefix_or_path or (not exact and path.startswith(prefix_or_path + "/")):
                found.append(pid)
                break
    return found


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def thread_count(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def kill_all(procs, sig=signal.SIGKILL):
    for p in procs:
        if p.alive():
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass


def wait_gone(procs, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in procs if p.alive()]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in procs if p.alive()]


def wait_until(predicate, timeout, interval=0.05):
    """Polls predicate() until truthy or timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
