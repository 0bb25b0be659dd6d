"""Bad input refused at create, with a message the `ctr` user sees, and nothing left behind
(io.containerd.airlock.v2 only). The entrypoint and setup never run."""

import os
import secrets

from harness.airlock import policy_yaml

ENTRY = "echo ran > /workspace/entrypoint-ran"


def _refused(airlock, cid, r):
    """ctr run failed at create: no task ever ran, nothing is left."""
    assert r.rc != 0 and "ctr:" in r.err, f"create was not refused (the container ran):\n{r!r}"
    assert cid not in airlock.ctrd.tasks(), r
    airlock.assert_no_leftovers(cid)


def test_policy_error_names_file_line_and_column(airlock):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    text = ("version: 1\n"
            "network:\n"
            "  setup:\n"
            "    uplink: bogus\n"
            "setpu:\n"
            "  timeout: 3s\n")
    policy = airlock.policy(cid, text)
    r = airlock.run(cid, "sh", "-c", ENTRY, policy=policy, repo=repo)
    _refused(airlock, cid, r)
    assert f"{policy}:4:13" in r.err and 'unknown mode "bogus"' in r.err, r
    assert f"{policy}:5:1" in r.err and "unknown key" in r.err, r
    # The same words as `airlock policy check` prints for the file.
    check = airlock.cli("policy", "check", policy)
    assert check.returncode == 1, check
    for line in (check.stdout + check.stderr).splitlines():
        if line.startswith(policy + ":"):
            assert line in r.err, f"{line!r} not in ctr's error:\n{r.err}"
    assert not os.path.exists(os.path.join(repo, "entrypoint-ran"))


def test_policy_file_missing(airlock):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    missing = os.path.join(airlock.ctrd.airlock_dir, f"no-such-policy-{cid}.yaml")
    r = airlock.run(cid, "sh", "-c", ENTRY, policy=missing, repo=repo)
    _refused(airlock, cid, r)
    assert missing in r.err, r


def test_profile_name_that_is_a_path_is_refused(airlock):
    """airlock.dev/policy takes a profile name, never a path."""
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    outside = airlock.outside_dir("profile")
    with open(os.path.join(outside, "evil.yaml"), "w") as f:
        f.write(policy_yaml(mode="passthrough"))
    r = airlock.run(cid, "sh", "-c", ENTRY, profile=f"../../../..{outside}/evil", repo=repo)
    _refused(airlock, cid, r)
    assert "airlock.dev/policy" in r.err or "profile" in r.err, r


def test_repo_outside_the_allowed_roots(airlock):
    cid = airlock.new_id()
    outside = airlock.outside_dir("repo")
    policy = airlock.policy(cid, policy_yaml(setup="true"))
    r = airlock.run(cid, "sh", "-c", ENTRY, policy=policy, repo=outside)
    _refused(airlock, cid, r)
    assert outside in r.err, r
    assert not os.path.exists(os.path.join(outside, "entrypoint-ran"))


def test_repo_symlink_escaping_the_allowed_roots(airlock):
    cid = airlock.new_id()
    outside = airlock.outside_dir("link")
    link = os.path.join(airlock.ctrd.repos_root, cid)
    os.symlink(outside, link)
    policy = airlock.policy(cid, policy_yaml(setup="true"))
    r = airlock.run(cid, "sh", "-c", ENTRY, policy=policy, repo=link)
    _refused(airlock, cid, r)
    assert link in r.err or outside in r.err, r
    assert not os.path.exists(os.path.join(outside, "entrypoint-ran"))


def test_repo_with_dotdot_escaping_the_allowed_roots(airlock):
    cid = airlock.new_id()
    outside = airlock.outside_dir("dotdot")
    sneaky = os.path.join(airlock.ctrd.repos_root, "..", os.path.basename(outside))
    policy = airlock.policy(cid, policy_yaml(setup="true"))
    r = airlock.run(cid, "sh", "-c", ENTRY, policy=policy, repo=sneaky)
    _refused(airlock, cid, r)
    assert not os.path.exists(os.path.join(outside, "entrypoint-ran"))


def test_missing_repo(airlock):
    cid = airlock.new_id()
    missing = os.path.join(airlock.ctrd.repos_root, f"no-such-repo-{cid}")
    policy = airlock.policy(cid, policy_yaml(setup="true"))
    r = airlock.run(cid, "sh", "-c", ENTRY, policy=policy, repo=missing)
    _refused(airlock, cid, r)
    assert missing in r.err, r


def test_repo_annotation_required(airlock):
    cid = airlock.new_id()
    policy = airlock.policy(cid, policy_yaml(setup="true", required=True))
    r = airlock.run(cid, "sh", "-c", "true", policy=policy)
    _refused(airlock, cid, r)
    assert "airlock.dev/repo" in r.err, r


def test_missing_upstream_netns(airlock):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    missing = f"/run/netns/airlock-up-missing-{secrets.token_hex(4)}"
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{missing}", setup="true"))
    r = airlock.run(cid, "sh", "-c", ENTRY, policy=policy, repo=repo)
    _refused(airlock, cid, r)
    assert missing in r.err, r
    assert not os.path.exists(os.path.join(repo, "entrypoint-ran"))


def test_upstream_path_that_is_not_a_netns(airlock):
    cid = airlock.new_id()
    repo = airlock.repo(cid)
    not_netns = os.path.join(airlock.outside_dir("netns"), "plain-file")
    with open(not_netns, "w") as f:
        f.write("not a netns\n")
    policy = airlock.policy(cid, policy_yaml(uplink=f"netns:{not_netns}", setup="true"))
    r = airlock.run(cid, "sh", "-c", ENTRY, policy=policy, repo=repo)
    _refused(airlock, cid, r)
    assert not_netns in r.err, r
