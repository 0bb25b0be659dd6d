#!/usr/bin/python3
"""`make demo`: one agent task through the five steps of an airlock, on a private containerd.

As root on Debian 12 (`make demo` builds everything first). What it sets up, and removes again at
the end, on failure and on Ctrl-C:
  * a private containerd with its own root, state and socket under /run/airlock-it/ (the test
    harness's, test/integration/harness/containerd.py); a system containerd at /run/containerd is
    never used;
  * the bundled busybox image imported into it;
  * an "upstream" network namespace with a package mirror (an HTTP server) in it: the only
    network the setup phase gets (addresses from 198.18.0.0/15, nothing routed to the host);
  * a copy of examples/demo-repo as a git repository in a temp directory (the original is never
    modified): the branch is made in that copy.
Then it runs `airlock run` on the copy and shows the branch and the patch it made.

  examples/demo/demo.py --build build --image build/images/busybox-oci.tar [--keep]
"""

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "test", "integration"))

from harness.containerd import Containerd  # noqa: E402
from harness.image import IMAGE_NAME  # noqa: E402
from harness.upstream import Upstream  # noqa: E402

BOLD = "\033[1m" if sys.stdout.isatty() else ""
PLAIN = "\033[0m" if sys.stdout.isatty() else ""


def say(text=""):
    print(text, flush=True)


def heading(text):
    say(f"\n{BOLD}{text}{PLAIN}")


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60, **kw)


def git(repo, *args):
    return run(["git", "-C", repo, *args]).stdout


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def make_repo(tmp):
    """The demo repository, copied and committed in a temp dir."""
    repo = os.path.join(tmp, "greet")
    shutil.copytree(os.path.join(REPO, "examples", "demo-repo"), repo, symlinks=True)
    env = dict(os.environ, GIT_AUTHOR_NAME="demo", GIT_AUTHOR_EMAIL="demo@localhost",
               GIT_COMMITTER_NAME="demo", GIT_COMMITTER_EMAIL="demo@localhost")
    run(["git", "init", "-q", "-b", "main", repo])
    run(["git", "-C", repo, "add", "-A"])
    run(["git", "-C", repo, "commit", "-q", "-m", "greet: the demo project"], env=env)
    return repo


def story(ctrd, mirror, repo, task_id, policy, token, build, keep):
    heading("The five steps of an airlock, as `airlock run` shows them")
    say("  1. fresh container  [sandbox]  a new container from the image, its own network namespace,")
    say("                                 a disposable workspace from the repository's HEAD")
    say("  2. setup, network   [setup]    ./setup.sh fetches greetlib from the mirror with MIRROR_TOKEN")
    say("  3. sealed           [seal]     network gone (verified), rootfs read-only, secrets gone;")
    say("                      [agent]    then the agent runs, sealed; its sandbox is destroyed when it ends")
    say("  4. review           [changes] [scan]  the change set, found by airlock's own walk (no git on")
    say("                                 the workspace), scanned for the token, fixed as one tree;")
    say("                      [check]    the tests in a fresh sealed sandbox on exactly that tree;")
    say("                      [review]   a branch and a patch of that tree")
    say("  5. destroyed        [stop] [destroy]  container, snapshot, lease gone, and checked on the host")

    command = [os.path.join(build, "bin", "airlock"), "run",
               "--repo", repo, "--image", IMAGE_NAME,
               "--address", ctrd.sock, "--namespace", ctrd.namespace,
               "--policy", policy, "--id", task_id,
               "--setup", "./setup.sh", "--check", "./tests/run.sh", "--secret", "MIRROR_TOKEN",
               "--", "./agent/agent.sh"]
    heading("$ airlock run --repo greet --image busybox --setup ./setup.sh --check ./tests/run.sh "
            "--secret MIRROR_TOKEN -- ./agent/agent.sh")
    env = dict(ctrd.env, MIRROR_TOKEN=token)
    proc = subprocess.Popen(command, env=env)
    try:
        rc = proc.wait(timeout=300)
    except BaseException:
        # airlock run destroys its sandbox on SIGINT/SIGTERM; give it the time to.
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        raise
    if rc != 0:
        say(f"\nairlock run failed with exit code {rc} (see `airlock run --help` for the codes)")
        return rc

    branch = f"airlock/{task_id}"
    heading(f"Step 4, the result: branch {branch} in the copy of the repository")
    say(git(repo, "log", "--oneline", "--decorate", "--all").rstrip())
    say()
    say(git(repo, "diff", "--stat", "main", branch).rstrip())
    say()
    say(git(repo, "diff", "main", branch).rstrip())
    patch = os.path.join(ctrd.repos_root, "airlock-run", f"{task_id}.patch")
    say(f"\npatch: {patch} ({os.path.getsize(patch)} bytes, `git am` applies it)")
    say(f"main is untouched: {git(repo, 'rev-parse', '--short', 'main').strip()}, "
        f"working tree clean: {'yes' if not git(repo, 'status', '--porcelain').strip() else 'NO'}")
    fetched = [r for r in mirror.requests() if r[1] == "GET"]
    say(f"the mirror saw {len(fetched)} request(s): "
        + ", ".join(f"{path} from {client} ({status})" for client, _, path, status in fetched)
        + " - setup's fetches (the agent's sandbox and the check's); nothing from the agent")
    if keep:
        kept = os.path.join(os.path.dirname(repo), os.path.basename(patch))
        shutil.copyfile(patch, kept)
        say(f"kept (--keep): the repository {repo} and the patch {kept}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(REPO, "build"))
    parser.add_argument("--image", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the repository copy and the patch")
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    image = os.path.abspath(args.image or os.path.join(build, "images", "busybox-oci.tar"))
    if os.geteuid() != 0:
        say("make demo needs root: it starts a private containerd and creates network namespaces")
        return 1
    for path in (os.path.join(build, "bin", "airlock"), os.path.join(build, "bin", "containerd-shim-airlock-v2"), image):
        if not os.path.exists(path):
            say(f"missing {path}: run `make build image` first (make demo does)")
            return 1
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    for problem in Containerd.reap_stale() + Upstream.reap_stale():
        say(f"cleaned up after an earlier session: {problem}")
    ctrd = mirror = tmp = None
    rc = 1
    keep = False
    try:
        heading("Setting the stage")
        ctrd = Containerd(bin_dir=os.path.join(build, "bin"), log_level="info")
        ctrd.namespace = "airlock-demo-" + secrets.token_hex(3)
        ctrd._write_owner()  # reap_stale() cleans this namespace up after a crash
        ctrd.start()
        say(f"  private containerd   {ctrd.sock} (namespace {ctrd.namespace}, snapshotter {ctrd.snapshotter})")
        ctrd.import_image(image)
        say(f"  image                {IMAGE_NAME} (imported from {os.path.relpath(image, REPO)})")
        mirror = Upstream().start()
        www = os.path.join(mirror.dir, "www")
        for name in os.listdir(os.path.join(HERE, "mirror")):
            shutil.copyfile(os.path.join(HERE, "mirror", name), os.path.join(www, name))
        say(f"  package mirror       http://<gateway>:{mirror.port}/ in netns {mirror.name} "
            "(the setup phase's only network)")
        tmp = tempfile.mkdtemp(prefix="airlock-demo-")
        repo = make_repo(tmp)
        say(f"  demo repository      {repo} (a copy of examples/demo-repo, committed on main)")
        with open(os.path.join(HERE, "policy.yaml.in")) as f:
            policy_text = f.read().replace("@UPSTREAM_NETNS@", mirror.path)
        policy = os.path.join(ctrd.airlock_dir, "demo-policy.yaml")
        with open(policy, "w") as f:
            f.write(policy_text)
        say(f"  policy               examples/demo/policy.yaml.in (uplink netns:{mirror.path})")
        task_id = "demo-" + secrets.token_hex(3)
        token = "mirror-token-" + secrets.token_hex(8)
        keep = args.keep
        rc = story(ctrd, mirror, repo, task_id, policy, token, build, keep)
    except (KeyboardInterrupt, Interrupted) as e:
        say(f"\ndemo interrupted ({e or 'SIGINT'}): cleaning up")
        rc = 130
    finally:
        heading("Cleaning up the stage")
        problems = []
        if mirror is not None:
            problems += mirror.teardown()
            say("  package mirror stopped, its netns deleted")
        if ctrd is not None:
            problems += ctrd.teardown()
            say("  private containerd stopped, its directories removed")
        if tmp is not None and not (keep and rc == 0):
            shutil.rmtree(tmp, ignore_errors=True)
            say(f"  {tmp} removed")
        for p in problems:
            say(f"  PROBLEM: {p}")
        if problems and rc == 0:
            rc = 1
    if rc == 0:
        heading("Demo done: a reviewable branch and patch; the sandbox destroyed, nothing left.")
    return rc


if __name__ == "__main__":
    sys.exit(main())
