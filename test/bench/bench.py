#!/usr/bin/python3
"""`make bench`: containerd-shim-airlock-v2 side by side with containerd-shim-runc-v2.

One private containerd (test/integration/harness) serves three variants, always interleaved
(A B C A B C ...) so that drift of the machine falls on all of them alike:
  runc-v2              io.containerd.runc.v2 (Debian's stock shim)
  airlock-passthrough  io.containerd.airlock.v2, policy `mode: passthrough` (no airlock)
  airlock-full         io.containerd.airlock.v2, full policy: own netns with an uplink into a
                       bench-made upstream netns, setup command, seal (netns emptied and verified,
                       rootfs remounted read-only), execution seccomp filter, workspace
Rows: lifecycle of /bin/true (`ctr run --rm`), exec latency into a running task, shim memory
per sandbox (PSS, Private_Dirty) with 1 and with N alive, N sandboxes started at once (wall
time, all succeed, nothing left), seal latency trigger-to-verified (audit log); the agent's
proxy against a direct connection; `airlock run` to sealed and verified with the setup cache
cold (miss) and warm (hit).

Bounded: every ctr call has a timeout and the phases stop early when the budget (--budget)
runs out. Cleans up after itself: containers by ctr, then whatever the private containerd
started (processes by pid, mounts, cgroups), the upstream netns and its server.
Writes results.md, results.json and results.png to --out. As root only.
"""

import argparse
import datetime
import hashlib
import io
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import tarfile
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "test", "integration"))
sys.path.insert(0, HERE)

from harness import mounts, procs  # noqa: E402
from harness.airlock import RUNTIME as AIRLOCK_RUNTIME, host_links, policy_yaml, veth_name  # noqa: E402
from harness.containerd import CRI_NAMESPACE, Containerd  # noqa: E402
from harness.image import IMAGE_NAME  # noqa: E402
from harness.cri import Cri, CriError  # noqa: E402
from harness.upstream import Upstream, ip  # noqa: E402

import measure  # noqa: E402
import report  # noqa: E402

RUNC_RUNTIME = "io.containerd.runc.v2"
AIRLOCK_RUN_DIR = os.environ.get("AIRLOCK_RUN_DIR", "/run/airlock")
BASELINE = "runc-v2"


def log(*parts):
    print("bench:", *parts, flush=True)


# The seal's steps as the audit log times them (<step>_us), in order.
SEAL_STEPS = {
    "queued": "trigger to the seal's start (shim thread pool)",
    "leftovers": "setup leftovers killed",
    "network": "uplink deleted, netns verified (from the deletion's start: overlaps the kill)",
    "sweep": "secrets searched for where setup wrote, unnamed tmpfs emptied",
    "rootfs": "rootfs remounted read-only",
}

# The sweep phase's setup: 10,000 files of ~60 bytes, half in the rootfs (its upper layer), half in
# the policy's /tmp, with a secret in the environment so every one is read (none holds it).
SWEEP_FILES = 10_000
SWEEP_SETUP = ("mkdir -p /opt/deps && i=0; while [ $i -lt 5000 ]; do "
               "echo \"module $i: nothing secret in here, only some bytes\" > /opt/deps/m$i.js; "
               "echo \"cache $i: nothing secret in here, only some bytes\" > /tmp/c$i; i=$((i+1)); done")


class Variant:
    def __init__(self, name, runtime, extra=(), sealed=False):
        self.name, self.runtime, self.extra, self.sealed = name, runtime, list(extra), sealed


class Bench:
    def __init__(self, args):
        self.args = args
        self.deadline = measure.Deadline(args.budget)
        self.ctrd = None
        self.upstream = None
        self.variants = {}
        self.cids = []  # every container id the bench made (leftover checks)
        self.samples = {}  # row key -> variant -> [values]
        self.checks = {}
        self.failures = []
        self.cpu = None

    # --- setup and teardown ------------------------------------------------------

    def start(self):
        stale = Containerd.reap_stale() + Upstream.reap_stale()
        if stale:
            log("cleaned up after crashed sessions:", stale)
        self.ctrd = Containerd(bin_dir=os.path.join(self.args.build, "bin"), log_level="info")
        compare = self.compare_binaries()
        self.ctrd.start()
        self.cpu = measure.CpuAccount(os.path.basename(self.ctrd.base))
        if not self.cpu.adopt(self.ctrd.proc.pid):
            log("no cgroup for CPU accounting: CPU rows stay empty")
        self.ctrd.import_image(self.args.image)
        self.upstream = Upstream().start()
        self.repo = os.path.join(self.ctrd.repos_root, "bench-repo")
        os.makedirs(self.repo, mode=0o755)
        self.full_policy_text = policy_yaml(uplink=f"netns:{self.upstream.path}", setup=["/bin/true"], timeout="60s",
                                            rootfs_setup="writable")
        full_policy = os.path.join(self.ctrd.airlock_dir, "bench-full.yaml")
        with open(full_policy, "w") as f:
            f.write(self.full_policy_text)
        passthrough = ["--runtime-config-path", self.ctrd.passthrough_policy]
        full = ["--runtime-config-path", full_policy, "--annotation", f"airlock.dev/repo={self.repo}"]
        self.variants = {
            "runc-v2": Variant("runc-v2", RUNC_RUNTIME),
            "airlock-passthrough": Variant("airlock-passthrough", AIRLOCK_RUNTIME, passthrough),
            "airlock-full": Variant("airlock-full", AIRLOCK_RUNTIME, full, sealed=True),
        }
        for name, runtime in compare:
            self.variants[f"{name}-passthrough"] = Variant(f"{name}-passthrough", runtime, passthrough)
            self.variants[f"{name}-full"] = Variant(f"{name}-full", runtime, full, sealed=True)
        if self.args.variants:
            wanted = [v.strip() for v in self.args.variants.split(",") if v.strip()]
            unknown = [v for v in wanted if v not in self.variants]
            if unknown:
                raise SystemExit(f"bench: unknown variants {unknown}; there are {list(self.variants)}")
            self.variants = {name: v for name, v in self.variants.items() if name in wanted}

    def compare_binaries(self):
        """--compare NAME=PATH: another airlock shim binary (an older build, say) as runtime
        io.containerd.airlock-v2-NAME.v2, from a directory put first in containerd's PATH (the
        binary's name keeps "containerd-shim-airlock-v2" in it, so the harness's cleanup knows it).
        Returns [(name, runtime)]."""
        found = []
        if not self.args.compare:
            return found
        extra_bin = os.path.join(self.ctrd.base, "compare-bin")
        os.makedirs(extra_bin)
        for spec in self.args.compare:
            name, _, path = spec.partition("=")
            if not re.fullmatch(r"[a-z0-9]+", name) or not os.path.isfile(path):
                raise SystemExit(f"bench: --compare wants NAME=PATH (NAME: [a-z0-9]+), got {spec!r}")
            shutil.copy2(path, os.path.join(extra_bin, f"containerd-shim-airlock-v2-{name}-v2"))
            found.append((name, f"io.containerd.airlock-v2-{name}.v2"))
        # The shim looks for airlock-init next to its own binary.
        shutil.copy2(os.path.join(self.args.build, "bin", "airlock-init"), os.path.join(extra_bin, "airlock-init"))
        self.ctrd.env["PATH"] = f"{extra_bin}:{self.ctrd.env['PATH']}"
        return found
    def teardown(self):
        problems = []
        if self.ctrd is not None:
            problems += self.ctrd.teardown()
        if self.upstream is not None:
            problems += self.upstream.teardown()
        if self.cpu is not None:
            problem = self.cpu.close()
            if problem:
                problems.append(problem)
        return problems

    # --- helpers -------------------------------------------------------------------

    def new_id(self, tag):
        cid = f"bench-{tag}-{secrets.token_hex(3)}"
        self.cids.append(cid)
        return cid

    def add(self, key, variant, value):
        self.samples.setdefault(key, {}).setdefault(variant, []).append(value)

    def order(self, i):
        """The variants in a rotating order: iteration i starts with a different one."""
        names = list(self.variants)
        k = i % len(names)
        return names[k:] + names[:k]

    def run_args(self, variant, cid, cmd, detach=False):
        return self.ctrd.run_args(variant.runtime, cid, cmd, rm=not detach, detach=detach, extra=variant.extra)

    def timed_ctr(self, args, timeout=60.0, cpu_key=None, variant=None):
        """Runs ctr; returns (wall seconds, result). With cpu_key, also records the CPU time
        containerd, the shim and runc spent meanwhile (ms)."""
        c0 = self.cpu.usage_ms() if cpu_key and self.cpu else None
        t0 = time.perf_counter()
        r = self.ctrd.ctr(*args, timeout=timeout)
        wall = time.perf_counter() - t0
        if c0 is not None and r.rc == 0:
            # containerd finishes its side (the shim's delete, say) before ctr hears back.
            self.add(cpu_key, variant, self.cpu.usage_ms() - c0)
        return wall, r

    def audit_events(self, cid):
        path = os.path.join(self.ctrd.audit_dir, self.ctrd.namespace, f"{cid}.jsonl")
        events = []
        try:
            with open(path) as f:
                for line in f:
                    try:
                        events.append(json.loads(line))
                    except ValueError:
                        pass
        except OSError:
            pass
        return events

    def seal_event(self, cid):
        for e in self.audit_events(cid):
            if e.get("event") == "seal":
                return e
        return None

    def wait_sealed(self, cids, timeout=60.0):
        """Waits until every sandbox's audit log holds its seal; returns the seal events."""
        found = {}

        def all_sealed():
            for cid in cids:
                if cid not in found:
                    e = self.seal_event(cid)
                    if e is not None:
                        found[cid] = e
            return len(found) == len(cids)
        procs.wait_until(all_sealed, timeout, interval=0.05)
        return found

    def remove_many(self, cids, jobs=6):
        """Kills and deletes tasks and containers, a few ctr processes at a time."""
        chunks = [cids[i::jobs] for i in range(jobs) if cids[i::jobs]]

        def remove(chunk):
            self.ctrd.ctr("task", "delete", "-f", *chunk, timeout=120)
            self.ctrd.ctr("containers", "rm", *chunk, timeout=120)
        with ThreadPoolExecutor(len(chunks) or 1) as pool:
            list(pool.map(remove, chunks))

    def shim_pids(self):
        """Every live shim process of our containerd. The airlock shim's server is forked from
        `start` without exec (its argv ends in `start`), so nothing is skipped by argv; no
        short-lived `start` or `delete` is under way when memory is read."""
        found = []
        for pid in procs.pids():
            if procs.is_shim_of(procs.cmdline(pid), self.ctrd.sock):
                st = procs.stat_fields(pid)
                if st and st[0] not in ("Z", "X"):
                    found.append(pid)
        return found

    # --- leftovers -------------------------------------------------------------------

    def leftovers(self, cids):
        """Everything of `cids` that is still there, in one pass (ctr ls once, /proc once)."""
        problems = []
        tasks = self.ctrd.tasks()
        containers = self.ctrd.containers()
        snapshots = set(self.ctrd.ctr("snapshots", "ls").out.split())
        mount_lines = [m.line for m in mounts.mounts()]
        shims = {}
        cgroup_members = {}
        for pid in procs.pids():
            argv = procs.cmdline(pid)
            if procs.is_shim_of(argv, self.ctrd.sock):
                shims[pid] = argv
            for path in procs.cgroup_paths(pid):
                cgroup_members.setdefault(path, []).append(pid)
        links = set(host_links())
        netns_entries = set(os.listdir(os.path.join(AIRLOCK_RUN_DIR, "netns"))) \
            if os.path.isdir(os.path.join(AIRLOCK_RUN_DIR, "netns")) else set()
        for cid in cids:
            what = []
            if cid in tasks:
                what.append(f"task listed {tasks[cid]}")
            if cid in containers:
                what.append("container listed")
            if cid in snapshots:
                what.append("snapshot listed")
            rx = re.compile(r"(?<![A-Za-z0-9_.-])" + re.escape(cid) + r"(?![A-Za-z0-9_.-])")
            what += [f"mount {line[:160]}" for line in mount_lines if rx.search(line)]
            for d in (self.ctrd.bundle_dir(cid), self.ctrd.work_dir(cid), self.ctrd.runc_state_dir(cid)):
                if os.path.lexists(d):
                    what.append(f"directory {d}")
            what += [f"cgroup {d}" for d in self.ctrd.cgroup_dirs(cid)]
            what += [f"shim pid {pid}" for pid, argv in shims.items() if procs.is_shim_of(argv, self.ctrd.sock, cid)]
            what += [f"container pid {pid}" for pid in cgroup_members.get(f"/{self.ctrd.namespace}/{cid}", [])]
            sandbox = "s" + hashlib.sha256(f"{self.ctrd.namespace}/{cid}".encode()).hexdigest()[:16]
            what += [f"veth {veth_name(sandbox, side)}" for side in "shu" if veth_name(sandbox, side) in links]
            what += [f"netns entry {n}" for n in netns_entries if cid in n or sandbox in n]
            for path in (os.path.join(AIRLOCK_RUN_DIR, "tasks", self.ctrd.namespace, cid),
                         os.path.join(AIRLOCK_RUN_DIR, "workspaces", sandbox)):
                if os.path.lexists(path):
                    what.append(f"path {path}")
            problems += [f"{cid}: {w}" for w in what]
        veths = self.upstream.veths() if self.upstream else []
        if veths:
            problems.append(f"veths left in the upstream netns: {veths}")
        return problems

    def assert_clean(self, cids, what, timeout=15.0):
        left = []

        def clean():
            left[:] = self.leftovers(cids)
            return not left
        procs.wait_until(clean, timeout, interval=0.2)
        self.checks[f"nothing left after {what}"] = "yes" if not left else f"NO: {left[:10]}"
        if left:
            self.failures.append(f"leftovers after {what}: {left[:10]}")
        return not left

    # --- phases ------------------------------------------------------------------------

    def smoke(self):
        """One untimed run per variant: a variant that cannot run stops the bench at once."""
        for v in self.variants.values():
            cid = self.new_id("warm")
            r = self.ctrd.ctr(*self.run_args(v, cid, ["/bin/true"]), timeout=60)
            if r.rc != 0:
                raise RuntimeError(f"{v.name} cannot run /bin/true: {r!r}")
            if v.sealed and self.seal_event(cid) is None:
                raise RuntimeError(f"{v.name}: no seal in the audit log of {cid}: {self.audit_events(cid)}")

    def lifecycle(self):
        n = self.args.iterations
        budget_end = self.deadline.left() - self.args.budget * 0.7  # leave most of it to the rest
        for i in range(n):
            if self.deadline.left() < budget_end and i >= 5:
                log(f"lifecycle: budget reached after {i} iterations")
                break
            for name in self.order(i):
                v = self.variants[name]
                cid = self.new_id("life")
                seconds, r = self.timed_ctr(self.run_args(v, cid, ["/bin/true"]), cpu_key="lifecycle_cpu", variant=name)
                if r.rc != 0:
                    self.failures.append(f"lifecycle {name}: {r!r}")
                    self.ctrd.force_remove(cid)
                    continue
                self.add("lifecycle", name, seconds * 1000)
                if v.sealed:
                    e = self.seal_event(cid)
                    if e is None or not e.get("verified"):
                        self.failures.append(f"lifecycle {name} {cid}: not sealed and verified: {e}")
                    else:
                        self.add("seal", name, e["latency_us"] / 1000)
        self.assert_clean([c for c in self.cids if "-life-" in c or "-warm-" in c], "the lifecycle runs")

    def sweep(self):
        """The seal's secret sweep with 10,000 files written by setup (airlock-full's policy plus
        the secret and that setup), one sandbox at a time: trigger-to-verified and the sweep step."""
        if "airlock-full" not in self.variants:
            return
        text = policy_yaml(uplink=f"netns:{self.upstream.path}", setup=SWEEP_SETUP, timeout="60s",
                           rootfs_setup="writable", secrets_=["NPM_TOKEN"], tmpfs={"/tmp": "64Mi"})
        path = os.path.join(self.ctrd.airlock_dir, "bench-sweep.yaml")
        with open(path, "w") as f:
            f.write(text)
        v = Variant("airlock-full", AIRLOCK_RUNTIME,
                    ["--runtime-config-path", path, "--annotation", f"airlock.dev/repo={self.repo}",
                     "--env", "NPM_TOKEN=npm_bench0123456789abcdef0123456789"], sealed=True)
        for i in range(max(3, self.args.iterations // 4)):
            if self.deadline.left() <= 0 and i >= 3:
                break
            cid = self.new_id("sweep")
            _, r = self.timed_ctr(self.run_args(v, cid, ["/bin/true"]), timeout=180)
            e = self.seal_event(cid)
            if r.rc != 0 or e is None or not e.get("verified"):
                self.failures.append(f"sweep {cid}: {r!r} seal {e}")
                self.ctrd.force_remove(cid)
                continue
            self.add("seal_sweep", v.name, e["latency_us"] / 1000)
            self.add("seal_sweep_step", v.name, e.get("sweep_us", 0) / 1000)
            files = [x for x in self.audit_events(cid) if x.get("event") == "secret-sweep"]
            if not files or files[0].get("files_read", 0) < SWEEP_FILES:
                self.failures.append(f"sweep {cid}: read fewer than {SWEEP_FILES} files: {files}")
        self.assert_clean([c for c in self.cids if "-sweep-" in c], "the sweep runs")

    def exec_latency(self):
        running = {}
        for name, v in self.variants.items():
            cid = self.new_id("exec")
            r = self.ctrd.ctr(*self.run_args(v, cid, ["sleep", "600"], detach=True), timeout=60)
            if r.rc != 0:
                self.failures.append(f"exec {name}: start failed: {r!r}")
                continue
            running[name] = cid
        sealed = [cid for name, cid in running.items() if self.variants[name].sealed]
        names = {cid: name for name, cid in running.items()}
        for cid, e in self.wait_sealed(sealed).items():
            self.add("seal", names[cid], e["latency_us"] / 1000)
        budget_end = self.deadline.left() - 30
        for i in range(self.args.iterations):
            if self.deadline.left() < budget_end and i >= 5:
                log(f"exec: budget reached after {i} iterations")
                break
            for name in self.order(i):
                if name not in running:
                    continue
                seconds, r = self.timed_ctr(self.ctrd.exec_args(running[name], f"x{i}", ["/bin/true"]),
                                            cpu_key="exec_cpu", variant=name)
                if r.rc != 0:
                    self.failures.append(f"exec {name}: {r!r}")
                    continue
                self.add("exec", name, seconds * 1000)
        self.remove_many(list(running.values()))
        self.assert_clean(list(running.values()), "the exec runs")

    def memory_one(self):
        """Shim memory with exactly one sandbox of one variant alive (nothing else of ours)."""
        rounds = 3
        for i in range(rounds):
            for name in self.order(i):
                v = self.variants[name]
                cid = self.new_id("mem1")
                r = self.ctrd.ctr(*self.run_args(v, cid, ["sleep", "600"], detach=True), timeout=60)
                if r.rc != 0:
                    self.failures.append(f"memory {name}: start failed: {r!r}")
                    self.ctrd.force_remove(cid)
                    continue
                if v.sealed:
                    self.wait_sealed([cid])
                time.sleep(self.args.settle)
                pids = self.shim_pids()
                mem = measure.shim_memory(pids)
                if mem["processes"] != 1:
                    self.failures.append(f"memory {name}: expected one shim, found {pids}")
                self.add("pss_1", name, mem["pss_kib"] / 1024)
                self.add("private_dirty_1", name, mem["private_dirty_kib"] / 1024)
                self.add("rss_1", name, mem["rss_kib"] / 1024)
                self.add("threads_1", name, mem["threads"])
                self.remove_many([cid], jobs=1)
        self.assert_clean([c for c in self.cids if "-mem1-" in c], "the one-sandbox memory runs")

    def concurrent(self):
        n = self.args.sandboxes
        rounds = self.args.rounds
        for i in range(rounds):
            if i > 0 and not self.deadline.allows(90):
                log(f"concurrent: budget reached after {i} rounds")
                break
            for name in self.order(i):
                self.concurrent_round(self.variants[name], n)
                if not self.deadline.allows(20):
                    break

    def concurrent_round(self, v, n):
        # Each round on a quiet kernel: not paying for the last round's netns teardown.
        waited = measure.wait_kernel_quiet()
        if waited > 1.0:
            log(f"concurrent {v.name}: waited {waited:.1f}s for the kernel to finish the last round's teardown")
        cids = [self.new_id(f"c{n}") for _ in range(n)]
        argv = [["ctr", "--address", self.ctrd.sock, "-n", self.ctrd.namespace,
                 *self.run_args(v, cid, ["sleep", "600"], detach=True)] for cid in cids]
        t0 = time.perf_counter()
        children = []
        failed = []
        try:
            for a in argv:
                children.append(subprocess.Popen(a, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                 stderr=subprocess.PIPE, env=self.ctrd.env))
            for cid, child in zip(cids, children):
                try:
                    _, err = child.communicate(timeout=max(10.0, 120 - (time.perf_counter() - t0)))
                except subprocess.TimeoutExpired:
                    child.kill()
                    _, err = child.communicate(timeout=10)
                if child.returncode != 0:
                    failed.append(f"{cid}: rc {child.returncode}: {err.decode(errors='replace')[-300:]}")
        finally:
            for child in children:  # only after an interruption: ctr clients we started, by pid
                if child.poll() is None:
                    child.kill()
                    child.wait(10)
        wall = time.perf_counter() - t0
        tasks = self.ctrd.tasks()
        not_running = [cid for cid in cids if tasks.get(cid, (None, None))[1] != "RUNNING"]
        self.add("concurrent_wall", v.name, wall)
        bad = {f.split(":", 1)[0] for f in failed} | set(not_running)
        self.add("concurrent_failures", v.name, len(bad))
        if failed or not_running:
            self.failures.append(f"concurrent {v.name}: {len(failed)} failed, not running: {len(not_running)}; "
                                 f"{failed[:3]}")
        if v.sealed:
            seals = self.wait_sealed(cids, timeout=60)
            for e in seals.values():
                self.add("seal_concurrent", v.name, e["latency_us"] / 1000)
                for step in SEAL_STEPS:
                    if f"{step}_us" in e:
                        self.add(f"seal_concurrent_{step}", v.name, e[f"{step}_us"] / 1000)
            if len(seals) != n:
                self.failures.append(f"concurrent {v.name}: only {len(seals)} of {n} sealed")
        time.sleep(self.args.settle)
        pids = self.shim_pids()
        mem = measure.shim_memory(pids)
        alive = n - len(not_running)
        self.add("pss_n", v.name, mem["pss_kib"] / 1024 / max(1, alive))
        self.add("private_dirty_n", v.name, mem["private_dirty_kib"] / 1024 / max(1, alive))
        self.add("rss_n", v.name, mem["rss_kib"] / 1024 / max(1, alive))
        self.add("shims_n", v.name, mem["processes"])
        log(f"concurrent {v.name}: {n} started in {wall:.2f}s, {len(failed)} failed, {mem['processes']} shims, "
            f"PSS/sandbox {mem['pss_kib'] / 1024 / max(1, alive):.2f} MiB")
        t1 = time.perf_counter()
        self.remove_many(cids)
        self.add("concurrent_teardown", v.name, time.perf_counter() - t1)
        self.assert_clean(cids, f"{n} concurrent {v.name}")

    def pods(self):
        """One-shot pods through the CRI, as a kubelet runs them: RunPodSandbox, CreateContainer
        /bin/true, StartContainer, wait for its exit, RemoveContainer, StopPodSandbox,
        RemovePodSandbox (a node-network pod: no CNI; the full policy still makes its own netns and
        uplink). A second private containerd with the CRI plugin, one runtime handler per variant;
        each call is a cri_client process, the same for every variant."""
        client = os.path.join(self.args.build, "bin", "cri_client")
        pause = os.path.join(self.args.build, "images", "pause-oci.tar")
        for path in (client, pause):
            if not os.path.exists(path):
                self.failures.append(f"pods: {path} missing (make build image)")
                return
        ctrd = Containerd(bin_dir=os.path.join(self.args.build, "bin"), log_level="info")
        repo = os.path.join(ctrd.repos_root, "bench-pod-repo")
        os.makedirs(repo, mode=0o755)
        full_policy = os.path.join(ctrd.airlock_dir, "bench-full.yaml")
        with open(full_policy, "w") as f:
            f.write(self.full_policy_text)
        handlers = {
            "runc-v2": {"type": RUNC_RUNTIME, "options": {"Root": ctrd.runc_state_dir()}},
            "airlock-passthrough": {"type": AIRLOCK_RUNTIME, "options": {"ConfigPath": ctrd.passthrough_policy}},
            "airlock-full": {"type": AIRLOCK_RUNTIME, "options": {"ConfigPath": full_policy},
                             "container_annotations": ["airlock.dev/repo"]},
        }
        names = [name for name in self.variants if name in handlers]
        ctrd.set_cri_runtimes({name: handlers[name] for name in names})
        cri = Cri(ctrd, client)
        try:
            ctrd.start()
            for archive in (self.args.image, pause):
                ctrd.ctr("-n", CRI_NAMESPACE, "images", "import", archive, timeout=120, check=True, namespaced=False)
            budget_end = self.deadline.left() - 20
            for i in range(max(5, self.args.iterations // 2)):
                if self.deadline.left() < budget_end and i >= 5:
                    log(f"pods: budget reached after {i} iterations")
                    break
                for name in self.order(i):
                    if name in names:
                        self.pod_once(cri, name, repo)
        except (CriError, AssertionError, subprocess.SubprocessError) as e:
            self.failures.append(f"pods: {e}")
        finally:
            for pod in list(cri.pods):
                try:
                    cri.remove_pod(pod)
                except (CriError, AssertionError, subprocess.SubprocessError) as e:
                    self.failures.append(f"pods: removing {pod}: {e}")
            left = [pid for pid in procs.pids() if procs.is_shim_of(procs.cmdline(pid), ctrd.sock)]
            self.checks["nothing left after the pods"] = "yes" if not left else f"NO: shims {left}"
            problems = ctrd.teardown()
            if problems:
                self.failures.append(f"pods teardown: {problems}")

    def pod_once(self, cri, name, repo):
        t0 = time.perf_counter()
        pod, config = cri.run_pod(name, "bench")
        annotations = {"airlock.dev/repo": repo} if self.variants[name].sealed else {}
        cid = cri.create(pod, config, "main", ["/bin/true"], annotations=annotations)
        cri.call("StartContainer", {"container_id": cid})
        exited = cri.wait_state(cid, "CONTAINER_EXITED", timeout=60, interval=0.01)
        cri.call("RemoveContainer", {"container_id": cid})
        cri.remove_pod(pod)
        seconds = time.perf_counter() - t0
        if exited.get("exit_code", 0) != 0:
            self.failures.append(f"pods {name}: /bin/true exited {exited.get('exit_code')}")
            return
        if self.variants[name].sealed:
            audit = os.path.join(cri.ctrd.audit_dir, CRI_NAMESPACE, f"{cid}.jsonl")
            with open(audit) as f:
                seals = [e for e in map(json.loads, f) if e.get("event") == "seal"]
            if not seals or not seals[0].get("verified"):
                self.failures.append(f"pods {name} {cid}: not sealed and verified: {seals}")
                return
        self.add("pod_lifecycle", name, seconds * 1000)

    # --- results -------------------------------------------------------------------------

    # --- the airlock proxy -----------------------------------------------------------

    PROXY_NET = "198.18.253"
    PROXY_DOWNLOAD = 256 << 20

    def proxy(self):
        """The agent's proxy against a direct connection to the same mirror: per-request latency on a
        kept-alive connection, one large download, and the shim's memory with the proxy idle."""
        net, work = self.PROXY_NET, tempfile.mkdtemp(prefix="airlock-bench-proxy-")
        veth = "abpx" + secrets.token_hex(3)
        server = None
        cid = None
        try:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-keyout", f"{work}/key.pem", "-out", f"{work}/cert.pem", "-days", "2",
                            "-subj", "/CN=mirror.bench"], check=True, capture_output=True, timeout=60)
            with open(f"{work}/hosts", "w") as f:
                f.write(f"{net}.2 mirror.bench\n")
            ip("link", "add", veth, "type", "veth", "peer", "name", "upbpx", "netns", self.upstream.name)
            ip("addr", "add", f"{net}.1/24", "dev", veth)
            ip("link", "set", veth, "up")
            ip("-n", self.upstream.name, "addr", "add", f"{net}.2/24", "dev", "upbpx")
            ip("-n", self.upstream.name, "link", "set", "upbpx", "up")
            popen = subprocess.Popen(
                ["ip", "netns", "exec", self.upstream.name, sys.executable, "-u",
                 os.path.join(REPO, "test", "integration", "harness", "proxy_upstream.py"),
                 f"{work}/requests.jsonl", f"{work}/cert.pem", f"{work}/key.pem"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            server = (popen, procs.Proc(popen.pid, "bench proxy upstream"))
            if popen.stdout.readline().strip() != b"ready":
                self.failures.append("proxy: the mirror did not start")
                return
            self.ctrd.set_proxy(f"{work}/hosts", [f"{net}.0/24"])
            policy = os.path.join(self.ctrd.airlock_dir, "bench-proxy.yaml")
            with open(policy, "w") as f:
                f.write(policy_yaml(execution="proxy", proxy={"allow": ["mirror.bench"]}))
            cid = self.new_id("proxy")
            v = Variant("airlock-proxy", AIRLOCK_RUNTIME,
                        ["--runtime-config-path", policy, "--annotation", f"airlock.dev/repo={self.repo}"], sealed=True)
            r = self.ctrd.ctr(*self.run_args(v, cid, ["sleep", "600"], detach=True), timeout=60)
            if r.rc != 0:
                self.failures.append(f"proxy: start failed: {r!r}")
                return
            self.wait_sealed([cid])
            pid = self.ctrd.tasks()[cid][0]
            time.sleep(self.args.settle)
            shims = self.shim_pids()
            mem = measure.shim_memory(shims)
            if mem["processes"] == 1:
                self.add("proxy_pss", "airlock-proxy", mem["pss_kib"] / 1024)
            load = os.path.join(HERE, "proxy_load.py")
            proxied = ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, load]
            direct = [sys.executable, load]
            small_proxy, small_direct = "http://mirror.bench/small", f"http://{net}.2/small"
            big = f"/bytes/{self.PROXY_DOWNLOAD}"
            for i in range(3):
                runs = [("airlock-proxy", proxied + ["latency", small_proxy, "200", "127.0.0.1:3128"]),
                        ("direct", direct + ["latency", small_direct, "200"])]
                for name, argv in (runs if i % 2 == 0 else runs[::-1]):
                    out = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True,
                                                    timeout=120).stdout)
                    for ms in out["ms"][10:]:  # the first ones warm up
                        self.add("proxy_latency", name, ms)
                runs = [("airlock-proxy", proxied + ["download", "http://mirror.bench" + big, "127.0.0.1:3128"]),
                        ("direct", direct + ["download", f"http://{net}.2" + big])]
                for name, argv in (runs if i % 2 == 0 else runs[::-1]):
                    out = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True,
                                                    timeout=300).stdout)
                    if out["bytes"] != self.PROXY_DOWNLOAD:
                        self.failures.append(f"proxy: {name} download got {out['bytes']} bytes")
                    self.add("proxy_download", name, out["mib_s"])
                ca = f"{work}/cert.pem"
                runs = [("airlock-proxy", proxied + ["download-tls", "https://mirror.bench" + big, ca, "127.0.0.1:3128"]),
                        ("direct", direct + ["download-tls", f"https://{net}.2" + big, ca])]
                for name, argv in (runs if i % 2 == 0 else runs[::-1]):
                    out = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True,
                                                    timeout=300).stdout)
                    if out["bytes"] != self.PROXY_DOWNLOAD:
                        self.failures.append(f"proxy: {name} HTTPS download got {out['bytes']} bytes")
                    self.add("proxy_download_tls", name, out["mib_s"])
        except (subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
            self.failures.append(f"proxy: {e}")
        finally:
            if cid:
                self.remove_many([cid], jobs=1)
                self.assert_clean([cid], "the proxy sandbox")
            if server:
                procs.kill_all([server[1]])
                server[0].wait(timeout=10)
                server[0].stdout.close()
            ip("link", "del", veth, check=False)
            self.ctrd.set_proxy(None, [])
            shutil.rmtree(work, ignore_errors=True)

    CACHE_FILES = 20000
    CACHE_BYTES = 200 << 20

    def cache(self):
        """The setup cache of `airlock run`: from the start of `airlock run` to "sealed and verified"
        with a setup that installs 20,000 files / 200 MiB from the mirror, cold (a miss: setup runs,
        the entry is written) against warm (a hit: the entry laid as read-only layers)."""
        cli = os.path.join(self.args.build, "bin", "airlock")
        www = os.path.join(self.upstream.dir, "www")
        size = self.CACHE_BYTES // self.CACHE_FILES
        with tarfile.open(os.path.join(www, "deps.tar"), "w") as tar:
            for i in range(self.CACHE_FILES):
                info = tarfile.TarInfo(f"pkg{i // 500:03d}/f{i:05d}.js")
                info.size = size
                info.mtime = 1700000000
                tar.addfile(info, io.BytesIO(os.urandom(size)))
        repo = os.path.join(self.ctrd.repos_root, "bench-cache-src")
        os.makedirs(repo)
        for name, text in {"package-lock.json": "v0\n", ".gitignore": "vendor/\n", "README": "bench\n"}.items():
            with open(os.path.join(repo, name), "w") as f:
                f.write(text)
        git = ["git", "-C", repo, "-c", "user.name=b", "-c", "user.email=b@b"]
        subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True, timeout=30)
        subprocess.run(git + ["add", "-A"], check=True, timeout=30)
        subprocess.run(git + ["commit", "-q", "-m", "init"], check=True, timeout=30)
        setup = ("set -e; gw=$(ip route | awk '$1 == \"default\" {print $3; exit}'); mkdir -p vendor; "
                 f"timeout 300 wget -q -O - \"http://$gw:{self.upstream.port}/deps.tar\" | tar -x -C vendor; "
                 f"test $(find vendor -type f | wc -l) = {self.CACHE_FILES}")
        text = policy_yaml(uplink=f"netns:{self.upstream.path}", setup=setup, timeout="300s",
                           rootfs_setup="writable", extra="cache:\n  key_files: [package-lock.json]\n  ttl: 1h\n")
        policy = os.path.join(self.ctrd.airlock_dir, "bench-cache.yaml")
        with open(policy, "w") as f:
            f.write(text)

        def run(kind, i):
            cid = self.new_id(f"cache{kind}")
            argv = [cli, "run", "--repo", repo, "--image", IMAGE_NAME, "--address", self.ctrd.sock,
                    "--namespace", self.ctrd.namespace, "--id", cid, "--policy", policy, "--json", "--", "true"]
            p = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=self.ctrd.env)
            events = []
            for line in p.stdout.splitlines():
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
            sealed = [e for e in events if e.get("event") == "phase" and e.get("phase") == "seal" and e.get("state") == "ok"]
            summary = ([e for e in events if e.get("event") == "summary"] or [{}])[-1]
            cache = summary.get("cache") or {}
            want = "hit" if kind == "warm" else "miss"
            if p.returncode != 0 or not sealed or cache.get("verdict") != want:
                self.failures.append(f"cache {kind} {i}: rc {p.returncode}, verdict {cache}: {p.stderr[-500:]}")
                return None
            if kind == "cold" and not cache.get("written", "").startswith("written"):
                self.failures.append(f"cache cold {i}: not written: {cache}")
            self.add(f"cache_{kind}", "airlock-full", sealed[0]["elapsed_s"])
            return cache

        try:
            for i in range(2):  # each cold run with a key of its own (the key file changes)
                with open(os.path.join(repo, "package-lock.json"), "w") as f:
                    f.write(f"v{i + 1}\n")
                subprocess.run(git + ["commit", "-q", "-am", f"lock {i}"], check=True, timeout=30)
                if run("cold", i) is None:
                    return
            for i in range(5):
                run("warm", i)
        finally:
            p = subprocess.run([cli, "cache", "prune", "--max-bytes", "0", "--address", self.ctrd.sock,
                                "--namespace", self.ctrd.namespace], capture_output=True, text=True, timeout=120,
                               env=self.ctrd.env)
            if p.returncode != 0:
                self.failures.append(f"cache prune: {p.stderr}")
            left = [line for line in self.ctrd.ctr("snapshots", "ls").out.splitlines() if "airlock-cache" in line]
            self.checks["setup cache entries removed"] = "yes" if not left else f"NO: {left}"
        self.assert_clean([c for c in self.cids if "-cache" in c], "the cache runs")

    def cache_results(self):
        def stats(key):
            s = measure.summary(self.samples.get(key, {}).get("airlock-full", []))
            return s if s["n"] else None
        cold, warm = stats("cache_cold"), stats("cache_warm")
        speedup = cold["median"] / warm["median"] if cold and warm else None
        return [
            {"label": f"airlock run to sealed and verified, setup installs {self.CACHE_FILES:,} files / "
                      f"{self.CACHE_BYTES >> 20} MiB: cold (miss, entry written) / warm (hit)", "unit": "s",
             "cold": cold and cold["median"], "warm": warm and warm["median"],
             "result": None if speedup is None else f"warm {warm['median']:.2f} s, {speedup:.0f}x faster",
             "target": "warm <= 0.5 s and >= 20x faster than cold",
             "met": speedup is not None and warm["median"] <= 0.5 and speedup >= 20},
        ]

    def proxy_results(self):
        """The proxy's own table: through the proxy against direct, and its targets."""
        def stats(key, name):
            s = measure.summary(self.samples.get(key, {}).get(name, []))
            return s if s["n"] else None
        lat_p, lat_d = stats("proxy_latency", "airlock-proxy"), stats("proxy_latency", "direct")
        dl_p, dl_d = stats("proxy_download", "airlock-proxy"), stats("proxy_download", "direct")
        tls_p, tls_d = stats("proxy_download_tls", "airlock-proxy"), stats("proxy_download_tls", "direct")
        tls_share = tls_p["median"] / tls_d["median"] if tls_p and tls_d else None
        pss = stats("proxy_pss", "airlock-proxy")
        runc_pss = stats("pss_1", BASELINE)
        added = lat_p["median"] - lat_d["median"] if lat_p and lat_d else None
        share = dl_p["median"] / dl_d["median"] if dl_p and dl_d else None
        pss_ratio = pss["median"] / runc_pss["median"] if pss and runc_pss else None
        return [
            {"label": "request latency, kept-alive GET (p50)", "unit": "ms",
             "direct": lat_d and lat_d["median"], "proxy": lat_p and lat_p["median"],
             "result": None if added is None else f"+{added:.3f} ms", "target": "added < 1 ms",
             "met": added is not None and added < 1.0},
            {"label": f"one {self.PROXY_DOWNLOAD >> 20} MiB download, plain HTTP", "unit": "MiB/s",
             "direct": dl_d and dl_d["median"], "proxy": dl_p and dl_p["median"],
             "result": None if share is None else f"{share:.2f}x", "target": ">= 0.8x of direct",
             "met": share is not None and share >= 0.8},
            {"label": f"one {self.PROXY_DOWNLOAD >> 20} MiB download, HTTPS (a CONNECT tunnel)", "unit": "MiB/s",
             "direct": tls_d and tls_d["median"], "proxy": tls_p and tls_p["median"],
             "result": None if tls_share is None else f"{tls_share:.2f}x", "target": ">= 0.8x of direct",
             "met": tls_share is not None and tls_share >= 0.8},
            {"label": "shim PSS, one sandbox, proxy idle (against runc-v2's shim, 1 alive)", "unit": "MiB",
             "direct": runc_pss and runc_pss["median"], "proxy": pss and pss["median"],
             "result": None if pss_ratio is None else f"{pss_ratio:.2f}x", "target": "<= 0.5x of runc-v2",
             "met": pss_ratio is not None and pss_ratio <= 0.5},
        ]

    def results(self):
        names = list(self.variants)

        def row(key, label, unit, kind, targets=None, absolute=None, note=None, variants=names):
            values = {v: measure.summary(self.samples.get(key, {}).get(v, [])) for v in variants}
            values = {v: (s if s["n"] else None) for v, s in values.items()}
            r = {"key": key, "label": label, "unit": unit, "kind": kind, "values": values,
                 "targets": targets or {}, "samples": self.samples.get(key, {})}
            if absolute:
                r["absolute_target"] = absolute
            if note:
                r["note"] = note
            return r
        n = self.args.sandboxes
        sealed = [name for name, v in self.variants.items() if v.sealed]
        rows = [
            row("lifecycle", "lifecycle of /bin/true (ctr run --rm)", "ms", "latency",
                targets={"airlock-passthrough": 1.0, "airlock-full": 1.25}),
            row("lifecycle_cpu", "lifecycle: CPU time of containerd + shim + runc", "ms", "latency",
                note="cpuacct of a cgroup holding containerd and what it starts (not the container, not ctr)"),
            row("exec", "exec /bin/true into a running task (ctr task exec)", "ms", "latency"),
            row("exec_cpu", "exec: CPU time of containerd + shim + runc", "ms", "latency"),
            row("pss_1", "shim PSS per sandbox, 1 alive", "MiB", "value"),
            row("private_dirty_1", "shim Private_Dirty per sandbox, 1 alive", "MiB", "value"),
            row("pss_n", f"shim PSS per sandbox, {n} alive", "MiB", "value",
                targets={"airlock-passthrough": 0.5, "airlock-full": 0.5}),
            row("private_dirty_n", f"shim Private_Dirty per sandbox, {n} alive", "MiB", "value"),
            row("rss_1", "shim RSS, 1 alive", "MiB", "value"),
            row("threads_1", "shim threads, 1 alive", "threads", "value"),
            row("pod_lifecycle", "pod of /bin/true through the CRI (RunPodSandbox .. RemovePodSandbox)", "ms",
                "latency", note="a node-network pod; each CRI call a cri_client process, alike for all"),
            row("concurrent_wall", f"{n} sandboxes started at once (ctr run -d), wall", "s", "value",
                targets={"airlock-passthrough": 1.0, "airlock-full": 1.0}),
            row("concurrent_failures", f"{n} started at once: failures", "count", "value"),
            row("concurrent_teardown", f"{n} removed (ctr task delete -f, ctr c rm, 6 at a time), wall", "s",
                "value"),
            row("seal", "seal, trigger to verified (one sandbox at a time)", "ms", "seal",
                absolute={"variant": "airlock-full", "p99_max": 10.0}, variants=sealed),
            row("seal_concurrent", f"seal, trigger to verified ({n} sandboxes starting at once)", "ms", "seal",
                variants=sealed),
            row("seal_sweep", f"seal, trigger to verified, setup wrote {SWEEP_FILES:,} files (a secret to search for)",
                "ms", "seal", variants=sealed),
            row("seal_sweep_step", f"of which the secret sweep ({SWEEP_FILES:,} files read)", "ms", "seal",
                variants=sealed),
        ] + [
            row(f"seal_concurrent_{step}", f"seal step under that load: {what}", "ms", "seal", variants=sealed)
            for step, what in SEAL_STEPS.items()
        ]
        return {"machine": machine_info(self.args), "variants": names, "baseline": BASELINE,
                "rows": rows, "checks": self.checks, "failures": self.failures,
                "proxy": self.proxy_results() if "proxy_latency" in self.samples else [],
                "cache": self.cache_results() if "cache_warm" in self.samples or "cache_cold" in self.samples else [],
                "elapsed_s": round(self.deadline.elapsed(), 1)}


def first_line(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


def machine_info(args):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    rev = first_line(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{cpu}, {os.cpu_count()} cpus, {mem_gib:.0f} GiB, Linux {platform.release()}",
        "containerd": first_line(["containerd", "--version"]),
        "runc": first_line(["runc", "--version"]),
        "airlock": f"{rev}{' (modified)' if dirty else ''}",
        "iterations": args.iterations,
        "sandboxes": args.sandboxes,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--image", default=None, help="busybox OCI archive (default: BUILD/images/busybox-oci.tar)")
    ap.add_argument("--out", default=None, help="output dir (default: BUILD/bench)")
    ap.add_argument("--iterations", type=int, default=40, help="lifecycle and exec runs per variant")
    ap.add_argument("--sandboxes", type=int, default=50, help="sandboxes started at once")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the concurrent start per variant")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds before memory is read")
    ap.add_argument("--budget", type=float, default=300.0, help="seconds the phases may take in all (soft)")
    ap.add_argument("--only", default="lifecycle,exec,memory,pods,concurrent,sweep,proxy,cache", help="phases to run")
    ap.add_argument("--variants", default="", help="comma-separated subset of the variants (for profiling one)")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=PATH",
                    help="also bench another airlock shim binary (passthrough and full), e.g. an older build")
    args = ap.parse_args()
    args.image = args.image or os.path.join(args.build, "images", "busybox-oci.tar")
    args.out = args.out or os.path.join(args.build, "bench")
    if os.geteuid() != 0:
        sys.exit("bench: needs root (a private containerd)")
    for tool in ("containerd", "ctr", "runc", "containerd-shim-runc-v2"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} not installed")
    for path in (os.path.join(args.build, "bin", "containerd-shim-airlock-v2"), args.image):
        if not os.path.exists(path):
            sys.exit(f"bench: {path} missing (make build image)")

    # SIGTERM and SIGHUP end the bench like Ctrl-C: through the cleanup below.
    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    bench = Bench(args)
    phases = [p.strip() for p in args.only.split(",") if p.strip()]
    problems = []
    try:
        bench.start()
        bench.smoke()
        for phase in ("lifecycle", "exec", "memory", "pods", "concurrent", "sweep", "proxy", "cache"):
            if phase not in phases:
                continue
            log(f"{phase} ({bench.deadline.elapsed():.0f}s so far)")
            {"lifecycle": bench.lifecycle, "exec": bench.exec_latency, "memory": bench.memory_one,
             "pods": bench.pods, "concurrent": bench.concurrent, "sweep": bench.sweep,
             "proxy": bench.proxy, "cache": bench.cache}[phase]()
    finally:
        problems = bench.teardown()
    results = bench.results()
    if problems:
        results["failures"].append(f"teardown: {problems}")
    results["checks"]["teardown left nothing"] = "yes" if not problems else f"NO: {problems}"
    os.makedirs(args.out, exist_ok=True)
    report.write_json(results, os.path.join(args.out, "results.json"))
    text = report.markdown(results)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    why = report.chart(results, os.path.join(args.out, "results.png"))
    print()
    print(text)
    print(f"bench: results in {args.out}/results.{{md,json}}" + (f"; {why}" if why else ", results.png"))
    print(f"bench: {results['elapsed_s']}s")
    if results["failures"]:
        print("bench: FAILURES:\n  " + "\n  ".join(results["failures"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
