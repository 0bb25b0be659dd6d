"""The task events a shim publishes, their order and contents (CRI depends on TaskExit)."""

import json
import subprocess
import threading
import time

from harness import procs
from harness.image import IMAGE_NAME


class EventWatcher:
    """`ctr events` in the background; keeps (topic, payload) of our namespace."""

    def __init__(self, ctrd):
        self.ctrd = ctrd
        self.events = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(["ctr", "--address", ctrd.sock, "events"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=ctrd.env)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        # The subscription is live once a marker event comes through; events published
        # before ctr subscribed are lost, so try again with a fresh marker.
        for attempt in range(15):
            marker = f"evw-{id(self):x}-{attempt}"
            ctrd.ctr("containers", "create", IMAGE_NAME, marker, check=True)
            ok = procs.wait_until(lambda: self.find("/containers/create", id=marker), 2)
            ctrd.ctr("containers", "rm", marker, check=True)
            if ok:
                return
        self.close()
        raise AssertionError("ctr events never delivered a marker event")

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            # "<date> <time> <zone> UTC <namespace> <topic> <json>"
            parts = line.split(" ", 6)
            if len(parts) < 7 or parts[4] != self.ctrd.namespace:
                continue
            try:
                payload = json.loads(parts[6])
            except ValueError:
                payload = {"raw": parts[6]}
            with self.lock:
                self.events.append((parts[5], payload))

    def find(self, topic, **match):
        with self.lock:
            return [p for t, p in self.events
                    if t == topic and all(p.get(k) == v for k, v in match.items())]

    def for_container(self, cid):
        with self.lock:
            return [(t, p) for t, p in self.events
                    if t.startswith("/tasks/") and p.get("container_id") == cid]

    def wait_for(self, topic, timeout=10, **match):
        assert procs.wait_until(lambda: self.find(topic, **match), timeout), (
            f"no {topic} {match}; seen: {self.events}")
        return self.find(topic, **match)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.thread.join(5)


def test_lifecycle_event_order(ctrd, runtime, new_id):
    watcher = EventWatcher(ctrd)
    try:
        cid = new_id()
        pid = ctrd.start_detached(runtime, cid)
        r = ctrd.exec(cid, "ex1", "sh", "-c", "exit 5")
        assert r.rc == 5, r
        watcher.wait_for("/tasks/exit", container_id=cid, id="ex1")
        ctrd.ctr("task", "pause", cid, check=True)
        ctrd.ctr("task", "resume", cid, check=True)
        watcher.wait_for("/tasks/resumed", container_id=cid)
        exit_status = ctrd.remove(cid)
        assert exit_status == 137
        watcher.wait_for("/tasks/delete", container_id=cid)
        time.sleep(0.2)  # let late duplicates show up, if any (nothing asserts on time)
        events = watcher.for_container(cid)
    finally:
        watcher.close()

    topics = [t for t, _ in events]
    assert topics == ["/tasks/create", "/tasks/start",
                      "/tasks/exec-added", "/tasks/exec-started", "/tasks/exit",
                      "/tasks/paused", "/tasks/resumed",
                      "/tasks/exit", "/tasks/delete"], events
    by = dict(zip(range(len(events)), events))
    assert by[0][1]["pid"] == pid and by[0][1]["bundle"] == ctrd.bundle_dir(cid)
    assert by[1][1]["pid"] == pid
    assert by[2][1]["exec_id"] == "ex1"
    exec_pid = by[3][1]["pid"]
    assert by[3][1]["exec_id"] == "ex1" and exec_pid > 0 and exec_pid != pid
    assert by[4][1]["id"] == "ex1" and by[4][1]["pid"] == exec_pid
    assert by[4][1].get("exit_status", 0) == 5
    assert by[7][1]["id"] == cid and by[7][1]["pid"] == pid
    assert by[7][1].get("exit_status", 0) == 137
    assert by[8][1]["pid"] == pid and by[8][1].get("exit_status", 0) == 137
    # The delete event repeats the exit time of the exit event.
    assert by[8][1]["exited_at"] == by[7][1]["exited_at"]


def test_exec_exits_are_published_before_init_exit(ctrd, runtime, new_id):
    watcher = EventWatcher(ctrd)
    try:
        cid = new_id()
        pid = ctrd.start_detached(runtime, cid)
        for i in range(3):
            ctrd.exec(cid, f"bg{i}", "sleep", "600", detach=True, check=True)
        for i in range(3):
            watcher.wait_for("/tasks/exec-started", container_id=cid, exec_id=f"bg{i}")
        ctrd.ctr("task", "kill", "--all", "-s", "KILL", cid, check=True)
        watcher.wait_for("/tasks/exit", container_id=cid, id=cid)
        for i in range(3):
            watcher.wait_for("/tasks/exit", container_id=cid, id=f"bg{i}")
        ctrd.remove(cid)
        events = watcher.for_container(cid)
    finally:
        watcher.close()
    exits = [p for t, p in events if t == "/tasks/exit"]
    assert [p["id"] for p in exits][-1] == cid, exits
    assert sorted(p["id"] for p in exits[:-1]) == ["bg0", "bg1", "bg2"], exits
    assert all(p.get("exit_status", 0) == 137 for p in exits), exits
    assert exits[-1]["pid"] == pid


def test_no_exit_event_when_start_fails(ctrd, runtime, new_id):
    watcher = EventWatcher(ctrd)
    try:
        cid = new_id()
        r = ctrd.run(runtime, cid, "/no/such/binary")
        assert r.rc != 0, r
        ctrd.ctr("containers", "rm", cid)
        ctrd.assert_no_leftovers(cid)
        # An exec that fails to start gets no exit event either.
        cid2 = new_id("x")
        ctrd.start_detached(runtime, cid2)
        assert ctrd.exec(cid2, "bad", "/no/such/binary").rc != 0
        assert ctrd.exec(cid2, "good", "true").rc == 0
        watcher.wait_for("/tasks/exit", container_id=cid2, id="good")
        ctrd.remove(cid2)
        events = watcher.for_container(cid) + watcher.for_container(cid2)
    finally:
        watcher.close()
    assert not [p for t, p in events if t == "/tasks/exit" and p.get("id") in (cid, "bad")], events
    assert not [p for t, p in events if t == "/tasks/start" and p.get("container_id") == cid], events
