"""Fixtures for the containerd integration tests.

Environment:
  AIRLOCK_IT_RUNTIMES  comma list of runtimes every scenario runs with
                       (default: io.containerd.runc.v2,io.containerd.airlock.v2)
  AIRLOCK_IT_BUILD     build dir (default: <repo>/build); its bin/ goes first in containerd's PATH
  AIRLOCK_IT_IMAGE     the busybox OCI archive (default: <build>/images/busybox-oci.tar;
                       built on the fly from /bin/busybox when missing)
  AIRLOCK_IT_LOG_LEVEL containerd log level (default: debug)
"""

import os
import secrets
import shutil
import subprocess
import sys

import pytest

from harness.airlock import RUNTIME as AIRLOCK_RUNTIME, AirlockSession, assert_upstream_clean
from harness.containerd import Containerd
from harness.upstream import Upstream

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("AIRLOCK_IT_BUILD") or os.path.join(REPO, "build")
IMAGE = os.environ.get("AIRLOCK_IT_IMAGE") or os.path.join(BUILD, "images", "busybox-oci.tar")
RUNTIMES = [r.strip() for r in os.environ.get(
    "AIRLOCK_IT_RUNTIMES", "io.containerd.runc.v2,io.containerd.airlock.v2").split(",") if r.strip()]

_session = {"ctrd": None}


def runtime_label(runtime):
    # io.containerd.runc.v2 -> runc, io.containerd.airlock.v2 -> airlock
    parts = runtime.split(".")
    return parts[-2] if len(parts) >= 2 else runtime


def pytest_generate_tests(metafunc):
    if "runtime" in metafunc.fixturenames:
        metafunc.parametrize("runtime", RUNTIMES, ids=[runtime_label(r) for r in RUNTIMES])


def _ensure_image():
    if os.path.exists(IMAGE):
        return
    subprocess.run([sys.executable, os.path.join(REPO, "test", "image", "build_image.py"),
                    "--out", IMAGE], check=True, timeout=120)


@pytest.fixture(scope="session")
def ctrd():
    """The session's private containerd with the busybox image imported."""
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    for tool in ("containerd", "ctr", "runc"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    _ensure_image()
    stale = Containerd.reap_stale()
    if stale:
        print("\ncleaning up after crashed sessions left problems:\n  " + "\n  ".join(stale))
    c = Containerd(bin_dir=os.path.join(BUILD, "bin"),
                   keep_log_dir=os.path.join(BUILD, "integration-logs"),
                   log_level=os.environ.get("AIRLOCK_IT_LOG_LEVEL", "debug"))
    _session["ctrd"] = c
    try:
        c.start()
        c.import_image(IMAGE)
        yield c
    finally:
        _session["ctrd"] = None
        problems = c.teardown()
        if c.kept_log:
            print(f"\ncontainerd log kept at {c.kept_log}")
        if problems:
            raise AssertionError("harness teardown left things behind:\n  " + "\n  ".join(problems))


_runtime_smoke = {}


@pytest.fixture(autouse=True)
def _runtime_usable(request):
    """Runs `ctr run --rm R true` once per runtime before its first scenario.

    A runtime that cannot even do that fails all its scenarios at once, with the reason,
    instead of each scenario running into its own timeouts (and tests that expect a
    failure cannot pass by accident).
    """
    callspec = getattr(request.node, "callspec", None)
    runtime = callspec.params.get("runtime") if callspec else None
    if runtime is None:
        yield
        return
    c = request.getfixturevalue("ctrd")
    if runtime not in _runtime_smoke:
        cid = f"it-smoke-{runtime_label(runtime)}-{secrets.token_hex(3)}"
        r = c.run(runtime, cid, "true", timeout=60)
        problem = None if r.rc == 0 else repr(r)
        if problem is None:
            left = c.leftovers(cid)
            problem = f"leftovers after a clean run: {left}" if left else None
        if problem:
            c.force_remove(cid)
        _runtime_smoke[runtime] = problem
    if _runtime_smoke[runtime]:
        pytest.fail(f"runtime {runtime} is not usable:\n{_runtime_smoke[runtime]}", pytrace=False)
    yield


@pytest.fixture
def image_archive():
    return IMAGE


@pytest.fixture
def new_id(request, ctrd):
    """Factory of unique container ids; at teardown every id must have left nothing behind.

    A test that failed midway gets its containers removed quietly; a passing test that
    forgot something fails here.
    """
    made = []
    label = "".join(ch for ch in request.node.originalname if ch.isalnum())[-10:] or "t"

    def make(tag=""):
        cid = f"it-{label}{tag}-{secrets.token_hex(3)}"
        made.append(cid)
        return cid

    yield make

    report = getattr(request.node, "rep_call", None)
    test_passed = report is not None and report.passed
    problems = {}
    for cid in made:
        left = ctrd.leftovers(cid)
        if left and ctrd.running():
            ctrd.force_remove(cid)
            try:
                ctrd.assert_no_leftovers(cid, timeout=10)
                if test_passed:
                    problems[cid] = left
            except AssertionError as e:
                problems[cid] = [str(e)]
        elif left and test_passed:
            problems[cid] = left
    if problems:
        lines = [f"{cid}: {p}" for cid, ps in problems.items() for p in ps]
        pytest.fail("test left things behind:\n  " + "\n  ".join(lines), pytrace=False)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    c = _session["ctrd"]
    if rep.failed and c is not None:
        offset = getattr(item, "_ctrd_log_offset", 0)
        rep.sections.append(("containerd log (since test start)", c.log_since(offset)))


@pytest.fixture(autouse=True)
def _mark_log(request):
    c = _session["ctrd"]
    if c is not None:
        request.node._ctrd_log_offset = c.log_size()
    yield


# --- airlock scenarios (test_airlock_*.py) -----------------------------------------

_airlock_smoke = {}


def _reap_stale_upstreams_once():
    if _airlock_smoke.get("reaped"):
        return
    _airlock_smoke["reaped"] = True
    stale = Upstream.reap_stale()
    if stale:
        print("\ncleaned up after crashed sessions:\n  " + "\n  ".join(stale))


def _test_passed(request):
    report = getattr(request.node, "rep_call", None)
    return report is not None and report.passed


@pytest.fixture
def airlock(request):
    """An AirlockSession (harness/airlock.py) for scenarios of io.containerd.airlock.v2 only.

    Before the first one, `ctr run --rm true` with the harness's passthrough default must
    work: a shim that cannot even do that fails every airlock scenario at once, with the
    reason. At teardown every container the test made must have left nothing behind,
    airlock state included (sandbox netns, veths, nft tables, task records).
    """
    if AIRLOCK_RUNTIME not in RUNTIMES:
        pytest.skip(f"{AIRLOCK_RUNTIME} not in AIRLOCK_IT_RUNTIMES")
    ctrd = request.getfixturevalue("ctrd")
    _reap_stale_upstreams_once()
    if "problem" not in _airlock_smoke:
        cid = f"it-alsmoke-{secrets.token_hex(3)}"
        r = ctrd.run(AIRLOCK_RUNTIME, cid, "true", timeout=60)
        problem = None if r.rc == 0 else repr(r)
        if problem is None:
            left = ctrd.leftovers(cid)
            problem = f"leftovers after a clean run: {left}" if left else None
        if problem:
            ctrd.force_remove(cid)
        _airlock_smoke["problem"] = problem
    if _airlock_smoke["problem"]:
        pytest.fail(f"{AIRLOCK_RUNTIME} (passthrough) is not usable:\n{_airlock_smoke['problem']}",
                    pytrace=False)
    label = "".join(ch for ch in request.node.originalname if ch.isalnum())[-8:] or "t"
    session = AirlockSession(ctrd, os.path.join(BUILD, "bin", "airlock"), label)
    yield session
    problems = session.teardown(_test_passed(request))
    if problems:
        pytest.fail("airlock test left things behind:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def upstream(request):
    """A started harness.upstream.Upstream: netns path `.path` (/run/netns/<name>), HTTP port
    `.port`, served file /pkg (`.payload`, `.sha256`), request log `.requests()`.

    At teardown no sandbox veth may be left in it (after a passing test), then its server is
    ended by pid and the netns deleted.
    """
    if os.geteuid() != 0:
        pytest.skip("the upstream netns needs root")
    if not shutil.which("ip"):
        pytest.skip("iproute2 not installed")
    _reap_stale_upstreams_once()
    u = Upstream().start()
    try:
        yield u
    finally:
        left, passed = None, _test_passed(request)
        try:
            assert_upstream_clean(u, timeout=10 if passed else 0)
        except AssertionError as e:
            left = str(e)
        problems = u.teardown()
        if left and passed:
            problems.insert(0, left)
        if problems:
            pytest.fail("upstream teardown:\n  " + "\n  ".join(problems), pytrace=False)
