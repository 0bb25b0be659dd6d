"""The Kubernetes path: containerd's CRI plugin, as the kubelet drives it, with RuntimeClass
handlers that map to io.containerd.airlock.v2 (and the stock runc-v2 side by side).

A private containerd of its own (the session's runs without the CRI plugin) has five handlers:
  runc             io.containerd.runc.v2 (runc state under /run/containerd/runc/<its namespace>)
  airlock          io.containerd.airlock.v2, runtime options config_path -> a passthrough policy
  airlock-agent    io.containerd.airlock.v2, config_path -> the agent policy each test writes;
                   container annotations airlock.dev/* passed through (repo, setup command)
  airlock-pod      io.containerd.airlock.v2, config_path -> examples/kubernetes/agent-policy.yaml
                   (`uplink: pod`), pod annotations airlock.dev/* passed through, as in
                   examples/kubernetes/containerd-config.toml
  airlock-broken   io.containerd.airlock.v2, config_path -> a policy with a syntax error
build/bin/cri_client makes each CRI call (runtime.v1, test/cri/cri_subset.proto). Pods with their
own network get it from harness/cni_plugin.py: a veth into an upstream netns the module made (the
"cluster network"); node-network pods (the kubelet's hostNetwork) skip CNI. The pause image is the
bundled busybox that only sleeps.
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import tomllib

import pytest

from harness import procs
from harness.airlock import (POD_NETNS_DIR, PROBE_FN, SETUP_VERIFY_PROBES, VERIFY_PROBES,
                             assert_upstream_clean, field, host_leftovers, link_names, policy_yaml,
                             sandbox_name, setup_fetch_script, sha256_file, wait_probes)
from harness.containerd import CRI_NAMESPACE, Containerd
from harness.cri import Cri, CriError
from harness.cni_plugin import pod_addresses, upstream_link
from harness.upstream import Upstream

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("AIRLOCK_IT_BUILD") or os.path.join(REPO, "build")
IMAGE = os.environ.get("AIRLOCK_IT_IMAGE") or os.path.join(BUILD, "images", "busybox-oci.tar")
RUNTIMES = [r.strip() for r in os.environ.get("AIRLOCK_IT_RUNTIMES", "io.containerd.airlock.v2").split(",")]
AIRLOCK_RUNTIME = "io.containerd.airlock.v2"
CLIENT = os.path.join(BUILD, "bin", "cri_client")
CLI = os.path.join(BUILD, "bin", "airlock")
EXAMPLES = os.path.join(REPO, "examples", "kubernetes")
PAUSE_IMAGE = os.environ.get("AIRLOCK_IT_PAUSE_IMAGE") or os.path.join(BUILD, "images", "pause-oci.tar")

pytestmark = pytest.mark.skipif(AIRLOCK_RUNTIME not in RUNTIMES,
                                reason=f"{AIRLOCK_RUNTIME} not in AIRLOCK_IT_RUNTIMES")


def _log_lines(path):
    """[(stream, tag, text)] of a CRI log file (RFC3339 time, stream, tag P/F, text)."""
    try:
        with open(path, errors="replace") as f:
            raw = f.read().splitlines()
    except OSError:
        return []
    lines = []
    for line in raw:
        parts = line.split(" ", 3)
        if len(parts) == 4:
            lines.append((parts[1], parts[2], parts[3]))
    return lines


def _shims_of(ctrd):
    return [pid for pid in procs.pids() if procs.is_shim_of(procs.cmdline(pid), ctrd.sock)]


def _leftovers(ctrd, ids):
    """What the pod's containers left on the host: shim processes, mounts, runc and airlock
    state, cgroups; empty when clean."""
    problems = []
    shims = _shims_of(ctrd)
    if shims:
        problems.append(f"shim processes remain: {shims}")
    with open("/proc/self/mountinfo") as f:
        mountinfo = f.read()
    for cid in ids:
        if cid in mountinfo:
            problems.append(f"a mount mentions {cid}")
        for path in (os.path.join(ctrd.runc_state_dir(), cid), os.path.join(ctrd.airlock_runc_root, CRI_NAMESPACE, cid)):
            if os.path.lexists(path):
                problems.append(f"remains: {path}")
        problems += host_leftovers(CRI_NAMESPACE, cid, {sandbox_name(CRI_NAMESPACE, cid)})
    for path in ctrd.cgroup_dirs():
        for dirpath, _, _ in os.walk(path):
            if any(cid in dirpath for cid in ids):
                problems.append(f"cgroup remains: {dirpath}")
    return problems


def _assert_clean(ctrd, ids, timeout=10.0):
    if not procs.wait_until(lambda: not _leftovers(ctrd, ids), timeout, interval=0.1):
        raise AssertionError("leftovers:\n  " + "\n  ".join(_leftovers(ctrd, ids)))


@pytest.fixture(scope="module")
def cri():
    if os.geteuid() != 0:
        pytest.skip("the CRI tests need root")
    for tool in ("containerd", "ctr", "runc"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    for path in (CLIENT, IMAGE, PAUSE_IMAGE):
        if not os.path.exists(path):
            pytest.fail(f"{path} missing: run `make build image`", pytrace=False)
    network = Upstream().start()  # the "cluster network" CNI connects pods to
    c = Containerd(bin_dir=os.path.join(BUILD, "bin"), keep_log_dir=os.path.join(BUILD, "integration-logs"),
                   log_level=os.environ.get("AIRLOCK_IT_LOG_LEVEL", "debug"))
    policies = {"agent": os.path.join(c.airlock_dir, "cri-agent.yaml"),
                "broken": os.path.join(c.airlock_dir, "cri-broken.yaml"),
                "internet": os.path.join(c.airlock_dir, "cri-internet.yaml")}
    with open(policies["agent"], "w") as f:
        f.write(policy_yaml(required=False))
    with open(policies["internet"], "w") as f:
        f.write(policy_yaml(uplink="pod", execution="proxy",
                            proxy={"allow": ["mirror.cluster", "self.cluster"], "ports": [network.port]}))
    with open(policies["broken"], "w") as f:
        f.write("version: 1\nnetwork:\n  setup: {uplink: [\n")
    runtimes = {
        "runc": {"type": "io.containerd.runc.v2", "options": {"Root": c.runc_state_dir()}},
        "airlock": {"type": AIRLOCK_RUNTIME, "options": {"ConfigPath": c.passthrough_policy}},
        "airlock-agent": {"type": AIRLOCK_RUNTIME, "options": {"ConfigPath": policies["agent"]},
                          "container_annotations": ["airlock.dev/*"]},
        "airlock-broken": {"type": AIRLOCK_RUNTIME, "options": {"ConfigPath": policies["broken"]}},
        "airlock-internet": {"type": AIRLOCK_RUNTIME, "options": {"ConfigPath": policies["internet"]},
                             "pod_annotations": ["airlock.dev/*"], "container_annotations": ["airlock.dev/*"]},
    }
    # The example's handler as a user would merge it, with the example policy.
    example = _example_handler()
    example["options"]["ConfigPath"] = os.path.join(EXAMPLES, "agent-policy.yaml")
    runtimes["airlock-pod"] = example
    c.set_cri_runtimes(runtimes, cni_upstream=network.name)
    session = Cri(c, CLIENT)
    session.agent_policy = policies["agent"]
    session.network = network
    try:
        c.start()
        for archive in (IMAGE, PAUSE_IMAGE):
            c.ctr("-n", CRI_NAMESPACE, "images", "import", archive, timeout=120, check=True, namespaced=False)
        c.import_image(IMAGE)  # for ctr in the harness's own namespace
        yield session
    finally:
        problems = []
        for pod in list(session.pods):
            try:
                session.remove_pod(pod)
            except (AssertionError, OSError, subprocess.SubprocessError) as e:
                problems.append(f"pod {pod}: {e}")
        problems += c.teardown()
        problems += network.teardown()
        if problems:
            raise AssertionError("CRI teardown left things behind:\n  " + "\n  ".join(problems))


@pytest.mark.parametrize("handler", ["runc", "airlock"])
def test_pod_lifecycle_as_the_kubelet_drives_it(cri, handler):
    """Pod, container, logs, exec, stop, removal: the same answers from runc-v2 and from the airlock
    shim with a passthrough policy, and nothing left after."""
    pod, pod_config = cri.run_pod(handler, f"life-{handler}")
    status = cri.call("PodSandboxStatus", {"pod_sandbox_id": pod})["status"]
    assert status.get("state", "SANDBOX_READY") == "SANDBOX_READY", status
    assert status.get("runtime_handler") == handler, status

    data = os.path.join(cri.ctrd.base, f"data-{handler}")
    os.makedirs(data)
    with open(os.path.join(data, "in"), "w") as f:
        f.write("from-the-host\n")
    entry = ('trap "exit 143" TERM; echo "out $GREETING"; echo err >&2; cat /data/in; '
             'touch /data/x 2>/dev/null && echo data-writable || echo data-readonly; sleep 600 & wait')
    cid = cri.create(pod, pod_config, "main", ["sh", "-c", entry], envs={"GREETING": f"hi-{handler}"},
                     mounts=[{"container_path": "/data", "host_path": data, "readonly": True}])
    assert cri.status(cid).get("state", "CONTAINER_CREATED") == "CONTAINER_CREATED"
    cri.call("StartContainer", {"container_id": cid})
    running = cri.wait_state(cid, "CONTAINER_RUNNING")
    assert int(running["started_at"]) > 0, running
    assert cri.containers(pod) == [cid]

    log = os.path.join(pod_config["log_directory"], "main.log")
    want = [("stdout", f"out hi-{handler}"), ("stderr", "err"), ("stdout", "from-the-host"),
            ("stdout", "data-readonly")]
    procs.wait_until(lambda: all(w in [(s, t) for s, _, t in _log_lines(log)] for w in want), 15, interval=0.1)
    got = _log_lines(log)
    assert all(w in [(s, t) for s, _, t in got] for w in want), got
    assert all(tag == "F" for _, tag, _ in got), got  # full lines, none split

    rc, out, err = cri.exec_sync(cid, ["sh", "-c", "echo exec-out; echo exec-err >&2; exit 3"])
    assert (rc, out, err) == (3, "exec-out\n", "exec-err\n")
    rc, out, _ = cri.exec_sync(cid, ["cat", "/data/in"])
    assert (rc, out) == (0, "from-the-host\n")
    with pytest.raises(CriError) as missing:
        cri.exec_sync(cid, ["/no/such/binary"])
    assert "no/such/binary" in missing.value.message or "not found" in missing.value.message.lower()

    # Stats and a resource update, as the kubelet's resource manager makes them.
    stats = cri.call("ContainerStats", {"container_id": cid})["stats"]
    assert stats["attributes"]["id"] == cid, stats
    assert int(stats["cpu"]["usage_core_nano_seconds"]["value"]) > 0, stats
    assert int(stats["memory"]["working_set_bytes"]["value"]) > 0, stats
    limit = 96 * 1024 * 1024
    cri.call("UpdateContainerResources", {"container_id": cid, "linux": {"memory_limit_in_bytes": limit}})
    rc, out, _ = cri.exec_sync(cid, ["sh", "-c", "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                                     "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"])
    assert (rc, out.strip()) == (0, str(limit)), (rc, out)

    started = time.monotonic()
    cri.call("StopContainer", {"container_id": cid, "timeout": 10})
    exited = cri.wait_state(cid, "CONTAINER_EXITED")
    assert exited.get("exit_code") == 143 and exited.get("reason") == "Error", exited
    assert time.monotonic() - started < 10, "SIGTERM did not end the container; the timeout's SIGKILL did"
    with pytest.raises(CriError):
        cri.exec_sync(cid, ["true"])
    cri.call("RemoveContainer", {"container_id": cid})
    with pytest.raises(CriError) as gone:
        cri.status(cid)
    assert gone.value.name == "NOT_FOUND", gone.value
    cri.remove_pod(pod)
    _assert_clean(cri.ctrd, [pod, cid])


@pytest.mark.parametrize("handler,setup", [("runc", None), ("airlock-agent", None), ("airlock-agent", "sleep 600")],
                         ids=["runc", "airlock-no-setup", "airlock-long-setup"])
def test_stop_right_after_start_ends_with_the_stop_signal(cri, handler, setup):
    """The kubelet's StopContainer right after StartContainer (issue 14, item 9): the SIGTERM ends
    the container (143), it is not lost until the stop timeout's SIGKILL (137), also while setup
    runs or the seal is under way."""
    pod, pod_config = cri.run_pod(handler, f"stop-{handler}")
    annotations = {}
    if handler == "airlock-agent":
        with open(cri.agent_policy, "w") as f:
            f.write(policy_yaml(required=False))
        repo = os.path.join(cri.ctrd.repos_root, f"cri-{secrets.token_hex(4)}")
        os.makedirs(repo)
        annotations["airlock.dev/repo"] = repo
        if setup:
            annotations["airlock.dev/setup"] = setup
    cid = cri.create(pod, pod_config, "main", ["sh", "-c", "trap 'exit 143' TERM; sleep 600 & wait"],
                     annotations=annotations)
    cri.call("StartContainer", {"container_id": cid})
    cri.call("StopContainer", {"container_id": cid, "timeout": 30})
    exited = cri.wait_state(cid, "CONTAINER_EXITED")
    assert exited.get("exit_code") == 143, exited
    cri.call("RemoveContainer", {"container_id": cid})
    cri.remove_pod(pod)
    _assert_clean(cri.ctrd, [pod, cid])


@pytest.mark.parametrize("handler", ["runc", "airlock-agent"])
def test_pod_hostname_and_sysctls_reach_the_container(cri, handler):
    """The pod's hostname and namespaced sysctls (issue 14, items 8 and 10). Under runc-v2 a pod's
    container shares the pod's UTS, network and IPC namespaces, where the CRI set them; under an
    airlock policy the container has its own, and the shim sets the pod's hostname and sysctls in
    them: `hostname` says the pod's name (not the node's) and /proc/sys the pod's values."""
    suffix = secrets.token_hex(3)
    hostname = f"agent-pod-{suffix}"
    sysctls = {"net.ipv4.ip_unprivileged_port_start": "99", "kernel.shm_rmid_forced": "1"}
    pod, pod_config = cri.run_pod(handler, f"names-{handler}", network="POD", hostname=hostname, sysctls=sysctls)
    annotations = {}
    if handler == "airlock-agent":
        with open(cri.agent_policy, "w") as f:
            f.write(policy_yaml(required=False))
    cid = cri.create(pod, pod_config, "main", ["sleep", "600"], annotations=annotations)
    cri.call("StartContainer", {"container_id": cid})
    cri.wait_state(cid, "CONTAINER_RUNNING")
    rc, out, err = cri.exec_sync(cid, ["sh", "-c", "hostname; uname -n; cat /etc/hostname; "
                                       "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shm_rmid_forced"])
    assert rc == 0, err
    assert out.split() == [hostname, hostname, hostname, "99", "1"], out
    cri.call("StopContainer", {"container_id": cid, "timeout": 1})
    cri.call("RemoveContainer", {"container_id": cid})
    cri.remove_pod(pod)
    _assert_clean(cri.ctrd, [pod, cid])


def test_agent_pod_sets_up_then_runs_sealed(cri):
    """The airlock under Kubernetes: the setup command (a container annotation) fetches from the
    test's upstream with the secret; the agent then runs with only lo, a read-only rootfs, a
    writable workspace, no secret and the execution filter, and an exec (the kubelet's ExecSync)
    gets the same. `airlock verify` holds; removal leaves nothing, upstream included."""
    upstream = Upstream().start()
    try:
        _agent_pod(cri, upstream)
        assert_upstream_clean(upstream)
    finally:
        problems = upstream.teardown()
    assert not problems, problems


def _agent_pod(cri, upstream):
    secret = "s3cr3t-" + secrets.token_hex(6)
    with open(cri.agent_policy, "w") as f:
        f.write(policy_yaml(uplink=f"netns:{upstream.path}", rootfs_setup="writable", secrets_=["TEST_SECRET"],
                            required=False))
    pod, pod_config = cri.run_pod("airlock-agent", "agent")
    repo = os.path.join(cri.ctrd.repos_root, f"cri-{secrets.token_hex(4)}")
    os.makedirs(repo)
    setup = setup_fetch_script(upstream.port, extra='echo "${#TEST_SECRET}" > /workspace/setup-secret-length; ')
    entry = (PROBE_FN
             + "probe links ip -o link; "
             + "probe rootfs touch /agent-was-here; "
             + "probe secret sh -c 'echo \"[$TEST_SECRET]\"'; "
             + f"probe fetch sh -c 'timeout 10 wget -q -O /tmp/pkg \"http://$(cat /workspace/gateway):{upstream.port}/pkg?from=agent\"'; "
             + "probe seccomp grep Seccomp: /proc/self/status; "
             + "echo agent-edit > /workspace/edit; finish; exec sleep 600")
    cid = cri.create(pod, pod_config, "agent", ["sh", "-c", entry], envs={"TEST_SECRET": secret},
                     annotations={"airlock.dev/repo": repo, "airlock.dev/setup": setup})
    cri.call("StartContainer", {"container_id": cid})
    cri.wait_state(cid, "CONTAINER_RUNNING")
    probes = wait_probes(repo)

    # Setup: the uplink besides lo, the package fetched through it, the secret in its environment.
    with open(os.path.join(repo, "setup-links")) as f:
        assert len(link_names(f.read())) == 2
    assert sha256_file(os.path.join(repo, "pkg")) == upstream.sha256
    assert [r[2] for r in upstream.requests()] == ["/pkg?from=setup"], upstream.requests()
    # The agent: sealed.
    assert link_names(probes["links"][1]) == ["lo"], probes["links"]
    assert probes["rootfs"][0] != 0 and "Read-only" in probes["rootfs"][1], probes["rootfs"]
    with open(os.path.join(repo, "setup-secret-length")) as f:
        assert f.read() == f"{len(secret)}\n", "setup ran without the secret"
    assert probes["secret"][1] == "[]\n", probes["secret"]
    assert probes["fetch"][0] != 0, probes["fetch"]
    assert probes["seccomp"][1].split() == ["Seccomp:", "2"], probes["seccomp"]
    with open(os.path.join(repo, "edit")) as f:
        assert f.read() == "agent-edit\n"
    # The kubelet's exec after the seal: filtered, no secret, no network.
    rc, out, _ = cri.exec_sync(cid, ["sh", "-c", 'grep Seccomp: /proc/self/status; echo "[$TEST_SECRET]"; '
                                     "ip -o link | wc -l"])
    assert rc == 0 and out.split() == ["Seccomp:", "2", "[]", "1"], out

    status = json.loads(_cli("status", "--json", "-n", CRI_NAMESPACE, cid).stdout)
    assert field(status, "phase") == "sealed" and field(status, "verified") is True, status
    assert field(status, "seal_trigger") == "setup-exit", status
    verify = _cli("verify", "-n", CRI_NAMESPACE, cid)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    held = [line.split()[1] for line in verify.stdout.splitlines() if line.strip().startswith("held")]
    assert sorted(held) == sorted(VERIFY_PROBES + SETUP_VERIFY_PROBES), verify.stdout
    # The pod's sandbox (pause) container ran as its spec says; the agent is the sandbox.
    rows = [line.split()[:2] for line in _cli("ls", "-n", CRI_NAMESPACE).stdout.splitlines()[1:]]
    assert [pod, "passthrough"] in rows and [cid, "sealed"] in rows, rows

    # The agent's sleep is PID 1 of a private pid namespace here (the airlock shares no namespace
    # with the pause container): SIGTERM does nothing, the stop's SIGKILL ends it.
    cri.call("StopContainer", {"container_id": cid, "timeout": 2})
    assert cri.wait_state(cid, "CONTAINER_EXITED").get("exit_code") == 137
    cri.call("RemoveContainer", {"container_id": cid})
    cri.remove_pod(pod)
    _assert_clean(cri.ctrd, [pod, cid])
    assert os.listdir(repo) and "edit" in os.listdir(repo), "the repository stays, with the agent's work"


def test_pod_network_lends_setup_its_uplink_then_seals(cri):
    """The Kubernetes example as is (examples/kubernetes: the handler, `uplink: pod`, pod
    annotations): the pod gets its network from CNI; the pause container keeps it; the agent
    container's setup reaches the cluster network through NAT to the pod's address, with the
    secret; then the agent runs sealed. Nothing of the airlock is left in the pod's netns after the
    seal, nor anything anywhere after removal."""
    network = cri.network
    repo = os.path.join(cri.ctrd.repos_root, f"pod-{secrets.token_hex(4)}")
    os.makedirs(repo)
    token = "npm-" + secrets.token_hex(6)
    local_port = 20000 + secrets.randbelow(10000)
    # Setup learns where the cluster's mirror is from the workspace (written once CNI has chosen);
    # it also tries the pod's own netns (the pod's address, and its gateway there): no way in.
    setup = ('set -e; ip -o link > /workspace/setup-links; echo "${#NPM_TOKEN}" > /workspace/setup-token-length; '
             'gw=$(ip route | awk \'$1 == "default" {print $3; exit}\'); '
             f'for a in $(cat /workspace/pod-ip) $gw; do timeout 2 wget -q -O /dev/null "http://$a:{local_port}/" '
             '&& echo "$a" >> /workspace/pod-netns-reached; done; '
             f'timeout 20 wget -q -O /workspace/pkg "http://$(cat /workspace/mirror):{network.port}/pkg?from=setup"')
    pod, pod_config = cri.run_pod("airlock-pod", "pod-net", network="POD",
                                  annotations={"airlock.dev/repo": repo, "airlock.dev/setup": setup})
    pod_ip, mirror = pod_addresses(pod)
    status = cri.call("PodSandboxStatus", {"pod_sandbox_id": pod})["status"]
    assert status.get("network", {}).get("ip") == pod_ip, status
    for name, value in (("mirror", mirror), ("pod-ip", pod_ip)):
        with open(os.path.join(repo, name), "w") as f:
            f.write(value + "\n")
    # A service in the pod's netns (as a sidecar's would be), up before setup runs.
    pause_pid = int(_pod_task_pid(cri.ctrd, pod))
    www = os.path.join(cri.ctrd.base, f"www-{local_port}")
    os.makedirs(www)
    listener = subprocess.Popen(["nsenter", f"--net=/proc/{pause_pid}/ns/net", "/usr/bin/python3", "-m", "http.server",
                                 "--bind", "0.0.0.0", str(local_port)], cwd=www,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        connect = f"import socket; socket.create_connection(('{pod_ip}', {local_port}), 2).close()"
        assert procs.wait_until(lambda: _in_netns(pause_pid, "/usr/bin/python3", "-c", connect)[0] == 0, 15, 0.2), \
            "the pod-local listener never answered inside the pod's netns"
        _agent_in_pod(cri, pod, pod_config, repo, token, pod_ip, mirror, pause_pid)
    finally:
        listener.kill()
        listener.wait(10)


def _agent_in_pod(cri, pod, pod_config, repo, token, pod_ip, mirror, pause_pid):
    network = cri.network
    # The pause container ran as its spec says: no sandbox of its own, the repository not staged.
    listed = _cli("ls", "-n", CRI_NAMESPACE).stdout
    assert any(line.split()[:2] == [pod, "passthrough"] for line in listed.splitlines()[1:]), listed
    assert not os.path.exists(os.path.join("/run/airlock/workspaces", sandbox_name(CRI_NAMESPACE, pod)))

    entry = (PROBE_FN + "probe links ip -o link; probe token sh -c 'echo \"[$NPM_TOKEN]\"'; "
             f"probe fetch sh -c 'timeout 10 wget -q -O /tmp/pkg \"http://{mirror}:{network.port}/pkg?from=agent\"'; "
             "probe rootfs touch /agent-was-here; finish; exec sleep 600")
    cid = cri.create(pod, pod_config, "agent", ["sh", "-c", entry], envs={"NPM_TOKEN": token})
    cri.call("StartContainer", {"container_id": cid})
    probes = wait_probes(repo)

    with open(os.path.join(repo, "setup-links")) as f:
        assert len(link_names(f.read())) == 2, "setup: lo and the uplink into the pod's netns"
    with open(os.path.join(repo, "setup-token-length")) as f:
        assert f.read() == f"{len(token)}\n"
    assert sha256_file(os.path.join(repo, "pkg")) == network.sha256
    assert not os.path.exists(os.path.join(repo, "pod-netns-reached")), "setup reached into the pod's netns"
    # The mirror saw setup's request from the pod's address (NAT in the pod's netns), nothing else.
    assert [(r[0], r[2], r[3]) for r in network.requests()] == [(pod_ip, "/pkg?from=setup", 200)], \
        network.requests()
    assert link_names(probes["links"][1]) == ["lo"], probes["links"]
    assert probes["token"][1] == "[]\n", probes["token"]
    assert probes["fetch"][0] != 0, probes["fetch"]
    assert probes["rootfs"][0] != 0, probes["rootfs"]
    status = json.loads(_cli("status", "--json", "-n", CRI_NAMESPACE, cid).stdout)
    assert field(status, "phase") == "sealed" and field(status, "verified") is True, status
    assert field(status, "seal_trigger") == "setup-exit", status

    # The pod's netns holds only what CNI made: lo and eth0; no airlock veth or nft table is left
    # in it, and forwarding (off before, on for setup) is off again.
    assert procs.wait_until(lambda: _in_netns(pause_pid, "ip", "-o", "link")[1].count(": ") and
                            link_names(_in_netns(pause_pid, "ip", "-o", "link")[1]) == ["lo", "eth0"], 10, 0.1), \
        _in_netns(pause_pid, "ip", "-o", "link")
    tables = _in_netns(pause_pid, "nft", "list", "tables")
    assert tables[0] == 0 and "airlock" not in tables[1], tables
    assert _in_netns(pause_pid, "cat", "/proc/sys/net/ipv4/ip_forward")[1].strip() == "0"

    cri.call("StopContainer", {"container_id": cid, "timeout": 2})
    cri.wait_state(cid, "CONTAINER_EXITED")
    cri.call("RemoveContainer", {"container_id": cid})
    cri.remove_pod(pod)
    _assert_clean(cri.ctrd, [pod, cid])
    assert upstream_link(pod) not in (network.links() or []), "CNI's DEL left its veth in the cluster network"
    assert_upstream_clean(network)


def test_agent_pod_reaches_the_cluster_mirror_only_through_the_proxy(cri):
    """An agent pod with `network.execution: proxy` and `uplink: pod`: sealed, its only way out is
    the shim's proxy, whose upstream connections leave from the pod's netns (the pod's address, the
    cluster's policies); the pod's own address is refused like the host's."""
    network = cri.network
    repo = os.path.join(cri.ctrd.repos_root, f"pod-px-{secrets.token_hex(4)}")
    os.makedirs(repo)
    seen_before = len(network.requests())  # the cluster network is the module's: earlier tests' requests
    pod, pod_config = cri.run_pod("airlock-internet", "pod-px", network="POD", annotations={"airlock.dev/repo": repo})
    pod_ip, mirror = pod_addresses(pod)
    hosts = os.path.join(cri.ctrd.base, f"hosts-{pod}")
    with open(hosts, "w") as f:
        f.write(f"{mirror} mirror.cluster\n{pod_ip} self.cluster\n")
    # Read when the container is made: both addresses allowed as ranges; the pod's own stays refused.
    cri.ctrd.set_proxy(hosts, [f"{mirror}/32", f"{pod_ip}/32"])
    try:
        entry = (f"wget -q -O /workspace/pkg 'http://mirror.cluster:{network.port}/pkg?from=proxy' 2>/dev/null; "
                 f"wget -q -O - 'http://self.cluster:{network.port}/' 2>/dev/null || echo refused > /workspace/self; "
                 f"wget -q -O - 'http://{mirror}:{network.port}/pkg?from=direct' --proxy off 2>/dev/null "
                 "|| echo unreachable > /workspace/direct; touch /workspace/done; exec sleep 600")
        cid = cri.create(pod, pod_config, "agent", ["sh", "-c", entry])
        cri.call("StartContainer", {"container_id": cid})
        assert procs.wait_until(lambda: os.path.exists(os.path.join(repo, "done")), 60), os.listdir(repo)
        assert sha256_file(os.path.join(repo, "pkg")) == network.sha256
        assert open(os.path.join(repo, "self")).read() == "refused\n"
        assert open(os.path.join(repo, "direct")).read() == "unreachable\n"
        # The mirror saw one request, from the pod's address: the proxy connected from the pod's netns.
        assert [(r[0], r[2], r[3]) for r in network.requests()[seen_before:]] == [(pod_ip, "/pkg?from=proxy", 200)], \
            network.requests()
        status = json.loads(_cli("status", "--json", "-n", CRI_NAMESPACE, cid).stdout)
        assert field(status, "phase") == "sealed" and field(status, "verified") is True, status
        assert field(status, "proxy")["allowed"] == 1 and field(status, "proxy")["refused"] == 1, status
        cri.call("StopContainer", {"container_id": cid, "timeout": 2})
        cri.wait_state(cid, "CONTAINER_EXITED")
        cri.call("RemoveContainer", {"container_id": cid})
        cri.remove_pod(pod)
        _assert_clean(cri.ctrd, [pod, cid])
        assert_upstream_clean(network)
    finally:
        cri.ctrd.set_proxy(None, [])


def test_a_crashed_shim_leaves_nothing_in_the_pod_netns(cri):
    """The pod's shim is SIGKILLed while setup runs, with the NAT table and forwarding in the pod's
    netns: containerd's cleanup of the dead shim's tasks (`shim delete`) removes both, whichever of
    the pod's tasks it cleans up first."""
    repo = os.path.join(cri.ctrd.repos_root, f"crash-{secrets.token_hex(4)}")
    os.makedirs(repo)
    pod, pod_config = cri.run_pod("airlock-pod", "crash", network="POD",
                                  annotations={"airlock.dev/repo": repo, "airlock.dev/setup": "sleep 60"})
    pause_pid = int(_pod_task_pid(cri.ctrd, pod))
    pod_netns = os.open(f"/proc/{pause_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)  # outlives the pause
    try:
        cid = cri.create(pod, pod_config, "agent", ["true"])
        cri.call("StartContainer", {"container_id": cid})
        table = f"airlock-{sandbox_name(CRI_NAMESPACE, cid)}"

        def pod_netns_state():
            _, tables = _in_fd_netns(pod_netns, "nft", "list", "tables")
            _, forward = _in_fd_netns(pod_netns, "cat", "/proc/sys/net/ipv4/ip_forward")
            return table in tables.split(), forward.strip()
        assert procs.wait_until(lambda: pod_netns_state() == (True, "1"), 15, 0.1), pod_netns_state()

        # The record names the netns by the path containerd pinned it at, not by the pause's pid.
        record = os.path.join(POD_NETNS_DIR, CRI_NAMESPACE, cid)
        with open(record) as f:
            recorded_path = f.readline().strip()
        assert recorded_path.startswith(cri.ctrd.state) and "/proc/" not in recorded_path, recorded_path
        shims = [pid for pid in _shims_of(cri.ctrd) if pod in procs.cmdline(pid)]
        assert len(shims) == 1, shims
        os.kill(shims[0], signal.SIGKILL)
        assert procs.wait_until(lambda: pod_netns_state() == (False, "0"), 30, 0.2), pod_netns_state()
        assert procs.wait_until(lambda: not os.path.exists(record), 10, 0.1), record
    finally:
        os.close(pod_netns)
    for call, request in (("RemoveContainer", {"container_id": cid}),):
        cri.call(call, request)
    cri.remove_pod(pod)
    _assert_clean(cri.ctrd, [pod, cid])


def test_uplink_pod_needs_a_pod_network(cri):
    """`uplink: pod` in a pod on the node's network has nothing to borrow (the CRI has the pod's
    containers join the pause container's netns, here the host's): the container does not start
    (the CRI makes the task at StartContainer) and says why; the pod itself is fine and goes away
    cleanly."""
    repo = os.path.join(cri.ctrd.repos_root, f"hostnet-{secrets.token_hex(4)}")
    os.makedirs(repo)
    pod, pod_config = cri.run_pod("airlock-pod", "pod-hostnet", annotations={"airlock.dev/repo": repo})
    cid = cri.create(pod, pod_config, "agent", ["true"])
    with pytest.raises(CriError) as failed:
        cri.call("StartContainer", {"container_id": cid})
    assert "setup uplink pod: /proc/" in failed.value.message, failed.value
    assert "is the host's network namespace, not a pod's" in failed.value.message, failed.value
    cri.call("RemoveContainer", {"container_id": cid})
    cri.remove_pod(pod)
    _assert_clean(cri.ctrd, [pod, cid])


def test_uplink_pod_outside_a_pod_is_refused(cri):
    """The example policy with plain `ctr run` (a new netns, no pod): nothing to borrow, Create
    fails with the reason and leaves nothing."""
    repo = os.path.join(cri.ctrd.repos_root, f"nopod-{secrets.token_hex(4)}")
    os.makedirs(repo)
    cid = f"it-cri-nopod-{secrets.token_hex(3)}"
    r = cri.ctrd.run(AIRLOCK_RUNTIME, cid, "true", timeout=60,
                     extra=["--runtime-config-path", os.path.join(EXAMPLES, "agent-policy.yaml"),
                            "--annotation", f"airlock.dev/repo={repo}"])
    try:
        assert r.rc != 0 and "setup uplink pod: the container's spec joins no network namespace to borrow" in r.err, r
        assert procs.wait_until(lambda: not cri.ctrd.leftovers(cid), 10, interval=0.1), cri.ctrd.leftovers(cid)
    finally:
        cri.ctrd.force_remove(cid)


def test_a_broken_policy_fails_the_pod_with_its_reason(cri):
    """A RuntimeClass whose policy file does not parse: RunPodSandbox fails and says where,
    nothing is left, and the next pod on a good handler still runs."""
    shims_before = _shims_of(cri.ctrd)
    with pytest.raises(CriError) as failed:
        cri.run_pod("airlock-broken", "broken")
    message = failed.value.message
    assert "cri-broken.yaml" in message, message
    assert procs.wait_until(lambda: _shims_of(cri.ctrd) == shims_before, 10, interval=0.1), \
        f"shims left after the failed pod: {set(_shims_of(cri.ctrd)) - set(shims_before)}"
    pod, _ = cri.run_pod("airlock", "after-broken")
    cri.remove_pod(pod)
    _assert_clean(cri.ctrd, [pod])


def _example_handler():
    """The "airlock" handler of examples/kubernetes/containerd-config.toml, as the harness takes it."""
    with open(os.path.join(EXAMPLES, "containerd-config.toml"), "rb") as f:
        config = tomllib.load(f)
    handler = config["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["airlock"]
    assert set(handler) <= {"runtime_type", "pod_annotations", "container_annotations", "options"}, handler
    return {"type": handler["runtime_type"], "options": dict(handler.get("options", {})),
            "pod_annotations": handler.get("pod_annotations", []),
            "container_annotations": handler.get("container_annotations", [])}


def _pod_task_pid(ctrd, pod):
    r = ctrd.ctr("-n", CRI_NAMESPACE, "task", "ls", namespaced=False, check=True)
    for line in r.out.splitlines()[1:]:
        parts = line.split()
        if parts and parts[0] == pod:
            return parts[1]
    raise AssertionError(f"no task for pod {pod}: {r.out}")


def _in_netns(pid, *argv):
    return _nsenter(f"/proc/{pid}/ns/net", argv)


def _in_fd_netns(fd, *argv):
    return _nsenter(f"/proc/self/fd/{fd}", argv, pass_fds=(fd,))


def _nsenter(netns_path, argv, pass_fds=()):
    p = subprocess.run(["nsenter", f"--net={netns_path}", *argv], capture_output=True, text=True, timeout=20,
                       pass_fds=pass_fds)
    return p.returncode, p.stdout + p.stderr


def _cli(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)
