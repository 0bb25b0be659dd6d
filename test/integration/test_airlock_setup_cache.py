"""The setup cache of `airlock run` (a policy's cache: section) against the private containerd.

A miss runs setup and, at the seal, writes the entry (two committed snapshots held by a lease);
a hit starts from it: setup is skipped (the upstream mirror sees no request), the agent sees what
setup installed (rootfs and untracked workspace files), the maintenance command runs in setup's
place with network. The attacks: a setup that leaves a secret behind, an agent that writes into
the cached files, two repositories with the same key files, two runs racing for one key.

Every test removes the entries it made (airlock cache rm / prune) and checks that nothing of them
is left in containerd.
"""

import json
import os
import subprocess
import time

import pytest

from harness.airlock import policy_yaml
from test_airlock_run import IMAGE, RUN_TIMEOUT, Runner, git, make_repo  # noqa: F401

LOCK = "lockfile-v1\n"


@pytest.fixture
def runner(airlock, tmp_path):
    r = Runner(airlock, tmp_path)
    yield r
    # Whatever a failed test left: every entry goes, and nothing of one may stay.
    cache_cli(r, "prune", "--max-bytes", "0")
    assert cache_objects(r) == ([], []), "cache entries left in containerd"


def cache_cli(runner, *args):
    argv = [runner.airlock.cli_path, "cache", *args, "--address", runner.ctrd.sock, "--namespace", runner.ctrd.namespace]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=runner.ctrd.env)
    return p


def cache_entries(runner):
    p = cache_cli(runner, "ls", "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def cache_objects(runner):
    """(snapshots, leases) of the cache in containerd, by name."""
    snaps = [line.split()[0] for line in runner.ctrd.ctr("snapshots", "ls").out.splitlines()[1:] if line.strip()]
    leases = [line.split()[0] for line in runner.ctrd.ctr("leases", "ls").out.splitlines()[1:] if line.strip()]
    return ([s for s in snaps if s.startswith("airlock-cache")], [l for l in leases if "cache" in l])


def cache_policy(runner, cid, upstream, setup, key_files=("package-lock.json",), ttl="1h", maintenance=None,
                 secrets_=(), leftover_secrets=None):
    extra = ["cache:", f"  key_files: {json.dumps(list(key_files))}", f"  ttl: {ttl}"]
    if maintenance is not None:
        extra.append(f"  maintenance: {json.dumps(['sh', '-c', maintenance])}")
    text = policy_yaml(uplink=f"netns:{upstream.path}", setup=setup, timeout="60s", rootfs_setup="writable",
                       secrets_=secrets_, leftover_secrets=leftover_secrets, extra="\n".join(extra) + "\n")
    return runner.airlock.policy(cid, text)


def install_script(port, tag="setup"):
    """Setup: fetch the package into the ignored vendor/ and install a "tool" into the rootfs."""
    return ("set -e; gw=$(ip route | awk '$1 == \"default\" {print $3; exit}'); mkdir -p vendor/lib; "
            f"timeout 20 wget -q -O vendor/lib/pkg \"http://$gw:{port}/pkg?from={tag}\"; "
            "mkdir -p /usr/local/bin; printf '#!/bin/sh\\necho tool-from-setup\\n' > /usr/local/bin/dep-tool; "
            "chmod 755 /usr/local/bin/dep-tool; echo installed")


def project(tmp_path, name="project", lock=LOCK):
    return make_repo(str(tmp_path / name), {"README": "the project\n", "package-lock.json": lock,
                                           ".gitignore": "vendor/\n", "src/app.sh": "echo app\n"})


def run(runner, repo, cid, agent, policy, **kw):
    r = runner.run(repo, cid, ["sh", "-c", agent], policy=policy, **kw)
    runner.airlock.assert_no_leftovers(cid)
    return r


def verdict(r):
    cache = r.summary.get("cache")
    assert cache, r
    return cache


def test_miss_writes_the_entry_then_a_hit_skips_setup_and_keeps_what_setup_installed(runner, upstream, tmp_path):
    repo = project(tmp_path)
    cid = runner.airlock.new_id()
    policy = cache_policy(runner, cid, upstream, install_script(upstream.port))
    agent = "set -e; test -s vendor/lib/pkg; dep-tool; echo change > src/app.sh"
    r = run(runner, repo, cid, agent, policy)
    assert r.rc == 0, r
    first = verdict(r)
    assert first["verdict"] == "miss" and first["written"].startswith("written"), first
    key = first["key"]
    assert r.output("setup")[-1:] == ["installed"], r
    assert [q[2] for q in upstream.requests()] == ["/pkg?from=setup"]
    # In containerd: two committed snapshots and the lease, named after the key.
    snaps, leases = cache_objects(runner)
    assert sorted(snaps) == [f"airlock-cache/{key}/rootfs", f"airlock-cache/{key}/workspace"], snaps
    assert leases == [f"airlock-cache-{key}"], leases
    # The branch holds the agent's edit only (vendor/ is ignored, the rootfs is not the repo).
    assert git(repo, "diff", "--name-only", "main", f"airlock/{cid}") == "src/app.sh\n"

    # A second run with the same key: setup skipped (the mirror sees nothing), the agent sees the
    # package and the tool, and its own writes into the cached files stay in its sandbox.
    cid2 = runner.airlock.new_id()
    policy2 = cache_policy(runner, cid2, upstream, install_script(upstream.port))
    agent2 = ("set -e; test \"$(dep-tool)\" = tool-from-setup; test -s vendor/lib/pkg; "
              "echo tampered > vendor/lib/pkg; rm -f /usr/local/bin/dep-tool 2>/dev/null || true; "
              "echo v3 > src/app.sh; echo agent-ok")
    r2 = run(runner, repo, cid2, agent2, policy2)
    assert r2.rc == 0, r2
    second = verdict(r2)
    assert second["verdict"] == "hit" and second["key"] == key, second
    assert r2.output("setup") == [] and r2.output("agent") == ["agent-ok"], r2
    assert [q[2] for q in upstream.requests()] == ["/pkg?from=setup"], "a hit must not run setup"
    assert git(repo, "diff", "--name-only", "main", f"airlock/{cid2}") == "src/app.sh\n"

    # The entry is read-only to every sandbox: a third run sees the package as setup fetched it.
    cid3 = runner.airlock.new_id()
    policy3 = cache_policy(runner, cid3, upstream, install_script(upstream.port))
    r3 = run(runner, repo, cid3, f"set -e; test \"$(sha256sum vendor/lib/pkg | cut -d' ' -f1)\" = {upstream.sha256}; "
                                 "dep-tool; echo ok", policy3)
    assert r3.rc == 0 and verdict(r3)["verdict"] == "hit", r3
    assert r3.output("agent") == ["tool-from-setup", "ok"], r3

    entries = cache_entries(runner)
    assert [(e["key"], e["complete"], e["hits"]) for e in entries] == [(key, True, 2)], entries
    prov = entries[0]["provenance"]
    assert prov["made-by"] == cid and prov["root-commit"] == git(repo, "rev-list", "--max-parents=0", "HEAD").strip()
    assert "package-lock.json blob " in prov["key-files"], prov
    show = cache_cli(runner, "show", key)
    assert show.returncode == 0 and key in show.stdout and "made-by" in show.stdout, show
    rm = cache_cli(runner, "rm", key)
    assert rm.returncode == 0, rm.stderr
    assert cache_objects(runner) == ([], [])
    again = cache_cli(runner, "rm", key)
    assert again.returncode == 1 and "no entry" in again.stderr


def test_a_changed_key_file_or_another_repository_misses(runner, upstream, tmp_path):
    repo = project(tmp_path)
    cid = runner.airlock.new_id()
    r = run(runner, repo, cid, "true", cache_policy(runner, cid, upstream, install_script(upstream.port)))
    assert r.rc == 0 and verdict(r)["verdict"] == "miss", r
    key = verdict(r)["key"]
    # A commit that changes the key file: another key.
    with open(os.path.join(repo, "package-lock.json"), "w") as f:
        f.write("lockfile-v2\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "bump")
    cid2 = runner.airlock.new_id()
    r2 = run(runner, repo, cid2, "true", cache_policy(runner, cid2, upstream, install_script(upstream.port)))
    assert r2.rc == 0 and verdict(r2)["verdict"] == "miss" and verdict(r2)["key"] != key, r2
    # A commit that changes another file: the same key (a hit).
    with open(os.path.join(repo, "README"), "w") as f:
        f.write("docs changed\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "docs")
    cid3 = runner.airlock.new_id()
    r3 = run(runner, repo, cid3, "test -s vendor/lib/pkg", cache_policy(runner, cid3, upstream, install_script(upstream.port)))
    assert r3.rc == 0 and verdict(r3)["verdict"] == "hit" and verdict(r3)["key"] == verdict(r2)["key"], r3
    # Another repository with byte-identical files (its own root commit): never the same entry.
    other = project(tmp_path, "other", lock="lockfile-v2\n")
    cid4 = runner.airlock.new_id()
    r4 = run(runner, other, cid4, "true", cache_policy(runner, cid4, upstream, install_script(upstream.port)))
    assert r4.rc == 0 and verdict(r4)["verdict"] == "miss", r4
    assert verdict(r4)["key"] not in (key, verdict(r2)["key"])
    assert len(upstream.requests()) == 3  # every miss ran setup; the hit did not


def test_an_entry_past_its_ttl_is_stale_and_replaced(runner, upstream, tmp_path):
    repo = project(tmp_path)
    cid = runner.airlock.new_id()
    r = run(runner, repo, cid, "true", cache_policy(runner, cid, upstream, install_script(upstream.port)))
    key = verdict(r)["key"]
    # Age it: its expiry label in the past (containerd's own gc.expire is on the lease).
    lab = runner.ctrd.ctr("snapshots", "label", f"airlock-cache/{key}/rootfs",
                          "airlock.dev/cache.expires=2000-01-01T00:00:00Z")
    assert lab.rc == 0, lab
    cid2 = runner.airlock.new_id()
    r2 = run(runner, repo, cid2, "test -s vendor/lib/pkg", cache_policy(runner, cid2, upstream, install_script(upstream.port)))
    assert r2.rc == 0, r2
    v = verdict(r2)
    assert v["verdict"] == "stale" and "ttl" in v["why"] and v["written"].startswith("written"), v
    assert len(upstream.requests()) == 2
    assert [e["hits"] for e in cache_entries(runner)] == [0]


def test_maintenance_runs_on_a_hit_with_network_and_the_sandbox_still_seals(runner, upstream, tmp_path):
    repo = project(tmp_path)
    maintenance = install_script(upstream.port, tag="maintenance").replace("echo installed", "echo maintained")
    cid = runner.airlock.new_id()
    r = run(runner, repo, cid, "true", cache_policy(runner, cid, upstream, install_script(upstream.port), maintenance=maintenance))
    assert r.rc == 0 and verdict(r)["verdict"] == "miss", r
    cid2 = runner.airlock.new_id()
    policy2 = cache_policy(runner, cid2, upstream, install_script(upstream.port), maintenance=maintenance)
    # The agent is sealed again: no route out, only lo.
    r2 = run(runner, repo, cid2, "test -z \"$(ip route)\" && test \"$(ip -o link | wc -l)\" = 1 && echo sealed-ok", policy2)
    assert r2.rc == 0 and verdict(r2)["verdict"] == "hit", r2
    assert r2.output("setup")[-1:] == ["maintained"], r2
    assert r2.output("agent") == ["sealed-ok"], r2
    assert [q[2] for q in upstream.requests()] == ["/pkg?from=setup", "/pkg?from=maintenance"]
    assert [e["state"] for e in r2.phase("seal")] == ["ok"], r2


def test_a_secret_setup_leaves_behind_is_never_cached(runner, upstream, tmp_path):
    repo = project(tmp_path)
    value = "sekret-" + os.urandom(8).hex()
    # The value encoded in a file and as a file NAME, under the ignored vendor/ (what a careless
    # `npm config set` or a hostile setup leaves for the agent).
    setup = install_script(upstream.port) + "; mkdir -p vendor/x; : > \"vendor/x/$API_TOKEN.cfg\"; " \
            "echo \"$API_TOKEN\" | base64 > vendor/x/encoded; echo kept > vendor/x/plain"
    # The policy's default (leftover_secrets: fail): the seal refuses, nothing is cached, the
    # reason names the secret (never its value).
    cid = runner.airlock.new_id()
    policy = cache_policy(runner, cid, upstream, setup, secrets_=["API_TOKEN"])
    r = run(runner, repo, cid, "true", policy, secrets_=["API_TOKEN"], env={"API_TOKEN": value})
    assert r.rc != 0 and "API_TOKEN" in r.summary["failure"], r
    assert verdict(r)["verdict"] == "miss" and not verdict(r)["written"].startswith("written"), r
    assert cache_objects(runner) == ([], []), r
    assert value not in r.stdout + r.stderr
    # Scrub: the seal removes both files; what is cached is what the agent got, without them.
    cid2 = runner.airlock.new_id()
    policy2 = cache_policy(runner, cid2, upstream, setup, secrets_=["API_TOKEN"], leftover_secrets="scrub")
    r2 = run(runner, repo, cid2, "ls -A vendor/x", policy2, secrets_=["API_TOKEN"], env={"API_TOKEN": value})
    assert r2.rc == 0 and verdict(r2)["written"].startswith("written"), r2
    assert r2.output("agent") == ["plain"], r2
    assert value not in r2.stdout + r2.stderr
    cid3 = runner.airlock.new_id()
    policy3 = cache_policy(runner, cid3, upstream, setup, secrets_=["API_TOKEN"], leftover_secrets="scrub")
    r3 = run(runner, repo, cid3, "ls -A vendor/x; echo \"token:${API_TOKEN:-none}\"", policy3, secrets_=["API_TOKEN"],
             env={"API_TOKEN": value})
    assert r3.rc == 0 and verdict(r3)["verdict"] == "hit", r3
    assert r3.output("agent") == ["plain", "token:none"], r3


def test_two_runs_racing_for_one_key_write_it_once(runner, upstream, tmp_path):
    repo = project(tmp_path)
    procs = []
    ids = [runner.airlock.new_id() for _ in range(2)]
    for cid in ids:
        policy = cache_policy(runner, cid, upstream, install_script(upstream.port) + "; sleep 1")
        argv = runner.argv(repo, cid, ["true"], policy=policy)
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=runner.ctrd.env))
    results = []
    for p in procs:
        out, err = p.communicate(timeout=RUN_TIMEOUT)
        results.append((p.returncode, out, err))
    for cid in ids:
        runner.airlock.assert_no_leftovers(cid)
    written = []
    for rc, out, err in results:
        assert rc == 0, err
        summary = [json.loads(line) for line in out.splitlines() if '"event": "summary"' in line or '"event":"summary"' in line][-1]
        written.append(summary["cache"]["written"])
    assert sum(w.startswith("written") for w in written) == 1, written
    entries = cache_entries(runner)
    assert len(entries) == 1 and entries[0]["complete"], entries
    # And a third run uses it.
    cid3 = runner.airlock.new_id()
    r3 = run(runner, repo, cid3, "test -s vendor/lib/pkg", cache_policy(runner, cid3, upstream, install_script(upstream.port) + "; sleep 1"))
    assert r3.rc == 0 and verdict(r3)["verdict"] == "hit", r3


def snapshot_dirs(runner):
    base = os.path.join(runner.ctrd.root, "io.containerd.snapshotter.v1.overlayfs", "snapshots")
    return sorted(os.listdir(base)) if os.path.isdir(base) else []


def test_prune_removes_everything_and_leaves_nothing(runner, upstream, tmp_path):
    repo = project(tmp_path)
    dirs_before = snapshot_dirs(runner)
    cid = runner.airlock.new_id()
    r = run(runner, repo, cid, "true", cache_policy(runner, cid, upstream, install_script(upstream.port)))
    assert r.rc == 0 and verdict(r)["written"].startswith("written"), r
    key = verdict(r)["key"]
    ls = cache_cli(runner, "ls")
    assert ls.returncode == 0 and key in ls.stdout, ls
    pruned = cache_cli(runner, "prune", "--max-bytes", "0")
    assert pruned.returncode == 0 and f"removed {key}" in pruned.stdout, pruned
    assert cache_objects(runner) == ([], [])
    assert cache_entries(runner) == []
    # ... and nothing on disk: the snapshotter's directories are those from before the run.
    assert snapshot_dirs(runner) == dirs_before
    # Bad input: a key that is not one, an unknown verb; clear errors, nothing touched.
    bad = cache_cli(runner, "show", "../../etc")
    assert bad.returncode == 2 and "32 hex" in bad.stderr
    assert cache_cli(runner, "frobnicate").returncode == 2


def test_a_new_head_tracking_a_path_the_entry_holds_makes_the_run_a_miss(runner, upstream, tmp_path):
    repo = project(tmp_path)
    # Setup leaves an untracked (not ignored) file; the entry holds it.
    setup = install_script(upstream.port) + "; echo generated-by-setup > GENERATED"
    cid = runner.airlock.new_id()
    r = run(runner, repo, cid, "rm -f GENERATED", cache_policy(runner, cid, upstream, setup))
    assert r.rc == 0 and verdict(r)["written"].startswith("written"), r
    # Now the repository tracks that path (the key files are unchanged: the same key).
    with open(os.path.join(repo, "GENERATED"), "w") as f:
        f.write("tracked now\n")
    git(repo, "add", "GENERATED")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "track it")
    cid2 = runner.airlock.new_id()
    r2 = run(runner, repo, cid2, "cat GENERATED", cache_policy(runner, cid2, upstream, setup))
    assert r2.rc == 0, r2
    v = verdict(r2)
    assert v["verdict"] == "miss" and "GENERATED" in v["why"] and v["key"] == verdict(r)["key"], v
    # Setup ran (the sandbox has the repository's file, rewritten by setup), the entry was kept.
    assert r2.output("agent") == ["generated-by-setup"], r2
    assert len(upstream.requests()) == 2
    assert [e["key"] for e in cache_entries(runner)] == [v["key"]]


def test_the_shim_honours_a_cache_hit_only_under_a_cache_policy(airlock):
    """airlock.dev/setup-cache skips setup: the shim takes it only from a policy with cache:, and
    only the value "hit" (a creator of containers cannot use it to skip a policy's setup elsewhere)."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    plain = airlock.policy(cid, policy_yaml(setup="echo setup-ran > /workspace/setup-ran"))
    r = airlock.run(cid, "true", policy=plain, repo=repo, annotations={"airlock.dev/setup-cache": "hit"})
    assert r.rc != 0 and "has no cache: section" in r.err, r
    assert cid not in airlock.ctrd.tasks()
    airlock.assert_no_leftovers(cid)
    cid2 = airlock.new_id()
    repo2 = airlock.repo(cid2)
    cached = airlock.policy(cid2, policy_yaml(setup="echo setup-ran > /workspace/setup-ran", extra="cache: {}\n"))
    r2 = airlock.run(cid2, "true", policy=cached, repo=repo2, annotations={"airlock.dev/setup-cache": "yes\x1b[31m"})
    assert r2.rc != 0 and 'want "hit"' in r2.err and "\x1b" not in r2.err, r2
    airlock.assert_no_leftovers(cid2)
    # With the policy's cache and "hit": setup does not run, the policy's maintenance does.
    cid3 = airlock.new_id()
    repo3 = airlock.repo(cid3)
    maint = airlock.policy(cid3, policy_yaml(setup="echo setup-ran > /workspace/setup-ran",
                                             extra='cache:\n  maintenance: ["sh", "-c", "echo m > /workspace/maintained"]\n'))
    r3 = airlock.run(cid3, "sh", "-c", "ls /workspace", policy=maint, repo=repo3,
                     annotations={"airlock.dev/setup-cache": "hit"})
    assert r3.rc == 0, r3
    assert os.path.exists(os.path.join(repo3, "maintained")) and not os.path.exists(os.path.join(repo3, "setup-ran"))
    airlock.assert_no_leftovers(cid3)


def test_the_checks_sandbox_starts_from_the_entry_too(runner, upstream, tmp_path):
    repo = project(tmp_path)
    check = "test -s vendor/lib/pkg && dep-tool && test \"$(cat src/app.sh)\" = 'echo v2'"
    cid = runner.airlock.new_id()
    r = run(runner, repo, cid, "echo 'echo v2' > src/app.sh",
            cache_policy(runner, cid, upstream, install_script(upstream.port)), check=check)
    assert r.rc == 0, r
    assert verdict(r)["verdict"] == "miss" and verdict(r)["written"].startswith("written"), r
    # The check's sandbox used the entry the agent's setup had just written: one setup in all.
    assert [q[2] for q in upstream.requests()] == ["/pkg?from=setup"]
    assert r.output("check") == ["tool-from-setup"], r
    runner.airlock.assert_no_leftovers(cid + "-check")
    cid2 = runner.airlock.new_id()
    r2 = run(runner, repo, cid2, "echo 'echo v2' > src/app.sh",
             cache_policy(runner, cid2, upstream, install_script(upstream.port)), check=check)
    assert r2.rc == 0 and verdict(r2)["verdict"] == "hit", r2
    assert r2.output("check") == ["tool-from-setup"], r2
    assert len(upstream.requests()) == 1, "neither sandbox of a hit runs setup"
    runner.airlock.assert_no_leftovers(cid2 + "-check")


def test_past_the_hosts_max_bytes_the_least_recently_used_entry_goes(runner, upstream, tmp_path):
    with open(runner.ctrd.airlock_config) as f:
        config = f.read()
    cli_config = os.path.join(runner.ctrd.airlock_dir, "cli-config-cache.yaml")
    with open(cli_config, "w") as f:
        f.write(config + "cache: {max_bytes: 1Mi}\n")
    env = {"AIRLOCK_CONFIG": cli_config}
    # Each entry holds ~700 KiB that setup wrote: two do not fit in 1 MiB.
    setup = install_script(upstream.port) + "; head -c 716800 /dev/urandom > vendor/blob"
    keys = []
    for lock in ("lock-a\n", "lock-b\n"):
        repo = project(tmp_path, "p-" + lock.strip(), lock=lock)
        cid = runner.airlock.new_id()
        r = runner.run(repo, cid, ["true"], policy=cache_policy(runner, cid, upstream, setup), env=env)
        runner.airlock.assert_no_leftovers(cid)
        assert r.rc == 0 and verdict(r)["written"].startswith("written"), r
        keys.append(verdict(r)["key"])
    # The second write evicted the first (least recently used), and said so.
    assert [e["key"] for e in cache_entries(runner)] == [keys[1]]
    assert keys[0] in [ln for e in r.phase("cache") for ln in [e["message"]]][-1], r.phase("cache")
    assert cache_objects(runner)[0] == [f"airlock-cache/{keys[1]}/rootfs", f"airlock-cache/{keys[1]}/workspace"]
