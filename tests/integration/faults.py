# SPDX-License-Identifier: GPL-2.0-or-later
"""Known contents for the fault tests: every 4 KiB block of every version
of every file says which (file, version, block) it is and carries filler
derived from those, so a reader can check any byte it gets, and name the
version it came from, without keeping the files in memory."""
import errno
import os
import random
import threading

BLOCK = 4096
HEADER = 16


def block(file_id, version, index):
    head = file_id.to_bytes(4, "little") + version.to_bytes(4, "little") + \
        index.to_bytes(8, "little")
    seed = (file_id * 1_000_003 + version) * 1_000_003 + index
    filler = random.Random(seed).randbytes(BLOCK - HEADER)
    return head + filler


def contents(file_id, version, nblocks):
    return b"".join(block(file_id, version, i) for i in range(nblocks))


def write_version(path, file_id, version, nblocks):
    """Replace path atomically (a new file renamed over it), as a program
    updating a file on the server would."""
    tmp = f"{path}.tmp{version}"
    with open(tmp, "wb") as f:
        f.write(contents(file_id, version, nblocks))
    os.rename(tmp, path)


def check(data, off, file_id, versions):
    """The version that data (read at off) comes from, or raise
    AssertionError naming the first wrong byte.  versions: the ones the
    file may hold (those current while it was being opened); every byte
    of one handle must come from one version."""
    version = None
    pos, end = off, off + len(data)
    while pos < end:
        index = pos // BLOCK
        start = index * BLOCK
        stop = min(start + BLOCK, end)
        got = data[pos - off:stop - off]
        for v in [version] if version is not None else sorted(versions):
            if got == block(file_id, v, index)[pos - start:stop - start]:
                version = v
                break
        else:
            raise AssertionError(
                f"file {file_id}: wrong bytes at {pos}..{stop} "
                f"(allowed versions {sorted(versions)}, this handle's {version}; "
                f"{identify(got, pos - start, file_id, max(versions) + 2)})")
        pos = stop
    return version


def matching(data, off, file_id, versions):
    """The versions of file_id among versions that data (read at off)
    matches entirely: a short read may match several."""
    first, last = off // BLOCK, (off + len(data) - 1) // BLOCK
    out = set()
    for v in versions:
        want = b"".join(block(file_id, v, i) for i in range(first, last + 1))
        if data == want[off - first * BLOCK:off - first * BLOCK + len(data)]:
            out.add(v)
    return out


def identify(got, at, file_id, max_version):
    """What got (bytes at offset at of some block) is, for the message."""
    if not got.strip(b"\0"):
        return "zeroes"
    for f in [file_id] + [x for x in range(32) if x != file_id]:
        for v in range(1, max_version + 1):
            for index in range(128):
                if got == block(f, v, index)[at:at + len(got)]:
                    return f"file {f} version {v} block {index}"
    return f"unknown bytes {got[:16].hex()}"


class Tally:
    """Counts shared by reader threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.bytes_verified = 0
        self.wrong = []
        self.errors = []
        self.stale_opens = 0  # ESTALE from an open the file was replaced during
        self.stale_reads = 0  # ESTALE from a read of a file replaced since

    def add(self, nbytes):
        with self.lock:
            self.bytes_verified += nbytes


# Errors a reader may see when the daemon is killed under it.
DISCONNECTED = (errno.ENOTCONN, errno.ECONNABORTED, errno.ENODEV)
