"""The harness checks themselves: a live task must look like a leftover in every way."""

from harness import ttrpc


def test_leftover_check_sees_a_live_task(ctrd, runtime, new_id):
    cid = new_id()
    pid = ctrd.start_detached(runtime, cid)
    found = "\n".join(ctrd.leftovers(cid))
    for what in ("task still listed", "container still listed", "snapshot still listed",
                 f"directory remains: {ctrd.bundle_dir(cid)}", "mount:", "cgroup remains",
                 "shim process remains", "container process remains", f"init of {cid} {pid}"):
        assert what in found, f"{what!r} missing from:\n{found}"
    info = ttrpc.connect(ctrd.shim_address(cid), cid)
    assert info["shim_pid"] == ctrd.shim_pid(cid)
    ctrd.remove(cid)
