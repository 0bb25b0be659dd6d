"""A raw ttrpc client, encoded by hand, for poking a live shim socket.

Framing (ttrpc 1.x): 10-byte header = length (u32 BE) | stream id (u32 BE) |
type (1 request, 2 response) | flags, then the body (at most 4 MiB).
Request{service=1, method=2, payload=3, timeout_nano=4, metadata=5};
Response{status=1 (google.rpc.Status{code=1, message=2}), payload=2}.
"""

import socket
import struct

HEADER = struct.Struct(">IIBB")
MAX_MESSAGE = 4 << 20
TYPE_REQUEST = 1
TYPE_RESPONSE = 2

TASK_SERVICE = "containerd.task.v2.Task"

# google.rpc.Code values used in assertions.
CODE_OK = 0
CODE_INVALID_ARGUMENT = 3
CODE_NOT_FOUND = 5
CODE_RESOURCE_EXHAUSTED = 8
CODE_UNIMPLEMENTED = 12
CODE_INTERNAL = 13


# --- protobuf wire format -------------------------------------------------

def varint(n):
    if n < 0:
        n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, value):
    return varint(num << 3 | 0) + varint(value)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def read_varint(buf, pos):
    result, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def decode(buf):
    """Decodes one message level: {field number: [values]} (varints as int, len-delimited as bytes)."""
    fields, pos = {}, 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 2:
            n, pos = read_varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated field")
            value, pos = bytes(buf[pos:pos + n]), pos + n
        elif wire == 1:
            value, pos = bytes(buf[pos:pos + 8]), pos + 8
        elif wire == 5:
            value, pos = bytes(buf[pos:pos + 4]), pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        fields.setdefault(num, []).append(value)
    return fields


def first(fields, num, default=None):
    values = fields.get(num)
    return values[0] if values else default


# --- ttrpc messages --------------------------------------------------------

def request(service, method, payload=b"", timeout_nano=0, metadata=()):
    body = field_bytes(1, service) + field_bytes(2, method)
    if payload:
        body += field_bytes(3, payload)
    if timeout_nano:
        body += field_varint(4, timeout_nano)
    for key, value in metadata:
        body += field_bytes(5, field_bytes(1, key) + field_bytes(2, value))
    return body


def frame(stream_id, body, msg_type=TYPE_REQUEST, flags=0, length=None):
    return HEADER.pack(len(body) if length is None else length, stream_id, msg_type, flags) + body


class Response:
    def __init__(self, stream_id, msg_type, flags, body):
        self.stream_id, self.type, self.flags, self.body = stream_id, msg_type, flags, body
        fields = decode(body)
        status = decode(first(fields, 1, b""))
        self.code = first(status, 1, 0)
        self.message = first(status, 2, b"").decode(errors="replace")
        self.payload = first(fields, 2, b"")

    def __repr__(self):
        return (f"Response(stream={self.stream_id}, type={self.type}, code={self.code}, "
                f"message={self.message!r}, payload={len(self.payload)} bytes)")


class Conn:
    """One client connection; every operation is bounded by `timeout` seconds."""

    def __init__(self, address, timeout=5.0):
        path = address[len("unix://"):] if address.startswith("unix://") else address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        self.sock.connect(path)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _read_exact(self, n):
        chunks, left = [], n
        while left:
            chunk = self.sock.recv(min(left, 1 << 16))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def recv(self):
        """Next frame as Response, or None when the peer closed the connection.

        Raises socket.timeout when nothing arrives in time.
        """
        header = self._read_exact(HEADER.size)
        if header is None:
            return None
        length, stream_id, msg_type, flags = HEADER.unpack(header)
        if length > MAX_MESSAGE:
            raise ValueError(f"peer sent an oversized frame ({length} bytes)")
        body = self._read_exact(length)
        if body is None:
            return None
        return Response(stream_id, msg_type, flags, body)

    def call(self, service, method, payload=b"", stream_id=1, metadata=()):
        self.send(frame(stream_id, request(service, method, payload, metadata=metadata)))
        resp = self.recv()
        if resp is None:
            raise ConnectionError(f"shim closed the connection on {service}/{method}")
        return resp


def connect_request(task_id):
    return field_bytes(1, task_id)


def decode_connect_response(payload):
    """ConnectResponse{shim_pid=1, task_pid=2, version=3}."""
    fields = decode(payload)
    return {"shim_pid": first(fields, 1, 0), "task_pid": first(fields, 2, 0),
            "version": first(fields, 3, b"").decode(errors="replace")}


def connect(address, task_id, timeout=5.0):
    """A well-formed Task/Connect on a fresh connection; returns the decoded response."""
    with Conn(address, timeout) as conn:
        resp = conn.call(TASK_SERVICE, "Connect", connect_request(task_id))
        if resp.code != CODE_OK:
            raise AssertionError(f"Connect failed: {resp}")
        return decode_connect_response(resp.payload)
