"""The airlock leftover checks themselves (no containerd, no shim): each kind of leftover
must be reported, so that a clean result after a scenario means something.

The shim's run directory is swapped for a temporary one: nothing here touches /run/airlock."""

import os
import secrets
import types

import pytest

from harness import airlock, mounts


@pytest.fixture
def fake_run_dir(tmp_path, monkeypatch):
    run = tmp_path / "run-airlock"
    for sub in ("netns", "tasks", "ipforward"):
        (run / sub).mkdir(parents=True)
    monkeypatch.setattr(airlock, "NETNS_DIR", str(run / "netns"))
    monkeypatch.setattr(airlock, "TASKS_DIR", str(run / "tasks"))
    monkeypatch.setattr(airlock, "IPFORWARD_DIR", str(run / "ipforward"))
    return run


def _session(namespace="airlock-it-test"):
    ctrd = types.SimpleNamespace(namespace=namespace)
    return airlock.AirlockSession(ctrd, "/nonexistent/airlock", "h")


def test_every_kind_of_airlock_leftover_is_reported(fake_run_dir, tmp_path, monkeypatch):
    s = _session()
    cid = s.new_id()
    assert s.airlock_leftovers(cid) == []

    name = f"{s.ctrd.namespace}-{cid}"
    (fake_run_dir / "netns" / name).write_text("")
    (fake_run_dir / "tasks" / s.ctrd.namespace).mkdir()
    socket_path = tmp_path / "shim.sock"
    socket_path.write_text("")
    (fake_run_dir / "tasks" / s.ctrd.namespace / cid).write_text(f"unix://{socket_path}\n")
    (fake_run_dir / "ipforward" / name).write_text("")
    s.observe(cid)
    assert s.seen[cid]["names"] == {name}
    assert s.seen[cid]["address"] == f"unix://{socket_path}"

    veth = airlock.veth_name(name, "h")
    monkeypatch.setattr(airlock, "host_links", lambda: ["lo", "eth0", veth])
    monkeypatch.setattr(airlock, "nft_tables", lambda: [("ip", "filter"), ("ip", f"airlock-{name}")])
    mount_point = tmp_path / f"m-{cid}"
    mount_point.mkdir()
    assert mounts.mount("tmpfs", str(mount_point), "tmpfs", 0, "size=64k") == 0
    try:
        found = "\n".join(s.airlock_leftovers(cid))
    finally:
        mounts.umount(str(mount_point))
    for what in ("sandbox netns remains", "task record remains", "shim socket remains",
                 f"veth remains in the host netns: {veth}", f"nft table remains: ip airlock-{name}",
                 "ip_forward claim remains", f"mount mentions {cid}"):
        assert what in found, f"{what!r} missing from:\n{found}"

    s.force_clean(cid)
    left = "\n".join(s.airlock_leftovers(cid))
    assert "sandbox netns" not in left and "task record" not in left, left


def test_veth_names_follow_the_shim():
    # policy/net/names.cc: "al" + 12 hex of SHA-256(name) + side: IFNAMSIZ - 1 characters.
    name = airlock.veth_name("sandbox-1", "s")
    assert len(name) == 15 and name.startswith("al") and name.endswith("s")
    assert airlock.veth_name("sandbox-1", "h")[:14] == name[:14]
    assert airlock.veth_name("sandbox-2", "s") != name


def test_policy_text_is_what_airlock_policy_check_accepts(tmp_path):
    cli = os.path.join(os.environ.get("AIRLOCK_IT_BUILD") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build"),
        "bin", "airlock")
    if not os.path.exists(cli):
        pytest.skip("build/bin/airlock not built")
    session = _session()
    session.cli_path = cli
    session.ctrd.env = dict(os.environ)
    texts = [
        airlock.policy_yaml(),
        airlock.policy_yaml(uplink="netns:/run/netns/airlock-up-0", setup="echo 'quoted \"x\"'; exit 0",
                            timeout="2s", rootfs_setup="writable", secrets_=["NPM_TOKEN", "A_B"],
                            keep_processes=False),
        airlock.policy_yaml(setup=["sh", "-c", "true"], tmpfs={}, required=False),
        airlock.policy_yaml(mode="passthrough"),
    ]
    for i, text in enumerate(texts):
        path = tmp_path / f"p{i}-{secrets.token_hex(2)}.yaml"
        path.write_text(text)
        r = session.cli("policy", "check", str(path))
        assert r.returncode == 0, f"{text}\n{r.stdout}{r.stderr}"
