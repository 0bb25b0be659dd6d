"""Load for the proxy rows of `make bench`: run in a sandbox's netns (through the airlock proxy) or
in the host's (direct to the mirror), the same client both ways.

    proxy_load.py latency URL COUNT [PROXY]   -> {"ms": [per-request milliseconds]} (one kept-alive connection)
    proxy_load.py download URL [PROXY]        -> {"mib_s": x, "bytes": n}
    proxy_load.py download-tls URL CA [PROXY] -> the same over HTTPS (through the proxy: a CONNECT tunnel)
"""

import http.client
import json
import ssl
import sys
import time
from urllib.parse import urlsplit


def connection(url, proxy):
    if proxy:
        host, port = proxy.split(":")
        return http.client.HTTPConnection(host, int(port), timeout=60), url
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60), path


def latency(url, count, proxy=None):
    conn, target = connection(url, proxy)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        conn.request("GET", target)
        response = conn.getresponse()
        response.read()
        samples.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            raise SystemExit(f"status {response.status}")
    return {"ms": samples}


def tls_connection(url, ca, proxy):
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = False  # direct runs dial the address; the certificate is still checked
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if proxy:
        host, port = proxy.split(":")
        conn = http.client.HTTPSConnection(host, int(port), timeout=60, context=context)
        conn.set_tunnel(parts.hostname, parts.port or 443)
        return conn, path
    return http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=60, context=context), path


def download(url, proxy=None, ca=None):
    conn, target = tls_connection(url, ca, proxy) if ca else connection(url, proxy)
    start = time.perf_counter()
    conn.request("GET", target)
    response = conn.getresponse()
    total = 0
    while True:
        chunk = response.read(1 << 20)
        if not chunk:
            break
        total += len(chunk)
    seconds = time.perf_counter() - start
    return {"mib_s": total / (1 << 20) / seconds, "bytes": total}


def main():
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "latency":
        out = latency(url, int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
    elif mode == "download-tls":
        out = download(url, sys.argv[4] if len(sys.argv) > 4 else None, ca=sys.argv[3])
    else:
        out = download(url, sys.argv[3] if len(sys.argv) > 3 else None)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
