"""The sandbox's limits (issue 13, part 1), io.containerd.airlock.v2 only: the policy's resources as the
container's cgroup limits (a fork bomb and an allocation loop stay inside), the execution deadline the
shim enforces, and `airlock run`'s size-limited workspace and --timeout. Each attack ends with nothing
left on the host.
"""

import os
import time

from harness.airlock import policy_yaml
from test_airlock_run import make_repo, refs, runner  # noqa: F401 (runner: the fixture)
from test_events import EventWatcher


def host_process_count():
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


def cgroup_value(ctrd, cid, controller, name):
    """`name` in the container's cgroup of `controller` (v1: /sys/fs/cgroup/<controller>/<ns>/<cid>,
    v2: /sys/fs/cgroup/<ns>/<cid>); None when neither exists."""
    for base in (os.path.join("/sys/fs/cgroup", controller), "/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        path = os.path.join(base, ctrd.namespace, cid, name)
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            continue
    return None


def test_fork_bomb_stays_inside_the_sandbox(airlock):
    """A fork bomb as the entrypoint: the host's process count stays bounded by the policy's pids."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(extra="resources:\n  pids: 64\n"))
    before = host_process_count()
    # busybox sh: each f forks two more, forever; "fork: Resource temporarily unavailable" inside.
    airlock.start(cid, "sh", "-c", "f() { f | f & }; f; sleep 600", policy=policy, repo=repo)
    assert cgroup_value(airlock.ctrd, cid, "pids", "pids.max") == "64"
    peak = 0
    for _ in range(20):  # 2 s of bombing, sampled
        peak = max(peak, host_process_count() - before)
        time.sleep(0.1)
    current = int(cgroup_value(airlock.ctrd, cid, "pids", "pids.current") or 0)
    assert current <= 64, current
    # The shim, runc's leftovers and the bomb's own ceiling, with room for the host's own churn.
    assert peak <= 64 + 40, f"the host's process count grew by {peak}"
    airlock.remove(cid)


def test_memory_hog_is_killed_inside_and_reported(airlock):
    """An allocation loop under a 32 MiB limit: the OOM killer acts in the sandbox, the shim reports the
    OOM event, the task exits 137."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(extra="resources:\n  memory: 32Mi\n"))
    watcher = EventWatcher(airlock.ctrd)
    try:
        r = airlock.run(cid, "awk", "BEGIN { s = \"x\"; while (1) s = s s }", policy=policy, repo=repo, timeout=90)
        assert r.rc == 137, r
        watcher.wait_for("/tasks/oom", timeout=10, container_id=cid)
    finally:
        watcher.close()
    airlock.assert_no_leftovers(cid)


def test_policy_execution_deadline_kills_the_container(airlock):
    """`execution.timeout`: the shim kills a container that outlives its deadline after the seal,
    audited, and `airlock status` says so while the task is still there."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    policy = airlock.policy(cid, policy_yaml(extra="execution:\n  timeout: 2s\n"))
    airlock.start(cid, "sleep", "600", policy=policy, repo=repo)
    airlock.ctrd.wait_status(cid, "STOPPED", timeout=30)
    status = airlock.status(cid)
    assert status.get("execution_deadline_passed") is True, status
    assert "execution deadline 2s" in status.get("limits", ""), status
    events, _ = airlock.audit(cid)
    assert [e for e in events if e["event"] == "execution-deadline"], events
    airlock.remove(cid)


def test_policy_explain_and_status_report_the_limits(airlock):
    text = policy_yaml(extra="resources:\n  pids: 300\n  memory: 1Gi\n  cpus: 0.5\n  workspace: 64Mi\n"
                             "execution:\n  timeout: 45m\n")
    path = airlock.policy(airlock.new_id(), text)
    r = airlock.cli("policy", "explain", path)
    assert r.returncode == 0, r
    for needle in ("at most 300 processes", "memory 1 GiB, no swap", "CPU 0.500 core(s)", "the workspace 64 MiB",
                   "deadline 45m after the seal"):
        assert needle in r.stdout, f"{needle!r} not in:\n{r.stdout}"


# --- airlock run ----------------------------------------------------------------------------------

def run_airlock(runner, repo, cid, agent, timeout=120, **kw):
    return runner.run(repo, cid, ["sh", "-c", agent], timeout=timeout, **kw)


def test_disk_filler_gets_enospc_at_the_workspace_limit(runner, tmp_path):
    """The agent writes without end into the workspace: ENOSPC inside at the policy's size, the host's
    disk untouched, the run ends normally and nothing is left."""
    cid = runner.airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    refs_before = refs(repo)
    policy = runner.policy(cid, extra="resources:\n  workspace: 8Mi\n")
    st = os.statvfs(runner.work_dir if os.path.isdir(runner.work_dir) else "/")
    free_before = st.f_bavail * st.f_frsize
    r = run_airlock(runner, repo, cid, "dd if=/dev/zero of=fill bs=1048576 count=256 2>&1 | head -n 5; "
                    "ls -l fill | awk '{print \"size\", $5}'; rm -f fill; echo done",
                    policy=policy)
    assert r.rc == 0, r
    out = "\n".join(r.output("agent"))
    assert "No space left on device" in out, r
    sizes = [int(line.split()[1]) for line in r.output("agent") if line.startswith("size ")]
    assert sizes and sizes[0] <= 8 * 1048576, sizes
    st = os.statvfs(runner.work_dir if os.path.isdir(runner.work_dir) else "/")
    assert free_before - st.f_bavail * st.f_frsize < 64 * 1048576, "the host's disk filled"
    assert "a tmpfs of 8 MiB" in r.phase("workspace")[0]["message"], r.phase("workspace")
    assert refs(repo) == refs_before
    assert r.summary["destroyed"] and r.summary["leftovers"] == [], r.summary
    runner.airlock.assert_no_leftovers(cid)


def test_hung_agent_is_ended_at_its_deadline(runner, tmp_path):
    """--timeout: an agent that never ends is stopped, the run says timeout (exit 15), no branch, and
    the check never runs; nothing is left."""
    cid = runner.airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    refs_before = refs(repo)
    started = time.monotonic()
    r = run_airlock(runner, repo, cid, "echo hanging; setsid sleep 100000 & exec sleep 100000",
                    policy=runner.policy(cid), check="echo check-ran", extra=["--timeout", "3s"])
    took = time.monotonic() - started
    assert r.rc == 15, r
    s = r.summary
    assert s["failed_phase"] == "timeout" and s["branch"] is None, s
    agent = [p for p in s["phases"] if p["name"] == "agent"][0]
    assert agent.get("note") == "timed out", s["phases"]
    assert r.output("check") == [], r
    assert [e for e in r.phase("agent") if e.get("timed_out")], r.phase("agent")
    assert refs(repo) == refs_before
    assert s["destroyed"] and s["leftovers"] == [], s
    assert took < 100, f"took {took:.0f}s"
    runner.airlock.assert_no_leftovers(cid)
    runner.airlock.assert_no_leftovers(cid + "-check")


def test_hung_check_is_ended_at_its_deadline(runner, tmp_path):
    """--timeout applies to the check too: its sandbox is stopped, exit 15, the branch (which the check
    did not vouch for) and patch are made as for a failed check."""
    cid = runner.airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    r = run_airlock(runner, repo, cid, "echo v2 > README", policy=runner.policy(cid),
                    check="echo checking; sleep 100000", extra=["--timeout", "3s"])
    assert r.rc == 15, r
    s = r.summary
    assert s["failed_phase"] == "timeout", s
    check = [p for p in s["phases"] if p["name"] == "check"][0]
    assert check.get("note") == "timed out", s["phases"]
    assert r.output("check") == ["checking"], r
    assert s["branch"] == f"airlock/{cid}" and s["patch"], s
    os.unlink(s["patch"])
    assert s["destroyed"] and s["leftovers"] == [], s
    runner.airlock.assert_no_leftovers(cid)
    runner.airlock.assert_no_leftovers(cid + "-check")
