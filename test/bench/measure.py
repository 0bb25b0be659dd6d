"""Numbers from samples and from /proc: percentiles, shim memory (smaps_rollup), timers."""

import math
import os
import time


def percentile(samples, p):
    """The p-th percentile (0..100) by linear interpolation between closest ranks."""
    if not samples:
        return None
    s = sorted(samples)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(samples):
    """{n, median, p99, min, max, mean} of a list of numbers (None fields when empty)."""
    if not samples:
        return {"n": 0, "median": None, "p99": None, "min": None, "max": None, "mean": None}
    return {"n": len(samples), "median": percentile(samples, 50), "p99": percentile(samples, 99),
            "min": min(samples), "max": max(samples), "mean": sum(samples) / len(samples)}


def smaps_rollup(pid):
    """{field: kB} from /proc/PID/smaps_rollup (Rss, Pss, Private_Dirty, ...), or None when gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = {}
    for line in lines[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            out[parts[0][:-1]] = int(parts[1])
    return out


def threads(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def shim_memory(pids):
    """Memory of a set of shim processes, summed: {processes, pss_kib, private_dirty_kib, rss_kib,
    anonymous_kib, threads}. Processes that vanished while read are left out."""
    total = {"processes": 0, "pss_kib": 0, "private_dirty_kib": 0, "rss_kib": 0, "anonymous_kib": 0,
             "threads": 0}
    for pid in pids:
        m = smaps_rollup(pid)
        if m is None:
            continue
        total["processes"] += 1
        total["pss_kib"] += m.get("Pss", 0)
        total["private_dirty_kib"] += m.get("Private_Dirty", 0)
        total["rss_kib"] += m.get("Rss", 0)
        total["anonymous_kib"] += m.get("Anonymous", 0)
        total["threads"] += threads(pid)
    return total


def per_sandbox(total, sandboxes):
    """A shim_memory() total divided by the number of sandboxes it serves."""
    if not sandboxes:
        return {}
    return {key: value / sandboxes for key, value in total.items()}


class CpuAccount:
    """CPU time spent by containerd and everything it starts that stays in its cgroup: the shims,
    their runc calls, and runc's init until it joins the container's cgroup (the container's own
    processes are elsewhere). A cpuacct cgroup (v1) or a cgroup v2 directory of the bench's own,
    removed at close(). Less at the mercy of other load on the machine than wall time."""

    def __init__(self, tag):
        self.path = None
        self.usage_file = None
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            base, usage = "/sys/fs/cgroup", "cpu.stat"  # cgroup v2
        elif os.path.exists("/sys/fs/cgroup/cpuacct/cpuacct.usage"):
            base, usage = "/sys/fs/cgroup/cpuacct", "cpuacct.usage"
        else:
            return
        path = os.path.join(base, f"airlock-bench-{tag}")
        try:
            os.mkdir(path)
        except OSError:
            return
        if not os.path.exists(os.path.join(path, usage)):
            os.rmdir(path)
            return
        self.path, self.usage_file = path, os.path.join(path, usage)

    def adopt(self, pid):
        if self.path is None:
            return False
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        return True

    def usage_ms(self):
        """CPU time so far in ms, or None without a cgroup."""
        if self.usage_file is None:
            return None
        with open(self.usage_file) as f:
            text = f.read()
        if self.usage_file.endswith("cpuacct.usage"):
            return int(text) / 1e6
        for line in text.splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e3
        return None

    def close(self):
        """Removes the cgroup (once everything in it is gone). Returns a problem or None."""
        if self.path is None:
            return None
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return None
            except OSError as e:
                err = e
                time.sleep(0.1)
        return f"cgroup {self.path}: {err}"


class Deadline:
    """The bench's overall time budget: phases ask whether they may start one more round."""

    def __init__(self, seconds):
        self.start = time.monotonic()
        self.end = self.start + seconds

    def left(self):
        return self.end - time.monotonic()

    def allows(self, seconds_needed):
        return self.left() >= seconds_needed

    def elapsed(self):
        return time.monotonic() - self.start


def rtnl_probe_us():
    """Microseconds for one RTM_GETLINK of lo in this process's netns: a request that takes the
    kernel's rtnl lock, so it is slow while the kernel still tears down the last round's netns."""
    import socket
    import struct
    RTM_GETLINK, NLM_F_REQUEST, NLMSG_ERROR = 18, 1, 2
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as s:
        s.bind((0, 0))
        s.settimeout(5)
        ifinfo = struct.pack("=BxHiII", 0, 0, 1, 0, 0)  # AF_UNSPEC, index 1
        msg = struct.pack("=LHHLL", 16 + len(ifinfo), RTM_GETLINK, NLM_F_REQUEST, 1, 0) + ifinfo
        t0 = time.perf_counter()
        s.send(msg)
        s.recv(65536)
        return (time.perf_counter() - t0) * 1e6


def wait_kernel_quiet(timeout=10.0, quiet_us=1000.0, in_a_row=5):
    """Waits (bounded) until `in_a_row` rtnl probes, 20 ms apart, each answer within quiet_us: the
    netns of the last round are destroyed in the background for a while after they are deleted,
    holding rtnl, and a round started meanwhile pays for the one before. Returns seconds waited."""
    t0 = time.monotonic()
    good = 0
    while good < in_a_row and time.monotonic() - t0 < timeout:
        good = good + 1 if rtnl_probe_us() < quiet_us else 0
        time.sleep(0.02)
    return time.monotonic() - t0

