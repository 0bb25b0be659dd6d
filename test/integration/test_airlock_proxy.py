"""The airlock proxy (issue 15): after the seal the sandbox's netns holds loopback only, plus the
shim's listener on 127.0.0.1:3128; what goes out goes through it, judged per request.

The "internet" is a netns the test makes (the upstream fixture's), wired to the host by a veth:
host 198.18.254.1, the mirror .2 (in the host config's proxy.allow) and .130 (not), a link-local
stand-in 169.254.77.78 (never the real metadata address). An HTTP server on :80 and a TLS server
on :443 (a certificate the test makes) run there. Names come from a hosts file the host config
points the proxy at. The client runs in the sandbox's netns (nsenter --net): to the proxy it is
any process of the sandbox.
"""

import hashlib
import json
import os
import secrets
import subprocess
import sys

import pytest

from harness import procs
from harness.airlock import field, policy_yaml
from harness.upstream import ip

HERE = os.path.dirname(os.path.abspath(__file__))
NET = "198.18.254"
STAND_IN = "169.254.77.78"
ALLOW = ["mirror.test", "other.test", "outside.test", "self.test", "loop.test", "metadata.test"]


class Internet:
    def __init__(self, upstream, workdir):
        self.upstream = upstream
        self.dir = workdir
        self.log = os.path.join(workdir, "requests.jsonl")
        self.cert = os.path.join(workdir, "cert.pem")
        self.key = os.path.join(workdir, "key.pem")
        self.hosts = os.path.join(workdir, "hosts")
        self.veth = "apx" + secrets.token_hex(3)
        self.server = None

    def start(self):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", "/CN=mirror.test",
                        "-addext", "subjectAltName=DNS:mirror.test,DNS:other.test"],
                       check=True, capture_output=True, timeout=60)
        with open(self.hosts, "w") as f:
            f.write(f"{NET}.2 mirror.test other.test unlisted.test\n{NET}.130 outside.test\n{NET}.1 self.test\n"
                    f"127.0.0.1 loop.test\n{STAND_IN} metadata.test\n")
        name = self.upstream.name
        ip("link", "add", self.veth, "type", "veth", "peer", "name", "uppx", "netns", name)
        ip("addr", "add", f"{NET}.1/24", "dev", self.veth)
        ip("link", "set", self.veth, "up")
        for address in (f"{NET}.2/24", f"{NET}.130/24", f"{STAND_IN}/32"):
            ip("-n", name, "addr", "add", address, "dev", "uppx")
        ip("-n", name, "link", "set", "uppx", "up")
        ip("-n", name, "route", "add", "default", "via", f"{NET}.1")
        ip("route", "add", f"{STAND_IN}/32", "via", f"{NET}.2", "dev", self.veth)
        popen = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-u", os.path.join(HERE, "harness", "proxy_upstream.py"),
             self.log, self.cert, self.key],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.server = (popen, procs.Proc(popen.pid, "proxy upstream server"))
        ready = popen.stdout.readline().strip()
        assert ready == b"ready", f"the proxy upstream server did not start: {ready!r}"
        return self

    def stop(self):
        if self.server:
            popen, proc = self.server
            procs.kill_all([proc])
            popen.wait(timeout=10)
            popen.stdout.close()
        ip("route", "del", f"{STAND_IN}/32", check=False)
        ip("link", "del", self.veth, check=False)

    def requests(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f]


@pytest.fixture
def internet(airlock, upstream, tmp_path):
    net = Internet(upstream, str(tmp_path))
    try:
        net.start()
        airlock.ctrd.set_proxy(net.hosts, [f"{NET}.0/25"])
        yield net
    finally:
        airlock.ctrd.set_proxy(None, [])
        net.stop()


def client(pid, **request):
    """harness/proxy_client.py in the netns of process `pid` (the sandbox's)."""
    r = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable,
                        os.path.join(HERE, "harness", "proxy_client.py"), json.dumps(request)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    return json.loads(r.stdout)


def get(pid, url, **more):
    return client(pid, op="http", url=url, **more)["responses"][0]


def start_proxied(airlock, proxy, execution="proxy", uplink="none", setup=None, keep=False):
    cid = airlock.new_id()
    policy = airlock.policy(cid, policy_yaml(uplink=uplink, setup=setup, execution=execution, proxy=proxy))
    airlock.start(cid, "sh", "-c", "exec sleep 600", policy=policy, repo=airlock.repo(cid))
    assert procs.wait_until(lambda: field(airlock.status(cid), "phase") == "sealed", 60), airlock.status(cid)
    return cid, int(field(airlock.status(cid), "init_pid"))


def proxy_records(airlock, cid):
    events, _ = airlock.audit(cid)
    return [e for e in events if e["event"] == "proxy"]


def test_proxy_serves_the_allowlist_and_refuses_everything_else(airlock, internet):
    cid, pid = start_proxied(airlock, {"allow": ALLOW})
    status = airlock.status(cid)
    findings = field(status, "seal_findings")
    assert any(f.startswith("proxy 127.0.0.1:3128 listening, the shim's socket") for f in findings), findings
    assert field(status, "proxy")["listener"].startswith("127.0.0.1:3128, the shim's socket"), status

    # Allowed: GET, kept alive for three requests on one connection; the upstream sees its own
    # origin-form request with the proxy's Host and no Proxy-* header.
    r = client(pid, op="http", url="http://mirror.test/hello?x=1", requests=3)["responses"]
    assert [x["status"] for x in r] == [200, 200, 200], r
    assert r[0]["body"] == "hello from mirror.test /hello?x=1\n", r
    seen = internet.requests()
    assert [(q["method"], q["path"], q["host"]) for q in seen] == [("GET", "/hello?x=1", "mirror.test")] * 3, seen
    assert all(not q["proxy_headers"] for q in seen), seen
    assert get(pid, "http://mirror.test/x", method="HEAD")["status"] == 200

    refused = {
        "POST": get(pid, "http://mirror.test/up", method="POST", body="the code"),
        "unlisted": get(pid, "http://unlisted.test/"),
        "literal": get(pid, f"http://{NET}.2/"),
        "port": get(pid, "http://mirror.test:8080/"),
        "outside": get(pid, "http://outside.test/"),
        "self": get(pid, "http://self.test/"),
        "loopback": get(pid, "http://loop.test/"),
        "metadata": get(pid, "http://metadata.test/"),
        "https-url": get(pid, "https://mirror.test/"),
        "origin-form": get(pid, "/relative"),
    }
    reasons = {k: v["headers"].get("x-airlock-refused", "") for k, v in refused.items()}
    assert {k: v["status"] for k, v in refused.items()} == {
        "POST": 403, "unlisted": 403, "literal": 403, "port": 403, "outside": 403, "self": 403, "loopback": 403,
        "metadata": 403, "https-url": 400, "origin-form": 400}, reasons
    assert "method POST is not allowed" in reasons["POST"]
    assert "not in the allowlist" in reasons["unlisted"] and "not in the allowlist" in reasons["literal"]
    assert "port 8080" in reasons["port"]
    assert "refused addresses" in reasons["outside"] and f"{NET}.130" in reasons["outside"]
    assert "own address" in reasons["self"] and "loopback" in reasons["loopback"]
    assert "metadata" in reasons["metadata"], reasons
    # Nothing refused reached the internet.
    assert len(internet.requests()) == 4, internet.requests()

    # HTTPS: CONNECT to an allowed name, the ClientHello naming it.
    ok = client(pid, op="tls", host="mirror.test", sni="mirror.test", ca=internet.cert, path="/tls")
    assert ok.get("ok") and ok["status"] == 200 and ok["body"] == "hello from mirror.test /tls\n", ok
    # Steered: CONNECT to an allowed name, the ClientHello naming another (also allowed) one.
    steered = client(pid, op="tls", host="mirror.test", sni="other.test", ca=internet.cert)
    assert "error" in steered and " 200 " in steered["connect_status"] + " ", steered
    assert "403" in client(pid, op="tls", host="unlisted.test", sni="unlisted.test", ca=internet.cert)["connect_status"]
    # Not TLS inside the tunnel.
    plain = client(pid, op="raw", send="CONNECT mirror.test:443 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert plain["received"] == "HTTP/1.1 200 Connection established\r\n\r\n", plain
    assert len(internet.requests()) == 5, len(internet.requests())

    # Malformed and smuggling-shaped requests get an answer and the proxy keeps serving.
    smuggle = client(pid, op="raw", send="POST http://mirror.test/ HTTP/1.1\r\nContent-Length: 5\r\n"
                                          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert smuggle["received"].startswith("HTTP/1.1 400 "), smuggle
    huge = client(pid, op="raw", send="GET http://mirror.test/ HTTP/1.1\r\nX: " + "a" * 40000 + "\r\n\r\n")
    assert huge["received"].startswith("HTTP/1.1 431 "), huge["received"][:200]
    assert get(pid, "http://mirror.test/after")["status"] == 200
    # Large answers (moved by splice) arrive whole and in order, also several on one connection and
    # pipelined behind one another.
    expected = bytes(i % 256 for i in range(2_000_000))
    big = client(pid, op="http", url="http://mirror.test/bytes/2000000", requests=3)["responses"]
    assert [r["status"] for r in big] == [200] * 3, [r.get("status") for r in big]
    assert all(r["body"].encode("latin-1") == expected for r in big), [r["bytes"] for r in big]
    mixed = client(pid, op="pipeline", url="http://mirror.test/bytes/300000", n=20)["statuses"]
    assert mixed == [200] * 20, mixed
    # Pipelined: 300 requests written at once are answered in order, one at a time (the proxy reads
    # ahead only a bounded queue of them).
    piped = client(pid, op="pipeline", url="http://mirror.test/piped", n=300)["statuses"]
    assert piped == [200] * 300, piped[:5]

    # The agent's own environment and execs know the proxy; busybox wget goes through it.
    r = airlock.ctrd.exec(cid, "wget", "wget", "-q", "-O", "-", "http://mirror.test/from-inside", check=True)
    assert r.stdout == b"hello from mirror.test /from-inside\n", r

    # airlock verify probes the proxy from inside: a refused host, a refused method, the allowed
    # host passing, and a ClientHello steered to another name closed.
    probes = {p["name"]: p for p in airlock.verify(cid).get("probes", [])}
    for name in ("proxy.refuses-unlisted", "proxy.refuses-method", "proxy.allows-listed", "proxy.sni-checked",
                 "network.only-loopback"):
        assert probes.get(name, {}).get("result") == "held", (name, probes.get(name), sorted(probes))
    assert "mirror.test" in probes["proxy.allows-listed"]["detail"], probes["proxy.allows-listed"]

    # One audit record per request, with the decision and the reason.
    records = proxy_records(airlock, cid)
    by_path = {(r.get("method"), r.get("path")): r for r in records}
    post = by_path[("POST", "/up")]
    assert post["decision"] == "refused" and "method POST" in post["reason"] and post["host"] == "mirror.test"
    assert by_path[("GET", "/hello?x=1")]["decision"] == "allowed" and by_path[("GET", "/hello?x=1")]["status"] == 200
    tunnels = [r for r in records if r.get("method") == "CONNECT"]
    assert any(r["decision"] == "allowed" and r["bytes_down"] > 0 for r in tunnels), tunnels
    assert any(r["decision"] == "refused" and "names other.test" in r.get("reason", "") for r in tunnels), tunnels
    status = airlock.status(cid)
    counts = field(status, "proxy")
    assert counts["allowed"] >= 7 and counts["refused"] >= 12, counts
    assert "unlisted.test" in counts["refused_hosts"], counts
    airlock.remove(cid)


def test_proxy_limits_hold(airlock, internet):
    cid, pid = start_proxied(airlock, {"allow": ["mirror.test"],
                                       "limits": {"requests": 3, "bytes_down": "1Mi", "connections": 2}})
    # Two connections at once are served; a third is answered 429 and closed.
    held = client(pid, op="concurrent", n=3)
    assert held["last"].startswith("HTTP/1.1 429 "), held
    assert get(pid, "http://mirror.test/a")["status"] == 200
    big = get(pid, "http://mirror.test/bytes/4000000")
    assert big.get("closed") or big["bytes"] < 4000000, {k: v for k, v in big.items() if k != "body"}
    over = get(pid, "http://mirror.test/c")
    assert over["status"] == 429 and "download limit" in over["headers"]["x-airlock-refused"], over
    over = get(pid, "http://mirror.test/d")
    assert over["status"] == 429 and "request limit (3)" in over["headers"]["x-airlock-refused"], over
    # Past the limit a loop of refusals is counted, not written one by one without end.
    burst = client(pid, op="burst", url="http://mirror.test/e", n=150)["counts"]
    assert burst == {"429": 150}, burst
    assert field(airlock.status(cid), "proxy")["refused"] >= 151
    reasons = [r.get("reason", "") for r in proxy_records(airlock, cid)]
    assert len(reasons) < 120, len(reasons)
    assert sum("more refusals past a limit" in r for r in reasons) == 1, reasons[-5:]
    assert any("connection limit (2 at once)" in r for r in reasons), reasons
    assert any("download limit" in r for r in reasons), reasons
    assert any("request limit" in r for r in reasons), reasons
    airlock.remove(cid)


def test_setup_through_the_proxy_only_and_closed_at_the_seal(airlock, internet):
    setup = ("wget -q -O /workspace/got http://mirror.test/pkg && "
             # busybox wget sends --post-data as a GET: a raw POST through nc instead.
             "printf 'POST http://mirror.test/form HTTP/1.1\\r\\nContent-Length: 7\\r\\nConnection: close\\r\\n\\r\\n"
             "payload' | nc 127.0.0.1 3128 > /workspace/posted && "
             "{ wget -q -O - http://unlisted.test/ || echo refused > /workspace/unlisted; }")
    cid, pid = start_proxied(airlock, {"allow": ["mirror.test"]}, execution="deny", uplink="proxy", setup=setup)
    repo = os.path.join(airlock.ctrd.repos_root, cid)
    assert open(os.path.join(repo, "got")).read() == "hello from mirror.test /pkg\n"
    # Setup's methods: all (setup_methods left out); the upstream got the body.
    posted = open(os.path.join(repo, "posted")).read()
    assert posted.startswith("HTTP/1.0 200 ") or posted.startswith("HTTP/1.1 200 "), posted
    assert hashlib.sha256(b"payload").hexdigest() in posted, posted
    assert open(os.path.join(repo, "unlisted")).read() == "refused\n"
    assert [q["method"] for q in internet.requests()] == ["GET", "POST"], internet.requests()
    status = airlock.status(cid)
    assert "proxy closed (setup only)" in field(status, "seal_findings"), status
    closed = client(pid, op="raw", send="GET http://mirror.test/late HTTP/1.1\r\n\r\n")
    assert "ConnectionRefusedError" in closed.get("error", ""), closed
    assert len(internet.requests()) == 2
    airlock.remove(cid)


def test_airlock_run_internet_gives_the_agent_its_allowlist_and_sums_it_up(airlock, internet, tmp_path):
    """`airlock run --internet HOSTS`: the built-in run policy with the proxy; the summary counts
    what the agent's requests met."""
    from test_airlock_run import Runner, make_repo
    runner = Runner(airlock, tmp_path)
    cid = airlock.new_id()
    repo = make_repo(str(tmp_path / "project"))
    cli_config = os.path.join(airlock.ctrd.airlock_dir, f"cli-config-{cid}.yaml")
    with open(cli_config, "w") as f:
        f.write(f"version: 1\nallowed_repo_roots: [{airlock.ctrd.repos_root}]\n"
                f"default_policy: {tmp_path}/no-such-policy.yaml\naudit_dir: {airlock.ctrd.audit_dir}\n")
    agent = ["sh", "-c", "wget -q -O - http://mirror.test/docs 2>/dev/null; "
                         "wget -q -O - http://unlisted.test/ 2>/dev/null || echo refused; "
                         "wget -q -O - http://other.test/ 2>/dev/null || echo refused-other"]
    r = runner.run(repo, cid, agent, env={"AIRLOCK_CONFIG": cli_config}, extra=("--internet", "Mirror.Test"))
    assert r.rc == 0, r
    assert "internet through the airlock proxy" in r.summary["policy"], r.summary
    assert r.output("agent") == ["hello from mirror.test /docs", "refused", "refused-other"], r
    # The tally holds the agent's 3 requests only: not the 4 of the run's own verification (airlock-init
    # probe: a refused host, a refused method on mirror.test, mirror.test allowed, a steered SNI),
    # which the audit log has before its "verify" record.
    assert r.summary["internet"] == {"allowed": 1, "refused": 2, "errors": 0,
                                     "refused_hosts": ["unlisted.test", "other.test"],
                                     "more_refused_hosts": 0}, r.summary
    audit = [json.loads(line) for line in open(r.summary["audit_log"])]
    assert sum(e.get("event") == "proxy" for e in audit) == 7, audit
    text = runner.run(repo, airlock.new_id(), ["true"], env={"AIRLOCK_CONFIG": cli_config}, json_=False,
                      extra=("--internet", "mirror.test,bad host"))
    assert text.rc == 3 and "--internet: bad host name" in text.stderr, text  # bad input, nothing made
    airlock.assert_no_leftovers(cid)
