"""The `nat` setup uplink through the shim: a veth to the host with an nftables table for the
sandbox during setup, both gone at the seal. Nothing is sent anywhere: the setup command only
reads its own addresses (this workplace forbids traffic to the host's real uplink)."""

import os

from harness.airlock import (field, host_links, nft_tables, policy_yaml, sandbox_name, veth_name,
                             wait_for_file)
from harness.procs import wait_until


def test_nat_uplink_is_wired_during_setup_and_gone_after_the_seal(airlock):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    setup = "ip -o -4 addr show > /workspace/setup-addr; ip route > /workspace/setup-route; sleep 3600"
    policy = airlock.policy(cid, policy_yaml(uplink="nat", setup=setup, timeout="10m"))
    airlock.start(cid, "sh", "-c", "echo ran > /workspace/entrypoint-ran; exec sleep 600",
                  policy=policy, repo=repo)
    assert wait_for_file(os.path.join(repo, "setup-route"), 30), "setup never ran"

    name = sandbox_name(airlock.ctrd.namespace, cid)
    table = f"airlock-{name}"
    assert table in [t for _, t in nft_tables()], nft_tables()
    assert veth_name(name, "h") in host_links(), host_links()
    with open(os.path.join(repo, "setup-route")) as f:
        route = f.read()
    assert route.startswith("default via 198.18."), route  # the host side of the veth, from the pool
    with open(os.path.join(repo, "setup-addr")) as f:
        assert " 198.18." in f.read()

    airlock.seal(cid)
    assert wait_for_file(os.path.join(repo, "entrypoint-ran"), 30)
    status = airlock.status(cid)
    assert field(status, "phase") == "sealed" and field(status, "verified") is True, status
    assert veth_name(name, "h") not in host_links()  # gone before the entrypoint ran
    # The nft table is host-side hygiene, dropped right after the sandbox goes on.
    assert wait_until(lambda: table not in [t for _, t in nft_tables()], 10), nft_tables()
    airlock.remove(cid)
