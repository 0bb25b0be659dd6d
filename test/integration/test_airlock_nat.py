"""The `nat` setup uplink through the shim: a veth to the host with an nftables table for the
sandbox during setup, both gone at the seal. Nothing is sent anywhere: the setup command only
reads its own addresses (this workplace forbids traffic to the host's real uplink)."""

import os
import secrets

from harness.airlock import (field, host_links, nft_tables, policy_yaml, sandbox_name, veth_name,
                             wait_for_file)
from harness.procs import wait_until
from harness.upstream import ip


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


# A /24 of the benchmarking range that this test owns, in a netns it makes: the host's end .1, the
# upstream .2 (in the host config's nat.allow) and .130 (not), plus a link-local stand-in for the
# metadata address (never the real one) routed into the same netns.
NET = "198.18.255"
LINK_LOCAL_STAND_IN = "169.254.77.77"


def test_nat_uplink_forwards_only_to_global_unicast_and_allowed_ranges(airlock, upstream):
    """The NAT uplink's guard (issue 15): setup behind `nat` reaches what the host config allows,
    never a non-global range it does not list (private, link-local with the metadata address,
    benchmarking, ...), nor the host's own addresses; `airlock policy explain` says so."""
    host_veth = "anat" + secrets.token_hex(3)
    ip("link", "add", host_veth, "type", "veth", "peer", "name", "upnat", "netns", upstream.name)
    try:
        ip("addr", "add", f"{NET}.1/24", "dev", host_veth)
        ip("link", "set", host_veth, "up")
        for address in (f"{NET}.2/24", f"{NET}.130/24", f"{LINK_LOCAL_STAND_IN}/32"):
            ip("-n", upstream.name, "addr", "add", address, "dev", "upnat")
        ip("-n", upstream.name, "link", "set", "upnat", "up")
        ip("-n", upstream.name, "route", "add", "default", "via", f"{NET}.1")
        ip("route", "add", f"{LINK_LOCAL_STAND_IN}/32", "via", f"{NET}.2", "dev", host_veth)
        airlock.ctrd.set_nat_allow([f"{NET}.0/25"])

        cid = airlock.new_id()
        repo = airlock.repo(cid)
        targets = [f"{NET}.2", f"{NET}.130", f"{NET}.1", LINK_LOCAL_STAND_IN]
        setup = ("for a in " + " ".join(targets) + "; do "
                 f"if timeout 5 wget -q -O /dev/null \"http://$a:{upstream.port}/pkg?from=$a\"; "
                 "then echo \"$a reached\"; else echo \"$a refused\"; fi >> /workspace/reach; done")
        policy = airlock.policy(cid, policy_yaml(uplink="nat", setup=setup, timeout="2m"))
        explained = airlock.cli("policy", "explain", policy)
        assert "169.254.169.254" in explained.stdout and "nat.allow" in explained.stdout, explained
        r = airlock.run(cid, "true", policy=policy, repo=repo, timeout=120)
        assert r.rc == 0, r
        with open(os.path.join(repo, "reach")) as f:
            reach = dict(line.split() for line in f.read().splitlines())
        assert reach == {f"{NET}.2": "reached", f"{NET}.130": "refused", f"{NET}.1": "refused",
                         LINK_LOCAL_STAND_IN: "refused"}, reach
        # Only the allowed address ever saw a request.
        assert [path for _, _, path, _ in upstream.requests()] == [f"/pkg?from={NET}.2"], upstream.requests()
        airlock.assert_no_leftovers(cid)
    finally:
        airlock.ctrd.set_nat_allow([])
        ip("route", "del", f"{LINK_LOCAL_STAND_IN}/32", check=False)
        ip("link", "del", host_veth, check=False)
