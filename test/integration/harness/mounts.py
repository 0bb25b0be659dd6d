"""Mount table reading and unmounting (deepest first) below a directory."""

import ctypes
import ctypes.util
import errno
import os
import re

MNT_DETACH = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _unescape(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


class Mount:
    def __init__(self, line):
        self.line = line.rstrip("\n")
        left, _, right = self.line.partition(" - ")
        fields = left.split()
        self.mount_point = _unescape(fields[4])
        self.options = fields[5]
        rfields = right.split()
        self.fstype = rfields[0] if rfields else ""
        self.source = _unescape(rfields[1]) if len(rfields) > 1 else ""
        self.super_options = rfields[2] if len(rfields) > 2 else ""

    def __repr__(self):
        return f"{self.fstype} {self.source} on {self.mount_point} ({self.super_options})"


def mounts():
    with open("/proc/self/mountinfo") as f:
        return [Mount(line) for line in f if line.strip()]


def _under(path, directory):
    directory = directory.rstrip("/")
    return path == directory or path.startswith(directory + "/")


def mounts_under(directory):
    return [m for m in mounts() if _under(m.mount_point, directory)]


def mounts_mentioning(name, directories=None):
    """Mounts whose table line names `name` as a whole word (a container id, say),
    optionally only those mounted below `directories`."""
    rx = re.compile(r"(?<![A-Za-z0-9_.-])" + re.escape(name) + r"(?![A-Za-z0-9_.-])")
    found = []
    for m in mounts():
        if not rx.search(m.line):
            continue
        if directories and not any(_under(m.mount_point, d) for d in directories):
            continue
        found.append(m)
    return found


def umount(path, flags=0):
    if _libc.umount2(os.fsencode(path), flags) != 0:
        return ctypes.get_errno()
    return 0


def mount(source, target, fstype, flags=0, data=""):
    if _libc.mount(os.fsencode(source), os.fsencode(target), os.fsencode(fstype),
                   ctypes.c_ulong(flags), os.fsencode(data)) != 0:
        return ctypes.get_errno()
    return 0


def umount_all_under(directory, rounds=20):
    """Unmounts everything below `directory`, deepest first. Returns what is left."""
    for _ in range(rounds):
        found = mounts_under(directory)
        if not found:
            return []
        for m in sorted(found, key=lambda m: m.mount_point.count("/"), reverse=True):
            err = umount(m.mount_point)
            if err not in (0, errno.EINVAL, errno.ENOENT):
                umount(m.mount_point, MNT_DETACH)
    return mounts_under(directory)
