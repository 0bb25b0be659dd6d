"""Runs a command (ctr -t ...) on the slave side of a fresh pty, as its controlling terminal."""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time


def _set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtySession:
    def __init__(self, argv, env, rows=24, cols=80):
        self.master, slave = pty.openpty()
        _set_size(slave, rows, cols)
        try:
            # util-linux setsid: new session, the slave (stdin) as controlling terminal,
            # and -w passes the exit status through. No preexec_fn in a threaded pytest.
            self.proc = subprocess.Popen(["setsid", "-c", "-w"] + list(argv), stdin=slave,
                                         stdout=slave, stderr=slave, env=env)
        finally:
            os.close(slave)
        self.output = b""
        self.eof = False

    def _pump(self, timeout):
        """Reads what is available within `timeout` seconds. False on EOF."""
        if self.eof:
            return False
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every slave fd is closed
            data = b""
        if not data:
            self.eof = True
            return False
        self.output += data
        return True

    def text(self):
        return self.output.decode(errors="replace")

    def read_until(self, pattern, timeout=20.0, start=0):
        """Waits until `pattern` (regex) matches the output after offset `start`; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.text(), start)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0 or not self._pump(min(left, 0.2)) and self.eof:
                m = rx.search(self.text(), start)
                if m:
                    return m
                raise AssertionError(f"pattern {pattern!r} not seen; pty output so far:\n{self.text()!r}")

    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        os.write(self.master, data)

    def resize(self, rows, cols):
        # On the master: the kernel sends SIGWINCH to the slave's foreground process group (ctr).
        _set_size(self.master, rows, cols)

    def wait(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._pump(0.1)
        while self._pump(0.05) and time.monotonic() < deadline + 2:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"pty command did not exit in {timeout}s; output:\n{self.text()!r}")
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)
