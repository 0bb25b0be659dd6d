"""Malformed ttrpc frames against the live shim socket.

After every case the shim must still answer a well-formed Task/Connect on a new
connection and the task must still be RUNNING. What the shim answers to the bad
frame itself is checked loosely (an error status or a closed connection, never a
success), except where the protocol leaves no choice (Unimplemented).
"""

import random
import socket
import struct

import pytest

from harness import ttrpc

LISTEN = 1.0  # how long to collect answers to a bad frame (not a timing assertion)


class LiveTask:
    def __init__(self, ctrd, runtime, cid):
        self.ctrd, self.cid = ctrd, cid
        self.pid = ctrd.start_detached(runtime, cid)
        self.shim = ctrd.shim_pid(cid)
        self.address = ctrd.shim_address(cid)

    def assert_alive(self):
        info = ttrpc.connect(self.address, self.cid)
        assert info["shim_pid"] == self.shim, info
        assert info["shim_pid"] > 0
        assert info["task_pid"] == self.pid, info
        assert self.ctrd.tasks()[self.cid] == (self.pid, "RUNNING")


@pytest.fixture
def live(ctrd, runtime, new_id):
    task = LiveTask(ctrd, runtime, new_id())
    task.assert_alive()
    yield task
    if ctrd.task_status(task.cid) is not None:
        ctrd.remove(task.cid)


def _connect_frame(stream_id, cid, **kw):
    body = ttrpc.request(ttrpc.TASK_SERVICE, "Connect", ttrpc.connect_request(cid))
    return ttrpc.frame(stream_id, body, **kw)


def _send_and_collect(address, data, half_close=False, listen=LISTEN):
    """Sends raw bytes on a fresh connection; returns (responses, closed_by_shim)."""
    responses, closed = [], False
    with ttrpc.Conn(address, timeout=listen) as conn:
        try:
            conn.send(data)
            if half_close:
                conn.shutdown_write()
        except (BrokenPipeError, ConnectionResetError):
            return responses, True
        try:
            while len(responses) < 16:
                resp = conn.recv()
                if resp is None:
                    closed = True
                    break
                responses.append(resp)
        except (socket.timeout, TimeoutError):
            pass
        except (ConnectionResetError, ValueError):
            closed = True
    return responses, closed


def _oversized():
    # Length above the 4 MiB limit, body included (the Go server discards it and
    # answers ResourceExhausted on that stream; closing is acceptable too).
    return ttrpc.frame(7, b"\0" * (ttrpc.MAX_MESSAGE + 1))


# name -> (bytes, half_close)
CASES = {
    "garbage_body": (ttrpc.frame(3, b"\xff\xff\xff\xff"), False),
    "huge_varint_field": (ttrpc.frame(3, b"\x0a\xff\xff\xff\xff\x0f"), False),
    "garbage_payload": (ttrpc.frame(3, ttrpc.request(ttrpc.TASK_SERVICE, "Connect",
                                                     b"\xff\xff\xff")), False),
    "empty_request": (ttrpc.frame(3, b""), False),
    "even_stream_id": (None, False),  # built per task below
    "stream_id_zero": (None, False),
    "wrong_type_response": (None, False),
    "wrong_type_unknown": (None, False),
    "oversized_with_body": (None, False),
    "oversized_header_only": (struct.pack(">IIBB", 0xFFFFFFFF, 5, 1, 0), False),
    "truncated_body": (ttrpc.frame(5, b"\x0a\x03abc", length=100), True),
    "truncated_header": (b"\x00\x00\x00", True),
}


def _case_bytes(name, cid):
    data, half_close = CASES[name]
    if name == "even_stream_id":
        data = _connect_frame(2, cid)
    elif name == "stream_id_zero":
        data = _connect_frame(0, cid)
    elif name == "wrong_type_response":
        data = _connect_frame(5, cid, msg_type=ttrpc.TYPE_RESPONSE)
    elif name == "wrong_type_unknown":
        data = _connect_frame(5, cid, msg_type=0x7F)
    elif name == "oversized_with_body":
        data = _oversized()
    return data, half_close


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_frame(live, case):
    data, half_close = _case_bytes(case, live.cid)
    responses, _closed = _send_and_collect(live.address, data, half_close)
    for resp in responses:
        assert resp.type == ttrpc.TYPE_RESPONSE, resp
        assert resp.code != ttrpc.CODE_OK, f"{case}: malformed frame got a success: {resp}"
    live.assert_alive()


def test_unknown_service_and_method(live):
    with ttrpc.Conn(live.address) as conn:
        resp = conn.call("no.such.Service", "Method", stream_id=1)
        assert (resp.stream_id, resp.code) == (1, ttrpc.CODE_UNIMPLEMENTED), resp
        resp = conn.call(ttrpc.TASK_SERVICE, "NoSuchMethod", stream_id=3)
        assert (resp.stream_id, resp.code) == (3, ttrpc.CODE_UNIMPLEMENTED), resp
        # An error reply is an ordinary reply: the connection stays usable.
        resp = conn.call(ttrpc.TASK_SERVICE, "Connect", ttrpc.connect_request(live.cid),
                         stream_id=5)
        assert resp.code == ttrpc.CODE_OK, resp
        assert ttrpc.decode_connect_response(resp.payload)["shim_pid"] == live.shim
    live.assert_alive()


def test_pipelined_requests(live):
    # Several requests in flight on one connection; replies carry their stream ids.
    ids = [1, 3, 5, 7, 9]
    with ttrpc.Conn(live.address) as conn:
        conn.send(b"".join(_connect_frame(i, live.cid) for i in ids))
        got = {}
        for _ in ids:
            resp = conn.recv()
            assert resp is not None, "shim closed the connection"
            got[resp.stream_id] = resp
    assert sorted(got) == ids
    for resp in got.values():
        assert resp.code == ttrpc.CODE_OK, resp
        assert ttrpc.decode_connect_response(resp.payload)["task_pid"] == live.pid
    live.assert_alive()


def _fuzz_frame(rng, cid):
    kind = rng.randrange(4)
    if kind == 0:  # noise
        return rng.randbytes(rng.randrange(1, 64))
    if kind == 1:  # a correct header around a random body
        body = rng.randbytes(rng.randrange(0, 256))
        return ttrpc.frame(rng.randrange(0, 16) * 2 + 1, body)
    if kind == 2:  # a valid Connect with a few flipped bits
        data = bytearray(_connect_frame(1, cid))
        for _ in range(rng.randrange(1, 4)):
            pos = rng.randrange(len(data))
            data[pos] ^= 1 << rng.randrange(8)
        return bytes(data)
    # random header fields, short body
    return struct.pack(">IIBB", rng.randrange(1 << 32), rng.randrange(1 << 32),
                       rng.randrange(256), rng.randrange(256)) + rng.randbytes(rng.randrange(32))


def test_fuzzed_frames(live):
    rng = random.Random(0xA1F10C)
    for i in range(60):
        data = _fuzz_frame(rng, live.cid)
        _send_and_collect(live.address, data, half_close=True, listen=0.2)
        if i % 10 == 9:
            live.assert_alive()
    # Bad bytes on one connection must not disturb another one that is already open.
    with ttrpc.Conn(live.address) as good:
        for _ in range(5):
            _send_and_collect(live.address, _fuzz_frame(rng, live.cid), half_close=True, listen=0.2)
        resp = good.call(ttrpc.TASK_SERVICE, "Connect", ttrpc.connect_request(live.cid))
        assert resp.code == ttrpc.CODE_OK, resp
    live.assert_alive()
