# SPDX-License-Identifier: GPL-2.0-or-later
"""Faults injected for real: the daemon killed with SIGKILL at random
moments while readers check every byte, the scanner writes and cleans and
files change behind the mount's back."""
import errno
import os
import random
import re
import subprocess
import threading
import time

import faults
import scfs
from test_cache import expect_backing_fd_direct, stats
from test_cache_device import STORE_TOOL

CRASH_LOOP_CYCLES = int(os.environ.get("SCFS_CRASH_LOOP_CYCLES", "50"))
FILE_BLOCKS = 96  # 384 KiB: six clusters


def file_blocks(file_id):
    """Six clusters, or five and a tail of 11, 6 or 1 pages: three files
    in four end in a cluster the store packs with others' (format.h)."""
    return FILE_BLOCKS - (file_id % 4) * 5
STABLE_FILES = 12  # never change: their SSD copies must survive each crash
CHANGING_FILES = 12  # replaced behind the mount's back all along
META_TIMEOUT = 2
# How old a version an open may find: one BACKING vouched for within
# meta_timeout (strict_open=0, the default), a second of the kernel's
# attributes, a second of slack.
STALE_S = META_TIMEOUT + 2


class Backing:
    """The backing directory and the versions its files have had."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.version = {}
        self.since = {}  # file_id -> [(version, monotonic time it began)]
        for f in range(STABLE_FILES + CHANGING_FILES):
            self.replace(f)

    def name(self, file_id):
        return f"f{file_id:02d}"

    def current(self, file_id):
        with self.lock:
            return self.version[file_id]

    def replace(self, file_id):
        with self.lock:
            v = self.version.get(file_id, 0) + 1
            # Visible from the moment its write begins.
            self.since.setdefault(file_id, []).append((v, time.monotonic()))
            faults.write_version(os.path.join(self.path, self.name(file_id)), file_id, v,
                                 file_blocks(file_id))
            self.version[file_id] = v

    def current_since(self, file_id, t0):
        """The versions of file_id that were current at some time from t0
        until now."""
        with self.lock:
            history = list(self.since[file_id])
        return {v for i, (v, start) in enumerate(history)
                if i + 1 == len(history) or history[i + 1][1] >= t0}


def read_and_check(mnt, backing, file_id, rng, tally):
    """Open one file through the mount, read a few ranges, check each byte.
    Returns False when the mount went away under the reader."""
    path = os.path.join(mnt, backing.name(file_id))
    size = file_blocks(file_id) * faults.BLOCK
    opened_at = time.monotonic()
    before = backing.current(file_id)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        if e.errno == errno.ESTALE and backing.current(file_id) != before:
            # The kernel retries an open the daemon found replaced once,
            # with a fresh lookup; a replacement between that lookup and
            # the open leaks ESTALE, as over NFS.  Only then.
            with tally.lock:
                tally.stale_opens += 1
            return True
        e.strerror = f"{e.strerror} (versions {before}..{backing.current(file_id)})"
        return record_error(tally, e)
    versions = None  # those every read of this handle so far matches
    try:
        for _ in range(rng.randint(1, 4)):
            off = rng.randrange(size)
            length = rng.choice((1, 4096, 65536, 131072, rng.randrange(1, 200000)))
            try:
                data = os.pread(fd, length, off)
            except OSError as e:
                if e.errno == errno.ESTALE and replaced_since(backing, file_id,
                                                              opened_at, versions):
                    # Opened on the metadata cache's word, its pages gone,
                    # and BACKING's file replaced since: as over NFS.
                    with tally.lock:
                        tally.stale_reads += 1
                    return True
                return record_error(tally, e)
            try:
                allowed = versions or backing.current_since(file_id,
                                                             opened_at - STALE_S)
                versions = faults.matching(data, off, file_id, allowed) if data else allowed
                if not versions:
                    faults.check(data, off, file_id, allowed)  # names the byte
                    raise AssertionError(f"file {file_id}: {len(data)} bytes at {off} "
                                         f"are of no one version of {sorted(allowed)}")
            except AssertionError as e:
                with tally.lock:
                    tally.wrong.append(str(e))
                return True
            tally.add(len(data))
            if len(data) != min(length, size - off):
                # Short: right only if the daemon died in the middle of it
                # (the kernel returns what it had), so the rest must fail.
                try:
                    os.pread(fd, 1, off + len(data))
                except OSError as e:
                    if e.errno in faults.DISCONNECTED:
                        return False
                    if e.errno == errno.ESTALE and replaced_since(
                            backing, file_id, opened_at, versions):
                        with tally.lock:  # as above, after a part
                            tally.stale_reads += 1
                        return True
                with tally.lock:
                    tally.wrong.append(f"file {file_id}: short read {len(data)} at {off}")
                return True
    finally:
        try:
            os.close(fd)
        except OSError as e:
            if e.errno not in faults.DISCONNECTED:
                raise
    return True


def replaced_since(backing, file_id, opened_at, versions):
    """Whether BACKING's file is no longer the one a handle opened at
    opened_at read (versions: those its reads matched; None: no read yet)."""
    if versions is None:
        return len(backing.current_since(file_id, opened_at - STALE_S)) > 1
    return backing.current(file_id) not in versions


def record_error(tally, e):
    if e.errno in faults.DISCONNECTED:
        return False
    with tally.lock:
        tally.errors.append(f"{errno.errorcode.get(e.errno, e.errno)}: {e}")
    return True


def unmount_dead(mnt):
    subprocess.run(["fusermount3", "-uz", mnt], capture_output=True)
    scfs.wait_for(lambda: not os.path.ismount(mnt), what="the dead mount to go")


def audit(cache):
    r = subprocess.run([STORE_TOOL, "audit", cache], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"^clusters (\d+) slots (\d+)", r.stdout, re.M)
    return int(m.group(1)), int(m.group(2))


def test_crash_loop_kill_9_never_serves_a_wrong_byte(dirs):
    base, backing_dir, mnt, _ = dirs
    cache = os.path.join(base, "crash.swc")
    rng = random.Random(6)
    backing = Backing(backing_dir)
    tally = faults.Tally()
    # A pool smaller than the files, a cache that must clean, a scanner
    # that writes as soon as pages arrive.
    options = ("allow_other", f"cache={cache}", "cache_size=16M", "ram=2M",
               "min_hysteresis=0", "accrate=1G", "maxswappct=40", "maxscan=256",
               "maxlaunder=64", f"meta_timeout={META_TIMEOUT}")
    stop_changes = threading.Event()

    def changer():
        r = random.Random(7)
        while not stop_changes.wait(r.uniform(0.02, 0.1)):
            backing.replace(STABLE_FILES + r.randrange(CHANGING_FILES))

    changes = threading.Thread(target=changer)
    changes.start()
    served_from_ssd = cycles_with_copies = written = cleaned = packed = 0
    try:
        for cycle in range(CRASH_LOOP_CYCLES):
            used_at_crash = audit(cache)[0] if cycle else 0
            m = scfs.Mount(backing_dir, mnt, options=options)
            # The daemon loads exactly what the audit found committed (as
            # it says at mount: the cleaner may free some at once after).
            if cycle:
                loaded = re.search(r"(\d+) clusters loaded", m.log())
                assert loaded and int(loaded.group(1)) == used_at_crash, (m.log(),
                                                                          used_at_crash)
            else:
                assert ": new, " in m.log(), m.log()
            ssd_before = stats(mnt)["read_bytes_ssd"]
            for f in range(STABLE_FILES):
                read_and_check(mnt, backing, f, rng, tally)
            if used_at_crash:
                cycles_with_copies += 1
                served_from_ssd += stats(mnt)["read_bytes_ssd"] > ssd_before
            alive = threading.Event()
            alive.set()

            def reader(seed):
                r = random.Random(seed)
                while alive.is_set():
                    f = r.randrange(STABLE_FILES + CHANGING_FILES)
                    if not read_and_check(mnt, backing, f, r, tally):
                        return

            readers = [threading.Thread(target=reader, args=(cycle * 10 + i,))
                       for i in range(3)]
            for t in readers:
                t.start()
            time.sleep(rng.uniform(0.1, 1.0))
            st = stats(mnt)
            written += st["clusters_written"]
            cleaned += st["clusters_cleaned"]
            packed = max(packed, st["ssd_packed_clusters"])
            m.kill_9(alive, readers)
            # With the daemon's last words: what it saw of the failure.
            assert not tally.wrong, (tally.wrong[:5], m.log()[-3000:])
            assert not tally.errors, (tally.errors[:5], m.log()[-3000:])
    finally:
        stop_changes.set()
        changes.join()
        if os.path.ismount(mnt):
            unmount_dead(mnt)
    audit(cache)
    print(f"crash loop: {CRASH_LOOP_CYCLES} kill -9 cycles, {tally.bytes_verified} bytes "
          f"verified, {len(tally.wrong)} wrong, {len(tally.errors)} errors, "
          f"{tally.stale_opens} opens ESTALE as the file was replaced during them, "
          f"{tally.stale_reads} reads ESTALE as it was replaced after an open on "
          f"the metadata cache's word; "
          f"SSD served committed copies after {served_from_ssd} of "
          f"{cycles_with_copies} restarts that had any; the scanner wrote {written} "
          f"and cleaned {cleaned} clusters")
    assert written > 0 and cleaned > 0
    # Shared slots were in play (the tails, the directories' records); at
    # the end the cleaner may have freed them all, so seen while running.
    assert packed > 0
    assert tally.bytes_verified > 0
    assert cycles_with_copies >= CRASH_LOOP_CYCLES // 2
    assert served_from_ssd >= cycles_with_copies // 2


def layout(cache):
    """(regions, [cluster]) of an unmounted cache, read raw: each cluster a
    record (or a packed slot's table) names, as a dict of slot, object,
    cluster, mask, offset and length (where its bytes are in the slot)
    and packed."""
    r = subprocess.run([STORE_TOOL, "layout", cache], capture_output=True, text=True,
                       timeout=60, check=True)
    lines = r.stdout.splitlines()
    head = lines[0].split()
    regions = dict(zip(head[0::2], map(int, head[1::2])))
    clusters = []
    for line in lines[1:]:
        f = line.split()
        c = dict(zip(f[0:12:2], map(int, f[1:12:2])))
        c["packed"] = f[-1] == "packed"
        clusters.append(c)
    return regions, clusters


def poke(path, off, fn):
    """Replace the bytes at off by fn(bytes) in the file at path."""
    with open(path, "r+b") as f:
        f.seek(off[0])
        old = f.read(off[1])
        f.seek(off[0])
        f.write(fn(old))


def flip_bit(rng):
    def fn(old):
        i = rng.randrange(len(old) * 8)
        b = bytearray(old)
        b[i // 8] ^= 1 << (i % 8)
        return bytes(b)
    return fn


def read_all(mnt, nfiles, nblocks, tally):
    for f in range(nfiles):
        with open(os.path.join(mnt, f"f{f:02d}"), "rb") as fh:
            data = fh.read()
        assert len(data) == nblocks * faults.BLOCK
        faults.check(data, 0, f, {1})
        tally.add(len(data))


def test_corrupt_copies_are_detected_and_dropped(dirs):
    """Bit flips and zeroed blocks in the data slots, damaged and zeroed
    index records, written into an unmounted cache: every byte read is
    right, every damaged copy is found, counted and gone for good."""
    base, backing_dir, mnt, _ = dirs
    cache = os.path.join(base, "corrupt.swc")
    nfiles, nblocks = 16, 128  # 512 KiB each: 128 clusters in all
    for f in range(nfiles):
        faults.write_version(os.path.join(backing_dir, f"f{f:02d}"), f, 1, nblocks)
    # File data only: the counts below are of its clusters (test_meta
    # damages a metadata record).
    options = ("allow_other", f"cache={cache}", "cache_size=32M", "min_hysteresis=0",
               "meta_enable=0")
    tally = faults.Tally()
    m = scfs.Mount(backing_dir, mnt, options=options)
    read_all(mnt, nfiles, nblocks, tally)
    scfs.wait_for(lambda: stats(mnt)["clusters_written"] >= 128, timeout=60,
                  what="the scanner to write every cluster")
    m.unmount()

    regions, clusters = layout(cache)
    assert len(clusters) == 128 and not any(c["packed"] for c in clusters)
    rng = random.Random(3)
    used = sorted(c["slot"] for c in clusters)
    # One index sector zeroed (its records read as free), a few records
    # with a flipped bit (torn: dropped at load), and damaged data in
    # slots whose records survive (found by their checksums when read).
    records_per_sector = 4096 // 64
    sector = rng.choice(used) // records_per_sector
    zeroed = [s for s in used if s // records_per_sector == sector]
    poke(cache, (regions["index"] + sector * 4096, 4096), lambda old: bytes(len(old)))
    rest = [s for s in used if s not in zeroed]
    rng.shuffle(rest)
    torn, flipped, blanked = rest[:8], rest[8:28], rest[28:38]
    for s in torn:
        poke(cache, (regions["index"] + s * 64, 64), flip_bit(rng))
    for s in flipped:
        poke(cache, (regions["data"] + s * 65536, 65536), flip_bit(rng))
    for s in blanked:
        block = rng.randrange(16)
        poke(cache, (regions["data"] + s * 65536 + block * 4096, 4096),
             lambda old: bytes(len(old)))

    # norefill: the reads below, not the mount's, meet the damage.
    m = scfs.Mount(backing_dir, mnt, options=options + ("norefill",))
    st = stats(mnt)
    loaded = 128 - len(zeroed) - len(torn)
    assert st["ssd_used_bytes"] == loaded * 65536, st
    read_all(mnt, nfiles, nblocks, tally)
    st = stats(mnt)
    assert st["checksum_errors"] == len(flipped) + len(blanked), st
    # Every sound copy served from the SSD, not only those before the
    # first damaged one of a file.
    sound = loaded - len(flipped) - len(blanked)
    assert st["read_bytes_ssd"] == sound * 65536, st
    log = m.unmount()
    assert re.search(rf"{len(torn)} records were torn, corrupt or superseded", log), log

    # The damaged copies are gone for good: none is met again.
    m = scfs.Mount(backing_dir, mnt, options=options)
    read_all(mnt, nfiles, nblocks, tally)
    st = stats(mnt)
    assert st["checksum_errors"] == 0, st
    assert st["read_bytes_ssd"] > 0, st
    m.unmount()
    audit(cache)
    print(f"corruption: {len(zeroed)} zeroed and {len(torn)} torn records, "
          f"{len(flipped)} bit flips and {len(blanked)} zeroed blocks in data; "
          f"{tally.bytes_verified} bytes verified, 0 wrong, "
          f"{len(flipped) + len(blanked)} damaged copies detected and dropped")


FAULTYFS = os.environ.get("FAULTYFS") or os.path.join(
    os.path.dirname(STORE_TOOL), "faultyfs")


class FaultyDevice:
    """A loop device over the one file of a faultyfs mount: a cache device
    whose reads and writes fail when told to, or that goes away."""

    def __init__(self, base, size):
        self.image = os.path.join(base, "faulty.img")
        with open(self.image, "wb") as f:
            f.truncate(size)
        self.mnt = os.path.join(base, "faultyfs")
        os.mkdir(self.mnt)
        self.proc = subprocess.Popen([FAULTYFS, self.image, self.mnt],
                                     stderr=subprocess.DEVNULL)
        scfs.wait_for(lambda: os.path.ismount(self.mnt), what="faultyfs")
        self.dev = subprocess.run(["losetup", "-f", "--show", os.path.join(self.mnt, "disk")],
                                  capture_output=True, text=True, check=True).stdout.strip()

    def fail(self, how):
        with open(os.path.join(self.mnt, "control"), "w") as f:
            f.write(how)

    def go_away(self):
        """The filesystem under the device dies: every request fails."""
        self.proc.kill()
        self.proc.wait()

    def close(self):
        subprocess.run(["losetup", "-d", self.dev], capture_output=True)
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True)


def failure_lines(log):
    return len(re.findall(r"device errors in a row", log))


def test_ssd_errors_and_disappearance_never_reach_applications(dirs):
    """Reads that fail, writes that fail (a full device), a device that
    goes away: applications get every byte right and no error; the stats
    count the errors; the cache gives the device up after a run of them,
    says so once, and uses it again after a remount."""
    base, backing_dir, mnt, _ = dirs
    device = FaultyDevice(base, 48 << 20)
    tally = faults.Tally()
    nblocks = 128
    for f in range(24):
        faults.write_version(os.path.join(backing_dir, f"f{f:02d}"), f, 1, nblocks)
    options = ("allow_other", f"cache={device.dev}", "min_hysteresis=0", "ram=2M")
    try:
        # Cache the first 16 files on the device (with room for all of
        # them in RAM until the scanner writes them), then mount again
        # with a pool too small to hold them: reads go to the device.
        m = scfs.Mount(backing_dir, mnt, options=options[:-1] + ("ram=32M",))
        read_all(mnt, 16, nblocks, tally)
        scfs.wait_for(lambda: stats(mnt)["clusters_written"] >= 128, timeout=60,
                      what="the scanner to write every cluster")
        m.unmount()
        m = scfs.Mount(backing_dir, mnt, options=options)
        assert stats(mnt)["ssd_state"] == "ok"

        # 1. Reads fail.
        device.fail("eio")
        read_all(mnt, 16, nblocks, tally)
        read_all(mnt, 16, nblocks, tally)
        st = stats(mnt)
        assert st["ssd_io_errors"] >= 8 and st["ssd_state"] == "failed", st
        log = m.unmount()
        assert failure_lines(log) == 1, log

        # Picked up again on remount, with what it held.
        device.fail("ok")
        m = scfs.Mount(backing_dir, mnt, options=options)
        assert stats(mnt)["ssd_used_bytes"] > 0
        read_all(mnt, 16, nblocks, tally)
        st = stats(mnt)
        assert st["ssd_state"] == "ok" and st["read_bytes_ssd"] > 0, st

        # 2. Writes fail: the device is full.
        device.fail("enospc")
        for f in range(16, 24):
            with open(os.path.join(mnt, f"f{f:02d}"), "rb") as fh:
                faults.check(fh.read(), 0, f, {1})
                tally.add(nblocks * faults.BLOCK)
        scfs.wait_for(lambda: stats(mnt)["ssd_state"] == "failed", timeout=60,
                      what="the cache to give the full device up")
        read_all(mnt, 24, nblocks, tally)
        log = m.unmount()
        assert failure_lines(log) == 1, log

        # 3. The device goes away under a live mount.
        device.fail("ok")
        m = scfs.Mount(backing_dir, mnt, options=options)
        assert stats(mnt)["ssd_state"] == "ok"
        device.go_away()
        read_all(mnt, 24, nblocks, tally)
        read_all(mnt, 24, nblocks, tally)
        st = stats(mnt)
        assert st["ssd_state"] == "failed", st
        log = m.unmount()  # and the daemon still ends cleanly
        assert failure_lines(log) == 1, log
    finally:
        if os.path.ismount(mnt):
            unmount_dead(mnt)
        device.close()
    print(f"SSD faults: read errors, write errors (full), device gone: "
          f"{tally.bytes_verified} bytes verified, 0 wrong, 0 errors seen by readers")


def test_backing_removed_after_mount(dirs):
    """BACKING deleted under a live mount: every call fails with ENOENT,
    as in a deleted directory; nothing hangs, nothing crashes, and the
    mount still unmounts cleanly.  (strict_open: the open of a cached file
    asks BACKING, as every open would once meta_timeout has passed.)"""
    base, backing_dir, mnt, _ = dirs
    with open(os.path.join(backing_dir, "f"), "w") as f:
        f.write("here\n")
    m = scfs.Mount(backing_dir, mnt, options=("allow_other", "strict_open=1"))
    assert open(os.path.join(mnt, "f")).read() == "here\n"
    scfs.rmtree(backing_dir)
    assert scfs.outcome(lambda: open(os.path.join(mnt, "f")).read()) == ("err", "ENOENT")
    assert scfs.outcome(os.mkdir, os.path.join(mnt, "d")) == ("err", "ENOENT")
    assert scfs.outcome(lambda: open(os.path.join(mnt, "new"), "w")) == ("err", "ENOENT")
    assert scfs.outcome(os.listdir, mnt) == ("ok", [])
    assert not os.path.exists(backing_dir)  # nothing was made in its place
    m.unmount()


def test_backing_without_direct_io_is_read_through_its_page_cache(dirs):
    """A BACKING that refuses O_DIRECT opens (EINVAL: faultyfs told
    "nodirect") is opened without it, and its files read right; one that
    takes them gets them (backing_direct)."""
    base, _, mnt, _ = dirs
    device = FaultyDevice(base, 4 << 20)
    data = os.urandom(3 << 20)
    with open(device.image, "r+b") as f:
        f.write(data)
    disk = os.path.join(device.mnt, "disk")
    try:
        # lazy_open=0: each open has its backing fd, to look at.
        m = scfs.Mount(device.mnt, mnt, options=(f"cache={base}/c.swc", "cache_size=64M",
                                                 "lazy_open=0"))
        try:
            for how, direct in (("nodirect", False), ("ok", True)):
                device.fail(how)
                with open(os.path.join(mnt, "disk"), "rb") as f:
                    assert f.read(len(data)) == data, how
                    expect_backing_fd_direct(m, disk, [direct], how)
                os.setxattr(mnt, "user.swapcache.read_enable", b"0")
        finally:
            m.unmount()
    finally:
        device.close()
