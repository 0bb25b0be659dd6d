"""The kubelet's side of the CRI (runtime.v1) for the CRI tests and the bench: one call of
build/bin/cri_client (test/cri/) per method, JSON in and out."""

import base64
import json
import os
import secrets
import subprocess

from . import procs

BUSYBOX = "localhost/airlock/busybox:latest"


class CriError(AssertionError):
    def __init__(self, method, error):
        super().__init__(f"CRI {method}: {error.get('name')}: {error.get('message')}")
        self.method, self.code, self.name, self.message = (method, error.get("code"), error.get("name"),
                                                           error.get("message", ""))


class Cri:
    """The kubelet's side: one cri_client call per method; every pod made is tracked so the
    fixture can stop and remove what a failed test left."""

    def __init__(self, ctrd, client):
        self.ctrd = ctrd
        self.client = client
        self.pods = []
        self.logs = os.path.join(ctrd.base, "pod-logs")

    def call(self, method, request=None, timeout=120):
        argv = [self.client, "--address", self.ctrd.sock, "--timeout", str(timeout), method,
                json.dumps(request or {})]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30)
        if p.returncode not in (0, 1) or not p.stdout.strip():
            raise AssertionError(f"cri_client {method} failed: rc={p.returncode} {p.stderr}")
        reply = json.loads(p.stdout)
        if "error" in reply:
            raise CriError(method, reply["error"])
        return reply

    def pod_config(self, name, annotations=None, network="NODE", hostname=None, sysctls=None):
        uid = f"{name}-{secrets.token_hex(4)}"
        config = {"metadata": {"name": name, "uid": uid, "namespace": "airlock-it"},
                  "log_directory": os.path.join(self.logs, uid),
                  "annotations": annotations or {},
                  # Under the harness's cgroup, so its teardown finds whatever a failure leaves.
                  "linux": {"cgroup_parent": f"/{self.ctrd.namespace}",
                            "security_context": {"namespace_options": {"network": network}}}}
        if hostname:
            config["hostname"] = hostname
        if sysctls:
            config["linux"]["sysctls"] = sysctls
        return config

    def run_pod(self, handler, name, annotations=None, network="NODE", hostname=None, sysctls=None):
        config = self.pod_config(name, annotations, network, hostname, sysctls)
        os.makedirs(config["log_directory"], exist_ok=True)
        pod = self.call("RunPodSandbox", {"config": config, "runtime_handler": handler})["pod_sandbox_id"]
        self.pods.append(pod)
        return pod, config

    def create(self, pod, pod_config, name, command, envs=None, mounts=None, annotations=None, image=BUSYBOX):
        config = {"metadata": {"name": name}, "image": {"image": image}, "command": list(command),
                  "envs": [{"key": k, "value": v} for k, v in (envs or {}).items()],
                  "mounts": mounts or [], "annotations": annotations or {},
                  "log_path": f"{name}.log",
                  # The kubelet's default: a pid namespace of the container's own (no shareProcessNamespace).
                  "linux": {"security_context": {"namespace_options": {"pid": "CONTAINER"}}}}
        return self.call("CreateContainer", {"pod_sandbox_id": pod, "config": config,
                                             "sandbox_config": pod_config})["container_id"]

    def status(self, cid):
        return self.call("ContainerStatus", {"container_id": cid})["status"]

    def wait_state(self, cid, state, timeout=30.0, interval=0.1):
        seen = {}

        def reached():
            seen["status"] = self.status(cid)
            return seen["status"].get("state", "CONTAINER_CREATED") == state
        assert procs.wait_until(reached, timeout, interval=interval), \
            f"container {cid} not {state} within {timeout}s: {seen.get('status')}"
        return seen["status"]

    def exec_sync(self, cid, cmd, timeout=20):
        reply = self.call("ExecSync", {"container_id": cid, "cmd": list(cmd), "timeout": timeout},
                          timeout=timeout + 30)
        return (reply.get("exit_code", 0), base64.b64decode(reply.get("stdout", "")).decode(errors="replace"),
                base64.b64decode(reply.get("stderr", "")).decode(errors="replace"))

    def remove_pod(self, pod):
        self.call("StopPodSandbox", {"pod_sandbox_id": pod})
        self.call("RemovePodSandbox", {"pod_sandbox_id": pod})
        if pod in self.pods:
            self.pods.remove(pod)

    def containers(self, pod):
        reply = self.call("ListContainers", {"filter": {"pod_sandbox_id": pod}})
        return [c["id"] for c in reply.get("containers", [])]
