# SPDX-License-Identifier: GPL-2.0-or-later
"""A long randomized differential run in the spirit of fsx: writes,
truncates, reads, mmap reads, fallocate, copy_file_range and renames over
a few files, each checked against an in-memory model of what the files
must hold, through the mount and on the backing store.  Run as root and as
an unprivileged user."""
import mmap
import os
import random

import pytest

import scfs

OPS = int(os.environ.get("SCFS_FSX_OPS", "15000"))
MAX_SIZE = 256 * 1024
NAMES = ["alpha", "beta", "gamma"]


class Fsx:
    def __init__(self, mnt, backing, seed):
        self.mnt = mnt
        self.backing = backing
        self.rng = random.Random(seed)
        self.model = {}
        self.checked_bytes = 0

    def path(self, name):
        return os.path.join(self.mnt, name)

    def check(self, name, off, data, where):
        want = bytes(self.model[name][off:off + len(data)])
        if data != want:
            first = next(i for i in range(min(len(data), len(want)))
                         if data[i] != want[i]) if len(data) == len(want) else None
            raise AssertionError(f"{where}: {name} off={off} len={len(data)} "
                                 f"want len {len(want)}, first diff at {first}")
        self.checked_bytes += len(data)

    def op_write(self, name):
        size = len(self.model[name])
        off = self.rng.randrange(0, min(MAX_SIZE, size + 8192))
        length = self.rng.randrange(1, 65536)
        length = min(length, MAX_SIZE - off) or 1
        data = self.rng.randbytes(length)
        fd = os.open(self.path(name), os.O_WRONLY)
        try:
            assert os.pwrite(fd, data, off) == length
        finally:
            os.close(fd)
        m = self.model[name]
        if off > len(m):
            m.extend(b"\0" * (off - len(m)))
        m[off:off + length] = data

    def op_truncate(self, name):
        size = self.rng.randrange(0, MAX_SIZE)
        if self.rng.random() < 0.5:
            os.truncate(self.path(name), size)
        else:
            fd = os.open(self.path(name), os.O_RDWR)
            os.ftruncate(fd, size)
            os.close(fd)
        m = self.model[name]
        if size < len(m):
            del m[size:]
        else:
            m.extend(b"\0" * (size - len(m)))

    def op_read(self, name):
        size = len(self.model[name])
        off = self.rng.randrange(0, size + 100)
        length = self.rng.randrange(0, 70000)
        fd = os.open(self.path(name), os.O_RDONLY)
        try:
            data = os.pread(fd, length, off)
        finally:
            os.close(fd)
        self.check(name, off, data, "read")

    def op_mmap_read(self, name):
        size = len(self.model[name])
        if size == 0:
            return
        fd = os.open(self.path(name), os.O_RDONLY)
        try:
            with mmap.mmap(fd, size, prot=mmap.PROT_READ) as m:
                off = self.rng.randrange(0, size)
                length = self.rng.randrange(1, size - off + 1)
                self.check(name, off, m[off:off + length], "mmap read")
        finally:
            os.close(fd)

    def op_fallocate(self, name):
        m = self.model[name]
        off = self.rng.randrange(0, MAX_SIZE - 1)
        length = self.rng.randrange(1, MAX_SIZE - off + 1)
        kind = self.rng.choice(["extend", "keep", "punch"])
        mode = {"extend": 0, "keep": scfs.FALLOC_FL_KEEP_SIZE,
                "punch": scfs.FALLOC_FL_PUNCH_HOLE | scfs.FALLOC_FL_KEEP_SIZE}[kind]
        fd = os.open(self.path(name), os.O_RDWR)
        try:
            scfs.fallocate(fd, mode, off, length)
        finally:
            os.close(fd)
        if kind == "extend" and off + length > len(m):
            m.extend(b"\0" * (off + length - len(m)))
        elif kind == "punch":
            end = min(off + length, len(m))
            if off < end:
                m[off:end] = b"\0" * (end - off)

    def op_copy_range(self, name):
        other = self.rng.choice(NAMES)
        src = self.model[other]
        if other == name or not src:
            return
        off_in = self.rng.randrange(0, len(src))
        length = self.rng.randrange(1, len(src) - off_in + 1)
        off_out = self.rng.randrange(0, min(MAX_SIZE - length, len(self.model[name]) + 4096) + 1)
        fi = os.open(self.path(other), os.O_RDONLY)
        fo = os.open(self.path(name), os.O_WRONLY)
        try:
            done = 0
            while done < length:
                n = os.copy_file_range(fi, fo, length - done, off_in + done, off_out + done)
                assert n > 0
                done += n
        finally:
            os.close(fi)
            os.close(fo)
        data = bytes(src[off_in:off_in + length])
        m = self.model[name]
        if off_out > len(m):
            m.extend(b"\0" * (off_out - len(m)))
        m[off_out:off_out + length] = data

    def op_rename(self, name):
        other = self.rng.choice(NAMES)
        if other == name:
            return
        os.rename(self.path(name), self.path(other))
        self.model[other] = self.model.pop(name)
        with open(self.path(name), "wb"):
            pass
        self.model[name] = bytearray()

    def verify_all(self):
        for name, m in self.model.items():
            for root, where in ((self.mnt, "mount"), (self.backing, "backing")):
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
                assert len(data) == len(m), f"{where}: {name} size {len(data)} != {len(m)}"
                self.check(name, 0, data, f"full {where}")

    def run(self, n):
        for name in NAMES:
            with open(self.path(name), "wb"):
                pass
            self.model[name] = bytearray()
        ops = [(self.op_write, 30), (self.op_read, 25), (self.op_truncate, 8),
               (self.op_mmap_read, 10), (self.op_fallocate, 8),
               (self.op_copy_range, 8), (self.op_rename, 4)]
        funcs = [f for f, w in ops for _ in range(w)]
        for i in range(n):
            self.rng.choice(funcs)(self.rng.choice(NAMES))
            if i % 500 == 499:
                self.verify_all()
        self.verify_all()
        return self.checked_bytes


def run_fsx(mnt, backing, seed, n):
    return Fsx(mnt, backing, seed).run(n)


@pytest.mark.parametrize("seed", [1, 2])
def test_fsx_as_root(mount, seed):
    checked = run_fsx(mount.mountpoint, mount.backing, seed, OPS)
    assert checked > 1_000_000


def test_fsx_as_unprivileged_user(mount):
    work = "userdir"
    os.mkdir(os.path.join(mount.mountpoint, work))
    os.chown(os.path.join(mount.mountpoint, work), scfs.NOBODY, scfs.NOBODY)
    result = scfs.as_user(scfs.NOBODY, scfs.NOBODY, run_fsx,
                          os.path.join(mount.mountpoint, work),
                          os.path.join(mount.backing, work), 3, OPS)
    assert result[0] == "ok" and result[1] > 1_000_000, result
    for name in NAMES:
        st = os.stat(os.path.join(mount.backing, work, name))
        assert (st.st_uid, st.st_gid) == (scfs.NOBODY, scfs.NOBODY)


def test_fsx_concurrent_processes(mount):
    """Four fsx runs at once through one mount: the multithreaded daemon
    serves interleaved requests of different files and callers."""
    pids = []
    for n in range(4):
        work = os.path.join(mount.mountpoint, f"par{n}")
        os.mkdir(work)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                uid = scfs.NOBODY if n % 2 else 0
                if uid:
                    os.chown(work, uid, uid)
                    os.setgroups([])
                    os.setgid(uid)
                    os.setuid(uid)
                run_fsx(work, os.path.join(mount.backing, f"par{n}"), 100 + n, OPS // 4)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
