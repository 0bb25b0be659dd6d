#!/usr/bin/python3
"""A CNI plugin for the CRI tests, installed under two names in the test's private CNI bin dir:

  loopback        brings lo up in the pod's netns (containerd's CRI asks for it for every pod)
  airlock-it-ptp  a veth from the pod's netns ("eth0") into the test's upstream netns (the
                  config's "upstream": a name under /run/netns), a /30 of 198.19.0.0/16 chosen
                  from the container id (pod_addresses() below, which the test uses too), the
                  upstream end as the pod's default gateway

It plays the cluster network a kubelet's CNI would set up, confined to namespaces the test made:
nothing is added to the host's netns. CNI spec 0.4.0: the config on stdin, CNI_* in the environment,
the result on stdout, errors as {"code", "msg"} with exit 1.
"""

import hashlib
import json
import os
import subprocess
import sys

SUPPORTED = ["0.3.0", "0.3.1", "0.4.0"]


def pod_addresses(container_id):
    """(pod address, upstream address) of a pod's /30, both without the prefix length."""
    h = hashlib.sha256(container_id.encode()).digest()
    base = (h[0] << 8) | (h[1] & 0xFC)
    return (f"198.19.{base >> 8}.{(base & 0xFF) + 2}", f"198.19.{base >> 8}.{(base & 0xFF) + 1}")


def upstream_link(container_id):
    return "cni" + hashlib.sha256(container_id.encode()).hexdigest()[:10]


def fail(msg):
    print(json.dumps({"cniVersion": "0.4.0", "code": 100, "msg": msg}))
    sys.exit(1)


def run(*argv):
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=20)
    if p.returncode != 0:
        fail(f"{' '.join(argv)}: {p.stderr.strip()}")


def in_pod(netns, *argv):
    run("nsenter", f"--net={netns}", *argv)


def main():
    command = os.environ.get("CNI_COMMAND", "")
    if command == "VERSION":
        print(json.dumps({"cniVersion": "0.4.0", "supportedVersions": SUPPORTED}))
        return
    config = json.loads(sys.stdin.read() or "{}")
    version = config.get("cniVersion", "0.4.0")
    netns = os.environ.get("CNI_NETNS", "")
    cid = os.environ.get("CNI_CONTAINERID", "")
    ifname = os.environ.get("CNI_IFNAME", "eth0")
    kind = os.path.basename(sys.argv[0])
    if command in ("CHECK",):
        return
    if kind == "loopback":
        if command == "ADD":
            in_pod(netns, "ip", "link", "set", "lo", "up")
            print(json.dumps({"cniVersion": version, "interfaces": [{"name": "lo", "sandbox": netns}],
                              "ips": [{"version": "4", "address": "127.0.0.1/8", "interface": 0}]}))
        return
    upstream = config.get("upstream", "")
    if not upstream or "/" in upstream:
        fail("config needs \"upstream\": a netns name under /run/netns")
    link = upstream_link(cid)
    if command == "DEL":
        # The pod's netns may be gone already; the upstream end is ours to remove either way.
        subprocess.run(["ip", "-n", upstream, "link", "del", link], capture_output=True, timeout=20)
        return
    if command != "ADD":
        fail(f"unknown CNI_COMMAND {command!r}")
    pod, gateway = pod_addresses(cid)
    in_pod(netns, "ip", "link", "add", ifname, "type", "veth", "peer", "name", link, "netns", upstream)
    run("ip", "-n", upstream, "addr", "add", f"{gateway}/30", "dev", link)
    run("ip", "-n", upstream, "link", "set", link, "up")
    in_pod(netns, "ip", "addr", "add", f"{pod}/30", "dev", ifname)
    in_pod(netns, "ip", "link", "set", ifname, "up")
    in_pod(netns, "ip", "route", "add", "default", "via", gateway)
    # A new netns copies the host's IPv4 forwarding setting; a pod's starts with it off here, so the
    # test sees what the airlock turns on and back off whatever the host has.
    in_pod(netns, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")
    print(json.dumps({"cniVersion": version,
                      "interfaces": [{"name": ifname, "sandbox": netns}],
                      "ips": [{"version": "4", "address": f"{pod}/30", "gateway": gateway, "interface": 0}],
                      "routes": [{"dst": "0.0.0.0/0", "gw": gateway}],
                      "dns": {}}))


if __name__ == "__main__":
    main()
