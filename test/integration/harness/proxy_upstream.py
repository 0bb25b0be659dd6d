"""The far side of the airlock proxy in tests: HTTP on :80 and HTTPS on :443 (certificate made by
the test) in a netns the test owns, one process. Run as a script inside that netns:

    python3 proxy_upstream.py <log.jsonl> <cert.pem> <key.pem>

GET /bytes/<n> answers n deterministic bytes (n up to 1 GiB), any other GET/HEAD a short text;
POST/PUT/PATCH/DELETE answer the SHA-256 of the body they got (Content-Length or chunked). Every
request is a JSON line in the log: method, path, host header, port, body bytes.
"""

import hashlib
import json
import socketserver
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG_LOCK = threading.Lock()
MAX_BYTES = 1 << 30


def pattern(n):
    block = bytes(range(256)) * 256  # 64 KiB
    while n > 0:
        chunk = block[:min(n, len(block))]
        n -= len(chunk)
        yield chunk


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # the head and the body are separate writes: no delayed-ACK stalls
    log_path = None

    def log_message(self, *args):
        pass

    def _record(self, body_bytes):
        entry = {"method": self.command, "path": self.path, "host": self.headers.get("Host"),
                 "port": self.server.server_address[1], "body_bytes": body_bytes,
                 "proxy_headers": sorted(h for h in self.headers if h.lower().startswith("proxy-"))}
        with LOG_LOCK, open(self.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status, body, length=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()

    def do_GET(self):
        self._record(0)
        if self.path.startswith("/bytes/"):
            n = min(int(self.path.split("/")[2]), MAX_BYTES)
            self._answer(200, b"", n)
            for chunk in pattern(n):
                self.wfile.write(chunk)
            return
        body = f"hello from {self.headers.get('Host')} {self.path}\n".encode()
        self._answer(200, body)
        self.wfile.write(body)

    def do_HEAD(self):
        self._record(0)
        self._answer(200, b"", 12345)

    def _with_body(self):
        data = self._body()
        self._record(len(data))
        body = hashlib.sha256(data).hexdigest().encode() + b"\n"
        self._answer(200, body)
        self.wfile.write(body)

    do_POST = do_PUT = do_PATCH = do_DELETE = _with_body


class TlsServer(ThreadingHTTPServer):
    def __init__(self, address, context):
        super().__init__(address, Handler)
        self.context = context

    def get_request(self):
        sock, addr = super().get_request()
        return self.context.wrap_socket(sock, server_side=True), addr


def main():
    log_path, cert, key = sys.argv[1:4]
    Handler.log_path = log_path
    socketserver.TCPServer.allow_reuse_address = True
    plain = ThreadingHTTPServer(("0.0.0.0", 80), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls = TlsServer(("0.0.0.0", 443), context)
    threading.Thread(target=tls.serve_forever, daemon=True).start()
    print("ready", flush=True)
    plain.serve_forever()


if __name__ == "__main__":
    main()
