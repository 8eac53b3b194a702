# SPDX-License-Identifier: GPL-2.0-or-later
"""Differential tests: every operation is done once on the mount and once
on a plain reference directory; results, errnos and the resulting trees
must be the same."""
import fcntl
import mmap
import os
import stat
import subprocess
import time

import pytest

import scfs
from scfs import outcome


class Pair:
    """Runs a scenario against both roots and compares."""

    def __init__(self, mount):
        self.mount = mount
        self.mnt = mount.mountpoint
        self.ref = mount.ref

    def same(self, fn, *rel):
        """fn(*paths) must give the same outcome on both sides."""
        a = outcome(fn, *[os.path.join(self.ref, r) for r in rel])
        b = outcome(fn, *[os.path.join(self.mnt, r) for r in rel])
        assert a == b, f"reference {a} != mount {b}"
        return b

    def setup(self, fn):
        fn(self.ref)
        fn(self.mnt)

    def check_trees(self):
        ref = scfs.tree_state(self.ref)
        assert scfs.tree_state(self.mount.backing) == ref
        assert scfs.tree_state(self.mnt) == ref


@pytest.fixture
def pair(mount):
    p = Pair(mount)
    yield p
    p.check_trees()


def write(path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode=0o644):
    fd = os.open(path, flags, mode)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def st_view(path, follow=False):
    st = os.stat(path, follow_symlinks=follow)
    return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
            st.st_gid, st.st_size if not stat.S_ISDIR(st.st_mode) else None,
            st.st_nlink if not stat.S_ISDIR(st.st_mode) else None)


def test_create_excl_trunc_append(pair):
    pair.same(lambda p: write(p, b"hello"), "f")
    pair.same(lambda p: write(p, b"x", os.O_WRONLY | os.O_CREAT | os.O_EXCL), "f")
    pair.same(lambda p: write(p, b" world", os.O_WRONLY | os.O_APPEND), "f")
    assert pair.same(read, "f") == ("ok", b"hello world")
    pair.same(lambda p: write(p, b"", os.O_WRONLY | os.O_TRUNC), "f")
    assert pair.same(read, "f") == ("ok", b"")
    pair.same(lambda p: write(p, b"new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "g")
    pair.same(st_view, "g")
    pair.same(lambda p: os.open(p, os.O_RDONLY), "missing")


def test_mkdir_rmdir_unlink_errors(pair):
    pair.same(lambda p: os.mkdir(p, 0o750), "d")
    pair.same(lambda p: os.mkdir(p), "d")                       # EEXIST
    pair.setup(lambda r: write(os.path.join(r, "d", "f"), b"1"))
    pair.same(os.rmdir, "d")                                     # ENOTEMPTY
    pair.same(os.rmdir, "d/f")                                   # ENOTDIR
    pair.same(os.unlink, "d")                                    # EISDIR
    pair.same(os.unlink, "nothing")                              # ENOENT
    pair.same(lambda p: os.mkdir(p), "nothing/sub")              # ENOENT
    pair.same(lambda p: os.mkdir(p), "d/f/sub")                  # ENOTDIR
    pair.same(os.unlink, "d/f")
    pair.same(os.rmdir, "d")
    pair.same(os.listdir, "d")


def test_rename_variants(pair):
    def setup(r):
        write(os.path.join(r, "a"), b"A")
        write(os.path.join(r, "b"), b"B")
        os.makedirs(os.path.join(r, "d1/inner"))
        os.makedirs(os.path.join(r, "d2"))
        write(os.path.join(r, "d1/inner/x"), b"X")
        os.makedirs(os.path.join(r, "full"))
        write(os.path.join(r, "full/y"), b"Y")
    pair.setup(setup)
    pair.same(os.rename, "a", "a2")
    pair.same(os.rename, "a2", "b")                              # replaces b
    assert pair.same(read, "b") == ("ok", b"A")
    pair.same(os.rename, "d1", "d2/moved")                       # over empty dir
    assert pair.same(read, "d2/moved/inner/x") == ("ok", b"X")
    pair.same(os.rename, "d2", "full")                           # ENOTEMPTY
    pair.same(os.rename, "full", "full/y/z")                     # ENOTDIR
    pair.same(os.rename, "d2", "d2/moved/inner/sub")             # EINVAL
    pair.same(os.rename, "b", "full")                            # EISDIR
    pair.same(os.rename, "full", "b")                            # ENOTDIR
    pair.same(os.rename, "ghost", "b")                           # ENOENT


def test_rename_noreplace_and_exchange(pair):
    def setup(r):
        write(os.path.join(r, "a"), b"A")
        write(os.path.join(r, "b"), b"B")
        os.mkdir(os.path.join(r, "d"))
        write(os.path.join(r, "d", "in"), b"I")
    pair.setup(setup)

    def rn(flags):
        return lambda o, n: scfs.renameat2(os.path.dirname(o), os.path.basename(o),
                                           os.path.dirname(n), os.path.basename(n), flags)
    pair.same(rn(scfs.RENAME_NOREPLACE), "a", "b")               # EEXIST
    pair.same(rn(scfs.RENAME_NOREPLACE), "a", "c")
    pair.same(rn(scfs.RENAME_EXCHANGE), "c", "b")
    assert pair.same(read, "c") == ("ok", b"B")
    assert pair.same(read, "b") == ("ok", b"A")
    pair.same(rn(scfs.RENAME_EXCHANGE), "b", "d")                # file <-> dir
    assert pair.same(read, "b/in") == ("ok", b"I")
    assert pair.same(read, "d") == ("ok", b"A")
    pair.same(rn(scfs.RENAME_EXCHANGE), "b", "missing")          # ENOENT


def test_symlink_readlink_link(pair):
    pair.setup(lambda r: write(os.path.join(r, "target"), b"T"))
    pair.same(lambda p: os.symlink("target", p), "sl")
    pair.same(lambda p: os.symlink("/nowhere/abs", p), "dangling")
    pair.same(lambda p: os.symlink("x", p), "sl")                # EEXIST
    assert pair.same(os.readlink, "sl") == ("ok", "target")
    pair.same(os.readlink, "target")                             # EINVAL
    assert pair.same(read, "sl") == ("ok", b"T")
    pair.same(read, "dangling")                                  # ENOENT
    pair.same(os.link, "target", "hard")
    assert pair.same(lambda p: os.stat(p).st_nlink, "target") == ("ok", 2)
    assert pair.same(read, "hard") == ("ok", b"T")
    pair.same(lambda p: write(p, b"via hard", os.O_WRONLY | os.O_TRUNC), "hard")
    assert pair.same(read, "target") == ("ok", b"via hard")
    pair.same(lambda p: os.mkdir(p), "dir")
    pair.same(os.link, "dir", "dirlink")                         # EPERM
    pair.same(os.unlink, "target")
    assert pair.same(lambda p: os.stat(p).st_nlink, "hard") == ("ok", 1)
    pair.same(lambda p: os.lchown(p, 1000, 1000), "sl")
    pair.same(st_view, "sl")


def test_mknod_fifo_and_devices(pair):
    pair.same(lambda p: os.mkfifo(p, 0o640), "fifo")
    pair.same(lambda p: os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(1, 3)), "null")
    pair.same(lambda p: os.mknod(p, 0o644 | stat.S_IFREG), "regular")
    pair.same(st_view, "fifo")
    pair.same(lambda p: os.stat(p).st_rdev, "null")
    pair.same(lambda p: os.mkfifo(p), "fifo")                    # EEXIST


def test_chmod_chown_truncate(pair):
    pair.setup(lambda r: write(os.path.join(r, "f"), b"0123456789"))
    pair.same(lambda p: os.chmod(p, 0o4751), "f")
    pair.same(st_view, "f")
    pair.same(lambda p: os.chown(p, 1234, 5678), "f")
    pair.same(st_view, "f")
    pair.same(lambda p: os.chown(p, -1, 42), "f")
    pair.same(lambda p: os.truncate(p, 4), "f")
    assert pair.same(read, "f") == ("ok", b"0123")
    pair.same(lambda p: os.truncate(p, 100000), "f")
    assert pair.same(lambda p: read(p)[:6], "f") == ("ok", b"0123\0\0")
    pair.same(lambda p: os.truncate(p, -1), "f")                 # EINVAL
    pair.same(lambda p: os.truncate(p, 3), "missing")            # ENOENT
    pair.same(st_view, "f")

    def ftrunc(p):
        fd = os.open(p, os.O_RDWR)
        try:
            os.ftruncate(fd, 7)
            os.fchmod(fd, 0o600)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)
    assert pair.same(ftrunc, "f") == ("ok", 7)


def test_utimens_now_omit_and_explicit(pair):
    pair.setup(lambda r: write(os.path.join(r, "f"), b"x"))
    pair.setup(lambda r: os.symlink("f", os.path.join(r, "sl")))
    t1 = (1_600_000_000, 123_456_789)
    pair.same(lambda p: scfs.utimensat(p, t1, t1), "f")
    assert pair.same(lambda p: os.stat(p).st_mtime_ns, "f") == ("ok", 1_600_000_000_123_456_789)
    t2 = (1_500_000_000, 5)
    pair.same(lambda p: scfs.utimensat(p, scfs.UTIME_OMIT, t2), "f")
    assert pair.same(lambda p: (os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns), "f") == \
        ("ok", (1_600_000_000_123_456_789, 1_500_000_000_000_000_005))
    pair.same(lambda p: scfs.utimensat(p, t2, scfs.UTIME_OMIT, follow=False), "sl")
    assert pair.same(lambda p: os.lstat(p).st_atime_ns, "sl") == ("ok", 1_500_000_000_000_000_005)
    before = time.time_ns()
    for root in (pair.ref, pair.mnt):
        scfs.utimensat(os.path.join(root, "f"), scfs.UTIME_NOW, scfs.UTIME_OMIT)
        st = os.stat(os.path.join(root, "f"))
        assert st.st_atime_ns >= before - 20_000_000
        assert st.st_mtime_ns == 1_500_000_000_000_000_005
        # The tree comparison must not depend on the moment of the call.
        os.utime(os.path.join(root, "f"), ns=(st.st_mtime_ns, st.st_mtime_ns))


def test_readdir_large_and_readdirplus(pair):
    names = [f"entry-{i:05d}-" + "x" * (i % 40) for i in range(1500)]

    def setup(r):
        os.mkdir(os.path.join(r, "big"))
        for n in names:
            write(os.path.join(r, "big", n), n.encode())
    pair.setup(setup)
    a = pair.same(lambda p: sorted(os.listdir(p)), "big")
    assert a == ("ok", sorted(names))
    # ls -l style: every entry's attributes through readdirplus.
    got = pair.same(lambda p: sorted((e.name, e.stat(follow_symlinks=False).st_size,
                                      e.is_file()) for e in os.scandir(p)), "big")
    assert len(got[1]) == 1500


def test_xattrs_pass_through(pair):
    pair.setup(lambda r: write(os.path.join(r, "f"), b"x"))
    pair.same(lambda p: os.setxattr(p, "user.color", b"blue"), "f")
    assert pair.same(lambda p: os.getxattr(p, "user.color"), "f") == ("ok", b"blue")
    pair.same(lambda p: os.getxattr(p, "user.missing"), "f")     # ENODATA
    pair.same(lambda p: os.setxattr(p, "user.color", b"red", os.XATTR_CREATE), "f")
    pair.same(lambda p: os.setxattr(p, "user.new", b"v", os.XATTR_REPLACE), "f")
    pair.same(lambda p: os.setxattr(p, "user.big", b"z" * 3000), "f")
    assert pair.same(lambda p: sorted(os.listxattr(p)), "f")[0] == "ok"
    pair.same(lambda p: os.removexattr(p, "user.color"), "f")
    pair.same(lambda p: os.removexattr(p, "user.color"), "f")    # ENODATA
    pair.same(lambda p: os.setxattr(p, "bogus.ns", b"v"), "f")  # EOPNOTSUPP
    pair.same(lambda p: os.mkdir(p), "d")
    pair.same(lambda p: os.setxattr(p, "user.dir", b"1"), "d")
    assert pair.same(lambda p: os.getxattr(p, "user.dir"), "d") == ("ok", b"1")


def test_fallocate_lseek_copy_file_range(pair):
    def sparse(p):
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, b"D" * 4096, 1 << 20)
            return (os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE),
                    os.lseek(fd, (1 << 20) + 100, os.SEEK_HOLE))
        finally:
            os.close(fd)
    assert pair.same(sparse, "s") == ("ok", (1 << 20, 0, (1 << 20) + 4096))

    def seek_past_end(p):
        fd = os.open(p, os.O_RDONLY)
        try:
            return os.lseek(fd, 10 << 20, os.SEEK_DATA)
        finally:
            os.close(fd)
    pair.same(seek_past_end, "s")                                # ENXIO

    def falloc(mode, off, length):
        def fn(p):
            fd = os.open(p, os.O_RDWR)
            try:
                scfs.fallocate(fd, mode, off, length)
                return os.fstat(fd).st_size
            finally:
                os.close(fd)
        return fn
    pair.setup(lambda r: write(os.path.join(r, "f"), b"A" * 10000))
    assert pair.same(falloc(0, 0, 20000), "f") == ("ok", 20000)
    assert pair.same(falloc(scfs.FALLOC_FL_KEEP_SIZE, 0, 50000), "f") == ("ok", 20000)
    pair.same(falloc(scfs.FALLOC_FL_PUNCH_HOLE | scfs.FALLOC_FL_KEEP_SIZE, 4096, 4096), "f")
    assert pair.same(lambda p: read(p)[4090:8200], "f")[1] == b"A" * 6 + b"\0" * 4096 + b"A" * 8
    pair.same(falloc(scfs.FALLOC_FL_PUNCH_HOLE, 0, 10), "f")     # EOPNOTSUPP

    def cfr(src, dst):
        fi = os.open(src, os.O_RDONLY)
        fo = os.open(dst, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            return os.copy_file_range(fi, fo, 5000, 100, 7)
        finally:
            os.close(fi)
            os.close(fo)
    assert pair.same(cfr, "f", "copy") == ("ok", 5000)
    # f[100:5100] crosses the hole punched at 4096.
    assert pair.same(lambda p: read(p)[:5010], "copy")[1] == \
        b"\0" * 7 + b"A" * (4096 - 100) + b"\0" * (5000 - 3996)


def test_open_unlinked_file_stays_usable(pair):
    def scenario(p):
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.write(fd, b"still here")
            os.unlink(p)
            os.fchmod(fd, 0o600)
            os.ftruncate(fd, 5)
            st = os.fstat(fd)
            return (os.pread(fd, 100, 0), st.st_size, st.st_nlink, stat.S_IMODE(st.st_mode))
        finally:
            os.close(fd)
    assert pair.same(scenario, "gone") == ("ok", (b"still", 5, 0, 0o600))
    pair.same(os.stat, "gone")                                   # ENOENT


def test_fsync_fsyncdir_statfs_access(pair):
    pair.setup(lambda r: write(os.path.join(r, "f"), b"x"))

    def sync(p):
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.fdatasync(fd)
        finally:
            os.close(fd)
    pair.same(sync, "f")
    pair.same(sync, ".")
    a = os.statvfs(pair.mnt)
    b = os.statvfs(pair.mount.backing)
    assert (a.f_bsize, a.f_blocks, a.f_files, a.f_namemax) == \
        (b.f_bsize, b.f_blocks, b.f_files, b.f_namemax)
    pair.same(lambda p: [os.access(p, m) for m in (os.R_OK, os.W_OK, os.X_OK, os.F_OK)], "f")
    pair.same(lambda p: os.access(p, os.F_OK), "nope")


def test_flock_conflicts_and_reaches_backing(mount):
    path = os.path.join(mount.mountpoint, "lockme")
    write(path, b"x")
    a = os.open(path, os.O_RDWR)
    b = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(BlockingIOError):
            fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The lock is held on the backing file too.
        c = os.open(os.path.join(mount.backing, "lockme"), os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(c, fcntl.LOCK_SH | fcntl.LOCK_NB)
        os.close(c)
        fcntl.flock(a, fcntl.LOCK_UN)
        fcntl.flock(b, fcntl.LOCK_SH | fcntl.LOCK_NB)
    finally:
        os.close(a)
        os.close(b)


def test_blocking_flock_waits_and_is_interruptible(mount):
    path = os.path.join(mount.mountpoint, "lockwait")
    write(path, b"x")
    holder = os.open(path, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    waiter = subprocess.Popen(["flock", "-x", path, "-c", "echo got"],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    assert waiter.poll() is None          # blocked while we hold it
    fcntl.flock(holder, fcntl.LOCK_UN)
    assert waiter.communicate(timeout=10)[0] == "got\n"
    fcntl.flock(holder, fcntl.LOCK_EX)
    waiter = subprocess.Popen(["flock", "-x", path, "-c", "true"])
    time.sleep(0.3)
    waiter.kill()                         # a signal ends the wait
    waiter.wait(timeout=10)
    os.close(holder)


def test_posix_locks_conflict_between_processes(mount):
    path = os.path.join(mount.mountpoint, "plock")
    write(path, b"0123456789")
    fd = os.open(path, os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX, 5, 0)

    def try_lock(start):
        f = os.open(path, os.O_RDWR)
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 5, start)
            return "locked"
        finally:
            os.close(f)
    assert scfs.as_user(0, 0, try_lock, 0)[0] == "err"
    assert scfs.as_user(0, 0, try_lock, 5) == ("ok", "locked")
    os.close(fd)
    assert scfs.as_user(0, 0, try_lock, 0) == ("ok", "locked")


def test_mmap_read_and_shared_write(pair):
    pair.setup(lambda r: write(os.path.join(r, "m"), bytes(range(256)) * 64))

    def mm(p):
        fd = os.open(p, os.O_RDWR)
        try:
            with mmap.mmap(fd, 0) as m:
                m[10:14] = b"ABCD"
                m.flush()
                return bytes(m[0:20])
        finally:
            os.close(fd)
    pair.same(mm, "m")
    assert pair.same(lambda p: read(p)[8:16], "m")[1] == bytes([8, 9]) + b"ABCD" + bytes([14, 15])


def test_changes_behind_the_mount_are_seen(dirs):
    """With meta_timeout=0 only the kernel's own caches stand in the way."""
    base, backing, mnt, ref = dirs
    mount = scfs.Mount(backing, mnt, options=("allow_other", "meta_timeout=0"))
    try:
        changes_are_seen(mount)
    finally:
        mount.unmount()


def changes_are_seen(mount):
    back = os.path.join(mount.backing, "f")
    front = os.path.join(mount.mountpoint, "f")
    write(back, b"first")
    assert read(front) == b"first"
    write(back, b"second!")
    assert read(front) == b"second!"
    os.unlink(back)
    os.mkdir(back)
    time.sleep(1.2)  # the kernel trusts its entry for entry_timeout (1 s)
    assert os.path.isdir(front)
