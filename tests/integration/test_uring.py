# SPDX-License-Identifier: GPL-2.0-or-later
"""FUSE over io_uring (by default where the kernel allows it): the same filesystem through the kernel's
per-CPU rings.  Every byte read and written is right, small and large
replies alike, from threads on every CPU and from the SSD after a
remount; a request stuck on a hung server is answered by the watchdog and
the other requests of its CPU are still served; where the kernel does not
allow the ring, the mount says why and works through /dev/fuse."""
import mmap
import os
import random
import shutil
import signal
import subprocess
import threading

import pytest

import scfs
from scfs import Sshd, sshfs_mount
from test_cache import drop_caches, make_file, read, stats, wait_written
from test_sshfs import in_thread, process_tree
from test_sshfs import make_file as make_server_file

MIB = 1 << 20
PARAM = "/sys/module/fuse/parameters/enable_uring"

pytestmark = pytest.mark.skipif(not os.path.exists(PARAM),
                                reason="this kernel has no FUSE over io_uring")


def set_enable_uring(on):
    with open(PARAM, "w") as f:
        f.write("Y" if on else "N")


@pytest.fixture
def enable_uring():
    """The fuse module's switch set as the test wants it, then as it was."""
    with open(PARAM) as f:
        was = f.read().strip() in ("Y", "1")
    yield set_enable_uring
    set_enable_uring(was)


def on_cpu(cpu, fn, *args):
    """fn(*args) in a thread on one CPU: its requests go to that CPU's ring."""
    result = []

    def run():
        os.sched_setaffinity(0, {cpu})
        try:
            result.append((True, fn(*args)))
        except BaseException as e:  # raised again in the caller
            result.append((False, e))
    t = threading.Thread(target=run)
    t.start()
    t.join()
    ok, value = result[0]
    if not ok:
        raise value
    return value


def check_tree(mnt, backing, files):
    for name, data in files.items():
        assert read(os.path.join(mnt, name)) == data, name
    assert sorted(os.listdir(mnt)) == sorted(os.listdir(backing))
    for name in files:
        a, b = os.stat(os.path.join(mnt, name)), os.stat(os.path.join(backing, name))
        assert (a.st_size, a.st_mode, a.st_mtime_ns) == (b.st_size, b.st_mode, b.st_mtime_ns)


def random_reads(path, data, seed, count=300):
    r = random.Random(seed)
    buf = mmap.mmap(-1, 131072)  # page-aligned, as O_DIRECT wants
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        for _ in range(count):
            off = r.randrange(0, len(data) // 4096) * 4096
            size = r.choice([4096, 16384, 131072])
            n = os.preadv(fd, [memoryview(buf)[:size]], off)
            assert buf[:n] == data[off:off + size], (path, off, size)
    finally:
        os.close(fd)
        buf.close()


def test_uring_serves_every_request_right(dirs, enable_uring):
    base, backing, mnt, _ = dirs
    enable_uring(True)
    cache = os.path.join(base, "c.swc")
    files = {f"f{i}": make_file(os.path.join(backing, f"f{i}"), size, None)
             for i, size in enumerate([8 * MIB, 3 * MIB + 17, 65536, 4096, 100, 0])}
    opts = ("allow_other", f"cache={cache}", "cache_size=64M", "min_hysteresis=0",
            "uring", "uring_threads=3")
    m = scfs.Mount(backing, mnt, options=opts)
    try:
        assert "uring" not in m.log().replace(mnt, ""), m.log()
        # Whole files (replies of up to a megabyte) from each CPU's ring.
        for cpu in sorted(os.sched_getaffinity(0)):
            drop_caches()
            on_cpu(cpu, check_tree, mnt, backing, files)
        # Several readers at once, so that floating threads serve too.
        errors = []

        def reader(seed):
            try:
                random_reads(os.path.join(mnt, "f0"), files["f0"], seed)
            except AssertionError as e:
                errors.append(e)
        threads = [threading.Thread(target=reader, args=(s,)) for s in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        # Writes carry their data in the ring's payload.
        new = os.urandom(2 * MIB + 5)
        with open(os.path.join(mnt, "written"), "wb") as f:
            f.write(new)
        with open(os.path.join(mnt, "f2"), "r+b") as f:
            f.seek(1000)
            f.write(b"changed")
        files["f2"] = files["f2"][:1000] + b"changed" + files["f2"][1007:]
        files["written"] = new
        assert read(os.path.join(backing, "written")) == new
        assert read(os.path.join(backing, "f2")) == files["f2"]
        os.mkdir(os.path.join(mnt, "d"))
        os.rename(os.path.join(mnt, "f4"), os.path.join(mnt, "d", "moved"))
        os.unlink(os.path.join(mnt, "f5"))
        assert sorted(os.listdir(backing)) == ["d", "f0", "f1", "f2", "f3", "written"]
        assert read(os.path.join(backing, "d", "moved")) == files.pop("f4")
        del files["f5"]
        drop_caches()
        check_tree(mnt, backing, files)  # the written ones too, into the cache
        wait_written(mnt, [len(d) for d in files.values()])
        answered = stats(mnt)["uring_requests"]
        assert answered > 1000, answered
    finally:
        m.unmount()
    log = m.log()
    assert "FUSE over io_uring" not in log and "uring:" not in log, log

    # After a remount, from the SSD, still through the ring.
    drop_caches()
    m = scfs.Mount(backing, mnt, options=opts + ("norefill",))
    try:
        on_cpu(0, check_tree, mnt, backing, files)
        st = stats(mnt)
        assert st["read_bytes_ssd"] >= sum(len(d) for d in files.values()) - 65536, st
        assert st["read_bytes_backing"] == 0, st
        assert st["uring_requests"] > 0
    finally:
        m.unmount()


def test_uring_off_in_the_kernel_says_so_and_mounts(dirs, enable_uring):
    base, backing, mnt, _ = dirs
    enable_uring(False)
    data = make_file(os.path.join(backing, "f"), MIB, None)
    m = scfs.Mount(backing, mnt, options=("allow_other", "uring"))
    try:
        assert read(os.path.join(mnt, "f")) == data
        assert stats(mnt)["uring_requests"] == 0
    finally:
        log = m.unmount()
    assert "echo Y > /sys/module/fuse/parameters/enable_uring" in log, log
    assert "requests go through /dev/fuse" in log, log


def test_uring_used_by_default_wherever_the_kernel_allows(dirs, enable_uring):
    """No option: the ring where the kernel allows it; where its switch is
    off, one line says how to turn it on; nouring: never, and silently."""
    base, backing, mnt, _ = dirs
    data = make_file(os.path.join(backing, "f"), MIB, None)
    for on, options, rings, told in ((True, (), True, False),
                                     (False, (), False, True),
                                     (True, ("nouring",), False, False)):
        enable_uring(on)
        m = scfs.Mount(backing, mnt, options=("allow_other", *options))
        try:
            assert read(os.path.join(mnt, "f")) == data
            assert (stats(mnt)["uring_requests"] > 0) == rings, (on, options)
        finally:
            log = m.unmount()
        said = log.count("echo Y > /sys/module/fuse/parameters/enable_uring")
        assert said == (1 if told else 0), (on, options, log)


@pytest.mark.skipif(not (shutil.which("sshfs") and os.path.exists("/usr/sbin/sshd")),
                    reason="needs sshfs and openssh-server")
def test_uring_request_stuck_on_a_hung_server_holds_up_no_other(dirs, enable_uring):
    """One thread per CPU: a read and an open that wait on the stopped
    server are answered ETIMEDOUT by the watchdog, and the CPU's ring
    entry goes on serving cached reads from a new thread (were it left
    with the stuck one, they would wait for the server too).  When the server is back,
    all is as before and the daemon ends cleanly."""
    base, backing, mnt, _ = dirs
    enable_uring(True)
    remote = os.path.join(base, "server")
    os.mkdir(remote)
    sshd = Sshd(base)
    stopped = []
    m = None
    try:
        sshfs_mount(sshd, remote, backing)
        cached = make_server_file(os.path.join(remote, "cached"), 2 * MIB, None)
        later = make_file(os.path.join(remote, "uncached"), MIB, None)
        m = scfs.Mount(backing, mnt, options=(
            "allow_other", f"cache={os.path.join(base, 'c.swc')}", "cache_size=64M",
            "min_hysteresis=0", "backing_timeout=2", "uring", "uring_threads=1"))
        fd = os.open(os.path.join(mnt, "cached"), os.O_RDONLY)
        assert os.pread(fd, 2 * MIB, 0) == cached
        wait_written(mnt, 2 * MIB)
        # Opened while the server answers: its reads wait on the server
        # with their reply in the ring entry's payload, held against the
        # watchdog except while they wait.
        lfd = os.open(os.path.join(mnt, "uncached"), os.O_RDONLY)
        drop_caches()
        stopped = process_tree(sshd.proc.pid)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)

        def on_cpu0(fn):
            return in_thread(lambda: on_cpu(0, fn), 30)

        def read_uncached():
            with open(os.path.join(mnt, "uncached"), "rb") as f:
                return f.read()
        assert on_cpu0(lambda: os.pread(lfd, 65536, 0)) == ("err", "ETIMEDOUT")
        assert on_cpu0(read_uncached) == ("err", "ETIMEDOUT")
        for off in (0, MIB + 4096, 2 * MIB - 100):
            assert on_cpu0(lambda: os.pread(fd, 65536, off)) == \
                ("ok", cached[off:off + 65536])
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stopped = []
        scfs.wait_for(lambda: on_cpu0(read_uncached) == ("ok", later), timeout=30,
                      what="the server's file once it answers")
        assert on_cpu0(lambda: os.pread(fd, 4096, 4096)) == ("ok", cached[4096:8192])
        assert on_cpu0(lambda: os.pread(lfd, MIB, 0)) == ("ok", later)
        os.close(fd)
        os.close(lfd)
        assert stats(mnt)["backing_timeouts"] >= 1
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        if m:
            log = m.unmount()
            assert "uring:" not in log and "FUSE over io_uring" not in log, log
        if os.path.ismount(backing):
            subprocess.run(["fusermount3", "-uz", backing])
        sshd.stop()
