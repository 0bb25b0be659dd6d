"""`airlock run` end to end against the private containerd (io.containerd.airlock.v2 only): a git
repository in, a review branch and a patch out, the sandbox destroyed with nothing left.

Each run uses an id from the airlock fixture (`--id`), so the fixture's leftover checks cover the
container, task, snapshot, shim, netns, mounts and cgroups of every run here.
"""

import json
import os
import secrets
import select
import signal
import subprocess
import sys
import time

import pytest

from harness.airlock import policy_yaml, setup_fetch_script
from harness.image import IMAGE_NAME

RUN_TIMEOUT = 120
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("AIRLOCK_IT_BUILD") or os.path.join(REPO, "build")
IMAGE = os.environ.get("AIRLOCK_IT_IMAGE") or os.path.join(BUILD, "images", "busybox-oci.tar")


def git(repo, *args, check=True):
    p = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, f"git {' '.join(args)}: {p.stderr}"
    return p.stdout


def make_repo(path, files=None):
    """A git repository at `path` with `files` ({relative path: text}) committed on main."""
    files = files or {"README": "the project\n", "src/app.sh": "echo app\n", ".gitignore": "vendor/\n"}
    os.makedirs(path)
    for rel, text in files.items():
        full = os.path.join(path, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return path


def refs(repo):
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


class Runner:
    """Runs build/bin/airlock run against the test's containerd."""

    def __init__(self, airlock, tmp_path):
        self.airlock = airlock
        self.ctrd = airlock.ctrd
        self.tmp = tmp_path
        self.work_dir = os.path.join(self.ctrd.repos_root, "airlock-run")

    def argv(self, repo, cid, agent, *, policy=None, setup=None, check=None, secrets_=(), json_=True, extra=()):
        argv = [self.airlock.cli_path, "run", "--repo", repo, "--image", IMAGE_NAME,
                "--address", self.ctrd.sock, "--namespace", self.ctrd.namespace, "--id", cid]
        if policy:
            argv += ["--policy", policy]
        if setup:
            argv += ["--setup", setup]
        if check:
            argv += ["--check", check]
            self.airlock.track(cid + "-check")  # the check's own sandbox
        for name in secrets_:
            argv += ["--secret", name]
        if json_:
            argv.append("--json")
        argv += list(extra)
        return argv + ["--", *agent]

    def run(self, repo, cid, agent, env=None, timeout=RUN_TIMEOUT, **kw):
        environment = dict(self.ctrd.env, **(env or {}))
        p = subprocess.run(self.argv(repo, cid, agent, **kw), capture_output=True, text=True,
                           timeout=timeout, env=environment)
        return Result(p.returncode, p.stdout, p.stderr)

    def policy(self, cid, **kw):
        kw.setdefault("setup", None)
        return self.airlock.policy(cid, policy_yaml(**kw))


class Result:
    def __init__(self, rc, stdout, stderr):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.events = []
        for line in stdout.splitlines():
            try:
                self.events.append(json.loads(line))
            except ValueError:
                pass

    @property
    def summary(self):
        found = [e for e in self.events if e.get("event") == "summary"]
        assert found, f"no summary:\n{self}"
        return found[-1]

    def output(self, phase):
        return [e["line"] for e in self.events if e.get("event") == "output" and e.get("phase") == phase]

    def phase(self, name):
        return [e for e in self.events if e.get("event") == "phase" and e.get("phase") == name]

    def __repr__(self):
        failed = [f"{e.get('phase')}: {e.get('message')}" for e in self.events
                  if e.get("event") == "phase" and e.get("state") == "failed"]
        return (f"airlock run -> rc={self.rc}\n  failed phases: {failed}\n  stdout: {self.stdout[-4000:]}\n"
                f"  stderr: {self.stderr[-3000:]}")


@pytest.fixture
def runner(airlock, tmp_path):
    return Runner(airlock, tmp_path)


def assert_nothing_created(runner, cid, repo=None, refs_before=None):
    assert cid not in runner.ctrd.containers()
    assert not os.path.exists(os.path.join(runner.work_dir, cid))
    if repo and refs_before is not None:
        assert refs(repo) == refs_before


def test_branch_and_patch_hold_exactly_the_agents_edits(runner, upstream, tmp_path):
    cid = runner.airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    main_before = git(repo, "rev-parse", "main")
    policy = runner.policy(cid, uplink=f"netns:{upstream.path}", timeout="30s")
    # Setup fetches into vendor/ (ignored): not part of the change set.
    setup = setup_fetch_script(upstream.port).replace("/workspace/pkg", "/workspace/vendor/pkg")
    setup = "mkdir -p vendor; " + setup.replace("/workspace/gateway", "vendor/gateway").replace(
        "/workspace/setup-links", "vendor/setup-links")
    agent = ("set -e; echo agent-start; echo 'echo app v2' > src/app.sh; mkdir -p docs; "
             "printf 'notes\\n' > docs/NOTES; rm README; test -s vendor/pkg; echo agent-done")
    r = runner.run(repo, cid, ["sh", "-c", agent], policy=policy, setup=setup,
                   check="test \"$(sh src/app.sh)\" = 'app v2' && echo check-ok")
    assert r.rc == 0, r
    s = r.summary
    branch = f"airlock/{cid}"
    assert s["branch"] == branch and s["exit_code"] == 0 and s["destroyed"] and s["leftovers"] == [], r
    # The check ran in a sandbox of its own, made from the same image, policy and setup.
    assert [(p["name"], p["exit_code"]) for p in s["phases"]] == [
        ("setup", 0), ("agent", 0), ("check-setup", 0), ("check", 0)], s["phases"]
    assert r.output("agent") == ["agent-start", "agent-done"], r
    assert r.output("check") == ["check-ok"], r
    assert [e["state"] for e in r.phase("seal")] == ["ok"] and r.phase("seal")[0]["verified"], r
    # Exactly the agent's edits, on top of main.
    assert git(repo, "diff", "--name-status", "main", branch) == "D\tREADME\nA\tdocs/NOTES\nM\tsrc/app.sh\n"
    assert git(repo, "show", f"{branch}:src/app.sh") == "echo app v2\n"
    assert git(repo, "rev-parse", f"{branch}^") == main_before
    assert git(repo, "rev-list", "--count", f"main..{branch}").strip() == "1"
    # main and the checkout are untouched; the only new ref is the branch.
    assert git(repo, "rev-parse", "main") == main_before
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git(repo, "status", "--porcelain") == ""
    assert sorted(line.split()[0] for line in refs(repo).splitlines()) == sorted(["refs/heads/main", f"refs/heads/{branch}"])
    # The patch is that commit: it applies to main and gives the branch's tree.
    patch = s["patch"]
    assert patch == os.path.join(runner.work_dir, f"{cid}.patch") and os.path.isfile(patch)
    check = tmp_path / "apply"
    git(repo, "worktree", "add", "-q", "--detach", str(check), "main")
    try:
        git(str(check), "apply", "--index", patch)
        assert git(str(check), "write-tree") == git(repo, "rev-parse", f"{branch}^{{tree}}")
    finally:
        git(repo, "worktree", "remove", "--force", str(check))
    os.unlink(patch)
    # The check ran on exactly the branch's tree.
    assert s["tree"] == s["check_tree"] == git(repo, "rev-parse", f"{branch}^{{tree}}").strip(), s
    # Setup reached the upstream (once per sandbox: the agent's and the check's); nothing else did.
    assert [req[2] for req in upstream.requests()] == ["/pkg?from=setup"] * 2, upstream.requests()
    assert not os.path.exists(os.path.join(runner.work_dir, cid)), "the workspace is gone"
    runner.airlock.assert_no_leftovers(cid)


def test_a_leaked_secret_blocks_branch_and_patch(runner, tmp_path):
    cid = runner.airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    refs_before = refs(repo)
    value = "tok-" + secrets.token_hex(12)
    policy = runner.policy(cid, secrets_=["API_TOKEN"], tmpfs={"/tmp": "8Mi"})
    # The agent (which has no token in its env) got the value somehow (setup leaving it on disk
    # fails the seal: test_airlock_secret_sweep.py; here the agent is handed it in two halves)
    # and writes it into the repository.
    half = len(value) // 2
    r = runner.run(repo, cid, ["sh", "-c", "echo \"token: ${API_TOKEN:-absent}\"; "
                                           f"a={value[:half]}; b={value[half:]}; echo \"$a$b\" > config/creds.txt; "
                                           "echo fine > notes.txt"],
                   policy=policy, setup="mkdir -p config; echo \"setup has $API_TOKEN\"",
                   secrets_=["API_TOKEN"], env={"API_TOKEN": value})
    assert r.rc == 11, r
    s = r.summary
    assert s["failed_phase"] == "secret-leak" and s["branch"] is None and s["patch"] is None, s
    assert {"secret": "API_TOKEN", "where": "config/creds.txt"} in s["secret_leaks"], s
    assert "API_TOKEN" in r.stderr and "config/creds.txt" in r.stderr, r
    assert r.output("agent")[0] == "token: absent", r
    assert r.output("setup") == ["setup has <secret API_TOKEN>"], r
    assert value not in r.stdout and value not in r.stderr, "the value itself is never printed"
    assert refs(repo) == refs_before, "no branch"
    assert not os.path.exists(os.path.join(runner.work_dir, f"{cid}.patch"))
    assert s["destroyed"] and s["leftovers"] == [], s
    runner.airlock.assert_no_leftovers(cid)


def test_a_failing_setup_stops_before_the_agent(runner, tmp_path):
    cid = runner.airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    refs_before = refs(repo)
    policy = runner.policy(cid)
    r = runner.run(repo, cid, ["sh", "-c", "echo agent-ran; echo x > ran.txt"], policy=policy,
                   setup="echo preparing; exit 7", check="echo check-ran")
    assert r.rc == 6, r
    s = r.summary
    assert s["failed_phase"] == "setup" and "exit code 7" in s["failure"], s
    phases = {p["name"]: p for p in s["phases"]}
    assert phases["setup"]["exit_code"] == 7
    assert not phases["agent"]["ran"] and not phases["check"]["ran"], s["phases"]
    assert r.output("setup")[0] == "preparing", r
    assert r.output("agent") == [] and r.output("check") == [], r
    # The shim's audit log agrees: nothing was executed in the sandbox.
    events, _ = runner.airlock.audit(cid)
    assert [e["event"] for e in events if e["event"] in ("exec", "seal")] == [], events
    assert refs(repo) == refs_before
    assert s["destroyed"] and s["leftovers"] == [], s
    runner.airlock.assert_no_leftovers(cid)


def _read_events_until(proc, predicate, timeout):
    """Reads JSON lines from proc.stdout until one satisfies `predicate` (bounded)."""
    deadline = time.monotonic() + timeout
    seen, buffer = [], b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            seen.append(event)
            if predicate(event):
                return seen
    raise AssertionError(f"not seen within {timeout}s; events so far: {seen}")


@pytest.mark.parametrize("moment", ["setup", "agent", "check"])
def test_sigint_destroys_everything(runner, tmp_path, moment):
    """Ctrl-C while setup, the agent or the check runs: exit 130, no branch, nothing left."""
    cid = runner.airlock.new_id(moment[:2])
    repo = make_repo(str(tmp_path / "project"))
    refs_before = refs(repo)
    policy = runner.policy(cid, timeout="120s")
    slow = "echo x >> README; echo started; sleep 120; echo never"
    setup = slow if moment == "setup" else "true"
    agent = ["sh", "-c", slow if moment == "agent" else "echo x >> README"]
    check = slow if moment == "check" else "true"
    argv = runner.argv(repo, cid, agent, policy=policy, setup=setup, check=check)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=runner.ctrd.env)
    try:
        _read_events_until(proc, lambda e: e.get("event") == "output" and e.get("phase") == moment
                           and e.get("line") == "started", 60)
        # The check runs in a sandbox of its own; the agent's is gone by then.
        assert (cid + "-check" if moment == "check" else cid) in runner.ctrd.containers()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    r = Result(proc.returncode, out.decode(), err.decode())
    assert r.rc == 130, r
    assert "interrupted by SIGINT" in r.stderr, r
    assert "never" not in r.output(moment), r
    s = r.summary
    assert s["failed_phase"] == "interrupted" and s["branch"] is None and s["patch"] is None, s
    assert s["destroyed"] and s["leftovers"] == [], s
    assert refs(repo) == refs_before and git(repo, "status", "--porcelain") == ""
    assert cid not in runner.ctrd.containers() and cid + "-check" not in runner.ctrd.containers()
    assert not os.path.exists(os.path.join(runner.work_dir, cid))
    assert not os.path.exists(os.path.join(runner.work_dir, f"{cid}.patch"))
    runner.airlock.assert_no_leftovers(cid)
    runner.airlock.assert_no_leftovers(cid + "-check")


def test_an_agent_crash_destroys_the_sandbox_and_keeps_only_a_patch(runner, tmp_path):
    cid = runner.airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    refs_before = refs(repo)
    r = runner.run(repo, cid, ["sh", "-c", "echo half > half-done.txt; kill -SEGV $$"], policy=runner.policy(cid),
                   check="echo check-ran")
    assert r.rc == 8, r
    s = r.summary
    assert s["failed_phase"] == "agent" and s["branch"] is None, s
    agent = [p for p in s["phases"] if p["name"] == "agent"][0]
    assert agent["exit_code"] == 128 + signal.SIGSEGV, s["phases"]
    assert r.output("check") == []
    assert s["patch"] and os.path.isfile(s["patch"]), "the patch is kept for inspection"
    with open(s["patch"]) as f:
        assert "+half" in f.read()
    os.unlink(s["patch"])
    assert refs(repo) == refs_before
    assert s["destroyed"] and s["leftovers"] == [], s
    runner.airlock.assert_no_leftovers(cid)


def test_no_changes_no_branch(runner, tmp_path):
    cid = runner.airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    refs_before = refs(repo)
    r = runner.run(repo, cid, ["true"], policy=runner.policy(cid), json_=False)
    assert r.rc == 0, r
    assert "no changes: no branch, no patch" in r.stdout, r
    assert "destroyed, nothing left" in r.stdout, r
    assert refs(repo) == refs_before
    runner.airlock.assert_no_leftovers(cid)


def test_bad_inputs_give_their_messages_and_create_nothing(runner, tmp_path):
    airlock = runner.airlock
    cid = airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    refs_before = refs(repo)
    policy = runner.policy(cid)

    def bad(expect_rc, expect_text, repo_=repo, env=None, **kw):
        before = refs(repo)
        r = runner.run(repo_, cid, ["true"], json_=False, env=env, **kw)
        assert r.rc == expect_rc and expect_text in r.stderr, f"want rc {expect_rc} and {expect_text!r}:\n{r!r}"
        assert_nothing_created(runner, cid, repo, before)
        return r

    plain = str(tmp_path / "plain")
    os.makedirs(plain)
    bad(3, "is not a git repository", repo_=plain, policy=policy)
    bad(3, "No such file or directory", repo_=str(tmp_path / "missing"), policy=policy)
    r = subprocess.run([airlock.cli_path, "run", "--repo", repo, "--image", "localhost/airlock/no-such:1",
                        "--address", runner.ctrd.sock, "--namespace", runner.ctrd.namespace, "--policy", policy,
                        "--id", cid, "--", "true"], capture_output=True, text=True, timeout=60, env=runner.ctrd.env)
    assert r.returncode == 4 and "image localhost/airlock/no-such:1 not found" in r.stderr, r
    r = subprocess.run([airlock.cli_path, "run", "--repo", repo, "--image", IMAGE_NAME,
                        "--address", str(tmp_path / "no-containerd.sock"), "--policy", policy, "--id", cid, "--", "true"],
                       capture_output=True, text=True, timeout=60, env=runner.ctrd.env)
    assert r.returncode == 4 and "containerd is not running at" in r.stderr, r
    if runner.ctrd.snapshotter == "overlayfs":
        # Imported (and so unpacked) for overlayfs only: the native snapshotter has no snapshot of it.
        bad(4, "is not unpacked for snapshotter native", policy=policy, extra=["--snapshotter", "native"])
    with open(os.path.join(repo, "src", "app.sh"), "a") as f:
        f.write("# edited, not committed\n")
    bad(3, "uncommitted changes (src/app.sh)", policy=policy)
    git(repo, "checkout", "--", "src/app.sh")
    bad(3, "--secret NOPE_TOKEN: NOPE_TOKEN is not set", policy=policy, secrets_=["NOPE_TOKEN"])
    bad(3, "does not list it in `secrets`", policy=policy, secrets_=["HOME"])
    # Without --policy the harness's host default applies: passthrough, which is no sandbox.
    bad(3, "passthrough, which is not a sandbox")
    git(repo, "branch", f"airlock/{cid}")
    bad(3, f"branch airlock/{cid} already exists", policy=policy)
    git(repo, "branch", "-D", f"airlock/{cid}")
    r = subprocess.run([airlock.cli_path, "run", "--repo", repo, "--image", IMAGE_NAME, "--bogus", "--", "true"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "unknown flag --bogus" in r.stderr, r
    r = subprocess.run([airlock.cli_path, "run", "--repo", repo, "--image", IMAGE_NAME],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "agent command is missing" in r.stderr, r
    assert_nothing_created(runner, cid, repo, refs_before)


def test_builtin_run_policy_setup_gets_nat_network_then_sealed(runner, tmp_path):
    """Without --policy and without a host default policy, airlock run writes its built-in run
    policy: setup with a NAT uplink and a writable rootfs, the --secret names listed."""
    cid = runner.airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    cli_config = os.path.join(runner.ctrd.airlock_dir, f"cli-config-{cid}.yaml")
    with open(cli_config, "w") as f:
        f.write(f"version: 1\nallowed_repo_roots: [{runner.ctrd.repos_root}]\n"
                f"default_policy: {tmp_path}/no-such-policy.yaml\naudit_dir: {runner.ctrd.audit_dir}\n")
    r = runner.run(repo, cid, ["sh", "-c", "test -f /from-setup && echo sees-setup-install; ip route | wc -l; "
                                           "echo \"tok=${TOK:-gone}\"; touch /x 2>&1 | sed 's/.*: //'"],
                   setup="ip route | grep -q '^default via 198\\.1[89]\\.' && echo nat-default-route; "
                         "touch /from-setup && echo \"tok=$TOK\"",
                   secrets_=["TOK"], env={"AIRLOCK_CONFIG": cli_config, "TOK": "t-" + secrets.token_hex(6)})
    assert r.rc == 0, r
    assert r.summary["policy"].startswith("built-in run policy"), r.summary
    assert r.output("setup") == ["nat-default-route", "tok=<secret TOK>"], r
    assert r.output("agent") == ["sees-setup-install", "0", "tok=gone", "Read-only file system"], r
    assert r.summary["destroyed"] and r.summary["leftovers"] == [], r.summary
    runner.airlock.assert_no_leftovers(cid)


def test_make_demo_script_tells_the_story_and_cleans_up(airlock):
    """examples/demo/demo.py (what `make demo` runs) on its own private containerd."""
    demo_repo = os.path.join(REPO, "examples", "demo-repo")
    before = _tree_digest(demo_repo)
    p = subprocess.run([sys.executable, os.path.join(REPO, "examples", "demo", "demo.py"),
                        "--build", BUILD, "--image", IMAGE], capture_output=True, text=True, timeout=300)
    out = p.stdout
    assert p.returncode == 0, f"demo: rc={p.returncode}\n{out[-6000:]}\n{p.stderr[-3000:]}"
    for needle in ("setup: greetlib 1.2 verified", "agent: refused: wget: can't connect to remote host",
                   "Network is unreachable", "agent: refused: Read-only file system (/etc/profile)",
                   "MIRROR_TOKEN=<not set: secrets stay in setup>", "tests: all passed",
                   "no secret value in the change set", "destroyed, nothing left",
                   "src/greet.sh | ", "main is untouched",
                   "setup's fetches (the agent's sandbox and the check's); nothing from the agent",
                   "the check ran on that tree, in a sandbox of its own",
                   "Demo done: a reviewable branch and patch; the sandbox destroyed, nothing left."):
        assert needle in out, f"{needle!r} not in the demo's output:\n{out[-6000:]}"
    assert _tree_digest(demo_repo) == before, "examples/demo-repo was modified"
    assert "PROBLEM" not in out


def _tree_digest(path):
    import hashlib
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            h.update(os.path.relpath(full, path).encode() + b"\0")
            with open(full, "rb") as f:
                h.update(f.read())
            h.update(str(os.stat(full).st_mode).encode())
    return h.hexdigest()
