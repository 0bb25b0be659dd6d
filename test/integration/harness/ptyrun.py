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


def _make_controlling_tty():
    # Runs in the child after setsid(): stdin is the slave, make it our terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtySession:
    def __init__(self, argv, env, rows=24, cols=80):
        self.master, slave = pty.openpty()
        _set_size(slave, rows, cols)
        try:
            self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                         start_new_session=True, preexec_fn=_make_controlling_tty)
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
