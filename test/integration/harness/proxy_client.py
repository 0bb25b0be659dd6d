"""A client of the airlock proxy, run inside a sandbox's network namespace (nsenter --net) so that
it reaches 127.0.0.1:3128 as the sandbox's own processes do. One JSON request on argv[1], one JSON
answer on stdout:

  {"op": "http", "method": "GET", "url": "http://host/path", "body": "...", "chunked": false,
   "requests": 1}      -> {"responses": [{"status": 200, "body": "...", "headers": {...}}]} (one
                          connection, `requests` times the same request: keep-alive)
  {"op": "raw", "send": "<text>"}  -> {"received": "<text>"} (until the proxy closes, 10 s)
  {"op": "concurrent", "n": 3}     -> {"last": "<what the n-th connection got>"}
  {"op": "pipeline", "url": u, "n": 300} -> {"statuses": [...]} (n requests written at once)
  {"op": "burst", "url": u, "n": 150}    -> {"counts": {"429": 150}} (n connections, one request each)
  {"op": "tls", "host": "h", "port": 443, "sni": "h", "ca": "/path", "path": "/"}
      -> {"connect_status": "...", "ok": true, "status": 200, "body": "..."} or {"error": "..."}
"""

import json
import socket
import ssl
import sys

PROXY = ("127.0.0.1", 3128)


def read_response(f, head_request=False):
    status_line = f.readline().decode("latin-1")
    if not status_line:
        return None
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = f.readline().decode("latin-1")
        if line in ("\r\n", "\n", ""):
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if not head_request:
        if "content-length" in headers:
            body = f.read(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(f.readline().split(b";")[0], 16)
                if size == 0:
                    f.readline()
                    break
                body += f.read(size)
                f.readline()
        else:
            body = f.read()
    return {"status": status, "headers": headers, "body": body.decode("latin-1"), "bytes": len(body)}


def http(req):
    sock = socket.create_connection(PROXY, timeout=30)
    f = sock.makefile("rb")
    out = []
    method = req.get("method", "GET")
    body = req.get("body", "").encode()
    for _ in range(req.get("requests", 1)):
        head = f"{method} {req['url']} HTTP/1.1\r\nHost: {req.get('host_header', 'ignored.invalid')}\r\n"
        head += "Proxy-Connection: keep-alive\r\n"
        if req.get("chunked"):
            head += "Transfer-Encoding: chunked\r\n\r\n"
            payload = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n" if body else b"0\r\n\r\n"
        else:
            head += f"Content-Length: {len(body)}\r\n\r\n" if body or method in ("POST", "PUT") else "\r\n"
            payload = body
        sock.sendall(head.encode() + payload)
        r = read_response(f, method == "HEAD")
        if r is None:
            out.append({"closed": True})
            break
        out.append(r)
        if r["headers"].get("connection", "").lower() == "close":
            break
    sock.close()
    return {"responses": out}


def raw(req):
    sock = socket.create_connection(PROXY, timeout=10)
    sock.sendall(req["send"].encode("latin-1"))
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        data += b"<timeout>"
    return {"received": data.decode("latin-1")}


def tls(req):
    sock = socket.create_connection(PROXY, timeout=15)
    sock.sendall(f"CONNECT {req['host']}:{req.get('port', 443)} HTTP/1.1\r\nHost: {req['host']}\r\n\r\n".encode())
    f = sock.makefile("rb")
    status = f.readline().decode("latin-1").strip()
    while f.readline() not in (b"\r\n", b"\n", b""):
        pass
    if " 200 " not in status + " ":
        return {"connect_status": status, "error": "refused at CONNECT"}
    context = ssl.create_default_context(cafile=req["ca"])
    context.check_hostname = False  # the SNI may be wrong on purpose; the certificate is the test's
    try:
        t = context.wrap_socket(sock, server_hostname=req.get("sni"))
        t.sendall(f"GET {req.get('path', '/')} HTTP/1.1\r\nHost: {req['host']}\r\nConnection: close\r\n\r\n".encode())
        r = read_response(t.makefile("rb"))
        return {"connect_status": status, "ok": True, "status": r["status"], "body": r["body"]}
    except (OSError, ssl.SSLError) as e:
        return {"connect_status": status, "error": f"{type(e).__name__}: {e}"}


def concurrent(req):
    """`n` connections at once, saying nothing; what the last one is told (the limit's answer)."""
    socks = [socket.create_connection(PROXY, timeout=5) for _ in range(req["n"])]
    data = b""
    try:
        while True:
            chunk = socks[-1].recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        data += b"<timeout>"
    for s in socks:
        s.close()
    return {"last": data.decode("latin-1")}


def pipeline(req):
    """`n` requests written at once on one connection; the statuses of the answers read back."""
    sock = socket.create_connection(PROXY, timeout=30)
    one = f"GET {req['url']} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    sock.sendall(one * req["n"])
    f = sock.makefile("rb")
    statuses = []
    for _ in range(req["n"]):
        r = read_response(f)
        if r is None:
            break
        statuses.append(r["status"])
    sock.close()
    return {"statuses": statuses}


def burst(req):
    """`n` connections one after the other, one request each; how many answers of each status."""
    counts = {}
    for _ in range(req["n"]):
        sock = socket.create_connection(PROXY, timeout=10)
        sock.sendall(f"GET {req['url']} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        r = read_response(sock.makefile("rb"))
        key = str(r["status"]) if r else "closed"
        counts[key] = counts.get(key, 0) + 1
        sock.close()
    return {"counts": counts}


def main():
    req = json.loads(sys.argv[1])
    try:
        answer = {"http": http, "raw": raw, "tls": tls, "concurrent": concurrent, "pipeline": pipeline,
                  "burst": burst}[req["op"]](req)
    except OSError as e:
        answer = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
