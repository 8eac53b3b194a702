# SPDX-License-Identifier: GPL-2.0-or-later
"""The cache over a real mount of a local backing directory: reads reach
the SSD and are served from it after a remount, a file changed behind the
mount's back is seen within meta_timeout (at the next open with
strict_open), writes go through, O_DIRECT
reads are served by the cache unless direct_enable=0, a hot set survives a cold scan larger than the
cache, and the stats and tunables xattrs behave."""
import errno
import mmap
import os
import subprocess
import threading
import time

import pytest

import scfs

MIB = 1 << 20


def stats(mnt):
    text = os.getxattr(mnt, "user.swapcache.stats").decode()
    out = {}
    for line in text.splitlines():
        k, v = line.split(": ", 1)
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")


def make_file(path, size, seed):
    data = os.urandom(size) if seed is None else bytes(
        (seed * 131 + i * 7) & 0xff for i in range(size))
    with open(path, "wb") as f:
        f.write(data)
    return data


def read(path):
    with open(path, "rb") as f:
        return f.read()


def read_past_page_cache(path):
    """Read path through the daemon, not from the kernel's page cache,
    which keeps the pages of an unchanged file across opens."""
    with open(path, "rb") as f:
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        return f.read()


def wait_written(mnt, sizes, timeout=30):
    """Until the scanner has written every cluster of files of the given
    sizes (one size or a list): counting clusters, not bytes, since
    write_count charges a cluster its span of pages and a trailer."""
    if isinstance(sizes, int):
        sizes = [sizes]
    want = sum((size + 65535) // 65536 for size in sizes)
    deadline = time.monotonic() + timeout
    got = -1
    while time.monotonic() < deadline:
        st = stats(mnt)
        got = st["clusters_written"] - st["meta_clusters_written"]
        if got >= want:
            return got
        time.sleep(0.1)
    raise AssertionError(f"clusters_written {got} < {want}")


def wait_on_ssd(paths, timeout=30):
    """Until the SSD holds every page of each file at paths (through the
    mount): clusters_written (wait_written) counts a cluster written in
    two parts twice, while another may still be to come."""
    def whole(path):
        r = residency(path)
        return r["ssd_bytes"] >= -(-r["size"] // 4096) * 4096
    scfs.wait_for(lambda: all(whole(p) for p in paths), timeout=timeout,
                  what="the SSD to hold the files")


def mount(backing, mnt, cache, *extra):
    return scfs.Mount(backing, mnt, options=("allow_other", f"cache={cache}",
                                             "cache_size=64M", "min_hysteresis=0",
                                             *extra))


def remount_with_it_on_the_ssd(backing, mnt, cache, name, data, *extra):
    """Read name (holding data) through a mount until the SSD holds all
    of it, and mount again: the new mount's RAM holds none of it
    (norefill: it does not read back what RAM held)."""
    m = mount(backing, mnt, cache, *extra)
    try:
        assert read(os.path.join(mnt, name)) == data
        wait_written(mnt, len(data))
        wait_on_ssd([os.path.join(mnt, name)])
    finally:
        m.unmount()
    return mount(backing, mnt, cache, "norefill", *extra)


def test_reads_reach_the_ssd_and_survive_remount(dirs):
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "c.swc")
    files = {f"f{i}": make_file(os.path.join(backing, f"f{i}"), size, None)
             for i, size in enumerate([5 * MIB, 300000, 4096, 1, 70000])}
    total = sum(len(d) for d in files.values())
    m = mount(backing, mnt, cache)
    try:
        for name, data in files.items():
            assert read(os.path.join(mnt, name)) == data
        wait_written(m.mountpoint, [len(d) for d in files.values()])
        wait_on_ssd([os.path.join(mnt, name) for name in files])
    finally:
        m.unmount()
    drop_caches()
    m = mount(backing, mnt, cache)
    try:
        assert "clusters loaded" in m.log()
        for name, data in files.items():
            assert read(os.path.join(mnt, name)) == data
        st = stats(mnt)
        assert st["read_bytes_ssd"] >= total - 4096 * len(files)
        assert st["read_bytes_backing"] < 4096 * len(files)
        assert st["checksum_errors"] == 0
    finally:
        m.unmount()


def test_ram_comes_back_after_a_remount(dirs):
    """What RAM held at a clean unmount is read back from the SSD at the
    next mount (RAM hints): its reads are then served without a device
    read, and counted as SSD bytes, where they came from.  A file changed
    behind the mount's back meanwhile is read anew, whatever came back;
    with norefill nothing comes back."""
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "c.swc")
    files = {f"f{i}": make_file(os.path.join(backing, f"f{i}"), size, None)
             for i, size in enumerate([2 * MIB, 200000, 5000])}
    pages = {n: -(-len(d) // 4096) for n, d in files.items()}
    m = mount(backing, mnt, cache)
    try:
        for name, data in files.items():
            assert read(os.path.join(mnt, name)) == data
        wait_written(mnt, [len(d) for d in files.values()])
    finally:
        m.unmount()
    # Same size, other bytes, a new mtime: its pages that come back are
    # of the old contents.
    time.sleep(0.01)
    files["f1"] = make_file(os.path.join(backing, "f1"), 200000, 5)

    drop_caches()
    m = mount(backing, mnt, cache, "strict_open=1")  # f1 is checked at open
    try:
        # Their pages, and the directory's metadata record's.
        scfs.wait_for(lambda: stats(mnt)["ram_refilled_pages"] > sum(pages.values()),
                      what="RAM to be refilled")
        for name in ("f0", "f2"):
            assert residency(os.path.join(mnt, name))["ram_bytes"] == pages[name] * 4096
        before = stats(mnt)
        for name in ("f0", "f2"):
            assert read(os.path.join(mnt, name)) == files[name]
        st = stats(mnt)
        assert st["ssd_hits"] == before["ssd_hits"]  # no device read
        assert st["read_bytes_backing"] == 0
        assert st["read_bytes_ssd"] == len(files["f0"]) + len(files["f2"])
        assert read(os.path.join(mnt, "f1")) == files["f1"]
        assert stats(mnt)["read_bytes_backing"] == len(files["f1"])
    finally:
        m.unmount()

    drop_caches()
    m = mount(backing, mnt, cache, "norefill")
    try:
        assert read(os.path.join(mnt, "f0")) == files["f0"]
        st = stats(mnt)
        assert st["ram_refilled_pages"] == 0
        assert st["ssd_hits"] > 0 and st["read_bytes_ssd"] == len(files["f0"])
    finally:
        m.unmount()


def rewrite_behind(path, size, seed, later_s):
    """New contents of the same size and a later mtime, behind the mount's
    back; then the kernel's own attribute cache (1 s) expires."""
    data = make_file(path, size, seed)
    now = time.time_ns() + later_s * 10**9
    os.utime(path, ns=(now, now))
    time.sleep(1.1)
    return data


def test_change_behind_the_mount_seen_within_meta_timeout_or_at_next_open(dirs):
    """By default an open that the metadata cache can answer (a file of at
    most a megabyte that the cache holds whole) asks BACKING nothing
    (opens_from_meta): a change behind the mount's back is seen once what
    the cache knew is meta_timeout old.  A larger file, or any with
    strict_open, is checked at every open and seen changed at once."""
    SMALL = 200000
    base, backing, mnt, _ = dirs
    path = os.path.join(backing, "f")
    old = make_file(path, SMALL, 1)
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "meta_timeout=600")
    try:
        assert read(os.path.join(mnt, "f")) == old
        wait_written(mnt, len(old))
        opens = stats(mnt)["opens_from_meta"]
        new = rewrite_behind(path, SMALL, 2, 1)
        assert read_past_page_cache(os.path.join(mnt, "f")) == old
        st = stats(mnt)
        assert st["opens_from_meta"] == opens + 1
        assert st["read_bytes_backing"] == len(old)  # the first read's
        os.setxattr(mnt, "user.swapcache.meta_timeout", b"1")
        time.sleep(1.1)
        assert read(os.path.join(mnt, "f")) == new
        os.setxattr(mnt, "user.swapcache.meta_timeout", b"600")
        os.setxattr(mnt, "user.swapcache.strict_open", b"1")
        opens = stats(mnt)["opens_from_meta"]
        new = rewrite_behind(path, SMALL, 3, 2)
        assert read(os.path.join(mnt, "f")) == new
        assert stats(mnt)["opens_from_meta"] == opens
        os.setxattr(mnt, "user.swapcache.strict_open", b"0")
        big = os.path.join(backing, "big")
        make_file(big, 2 * MIB, 4)
        assert read(os.path.join(mnt, "big")) == read(big)
        big_new = rewrite_behind(big, 2 * MIB, 5, 1)
        assert read(os.path.join(mnt, "big")) == big_new
        assert stats(mnt)["opens_from_meta"] == opens
    finally:
        m.unmount()
    # And after a remount, the old SSD copy is never served.
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        drop_caches()
        assert read(os.path.join(mnt, "f")) == new
    finally:
        m.unmount()


def test_an_open_the_cache_answers_asks_backing_nothing_empty_files_too(dirs):
    """Within meta_timeout the cache's word stands for a small file it
    holds whole, an empty one too: removed behind the mount's back, both
    still open and read as they were, BACKING not asked (an open of the
    empty one's backing file found it gone); once meta_timeout has passed
    both are gone."""
    base, backing, mnt, _ = dirs
    old = make_file(os.path.join(backing, "f"), 200000, 1)
    open(os.path.join(backing, "empty"), "wb").close()
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "meta_timeout=600")
    try:
        assert read(os.path.join(mnt, "f")) == old
        assert read(os.path.join(mnt, "empty")) == b""
        wait_written(mnt, len(old))
        opens = stats(mnt)["opens_from_meta"]
        for name in ("f", "empty"):
            os.unlink(os.path.join(backing, name))
        assert read_past_page_cache(os.path.join(mnt, "f")) == old
        assert read(os.path.join(mnt, "empty")) == b""
        assert stats(mnt)["opens_from_meta"] == opens + 2
        os.setxattr(mnt, "user.swapcache.meta_timeout", b"1")
        time.sleep(1.1)
        for name in ("f", "empty"):
            with pytest.raises(FileNotFoundError):
                read(os.path.join(mnt, name))
    finally:
        m.unmount()


def test_only_a_change_behind_the_mount_makes_an_open_reset_the_kernels_attributes(dirs):
    """An open tells the kernel to ask again for the attributes of a file
    changed behind the mount's back (changed_behind counts those opens),
    not of one changed through the mount: the kernel made that change and
    knows (the next test shows what telling it costs).  strict_open: each
    open asks BACKING."""
    base, backing, mnt, _ = dirs
    path = os.path.join(mnt, "f")
    make_file(os.path.join(backing, "f"), 65536, 1)
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "strict_open=1")
    try:
        read(path)
        for v in range(2, 6):
            # Rewritten in place through the mount, read while being
            # written and after.
            with open(path, "wb") as f:
                f.write(bytes([v]) * 4096)
                f.flush()
                assert read(path) == bytes([v]) * 4096
                f.write(bytes([v]) * 4096 * v)
            assert read(path) == bytes([v]) * 4096 * (v + 1)
        assert stats(mnt)["changed_behind"] == 0
        # The kernel releases a handle after close() returns: once the
        # writer's is gone, an open sees the file settled.
        scfs.wait_for(lambda: backing_fds(m, os.path.join(backing, "f")) == 0,
                      what="the handles to be released")
        assert read(path) == bytes([5]) * 4096 * 6
        new = make_file(os.path.join(backing, "f"), 3 * 65536, 2)  # in place
        assert read(path) == new
        assert stats(mnt)["changed_behind"] == 1
    finally:
        m.unmount()


@pytest.fixture
def fragmented_ext4(dirs):
    """A full, fragmented ext4 of 1 KiB blocks on a loop device: there a
    file truncated and rewritten gets its blocks (and an extent block)
    when it is closed, so its st_blocks changes at close(2)."""
    base = dirs[0]
    image, top = os.path.join(base, "ext4.img"), os.path.join(base, "ext4")
    os.mkdir(top)
    with open(image, "wb") as f:
        f.truncate(16 * MIB)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "1024", "-N", "24000", image], check=True)
    subprocess.run(["mount", "-o", "loop", image, top], check=True)
    try:
        small = [os.path.join(top, f"s{i}") for i in range(20000)]
        try:
            for p in small:
                with open(p, "wb") as f:
                    f.write(b"x" * 1024)
        except OSError:
            pass
        for p in small[::2]:
            if os.path.exists(p):
                os.unlink(p)
        os.sync()
        backing = os.path.join(top, "backing")
        os.mkdir(backing)
        os.chmod(backing, 0o755)
        yield backing
    finally:
        subprocess.run(["umount", "-l", top])


@pytest.mark.parametrize("where", ["plain", "blocks_change_at_close"])
def test_reads_during_rewrites_through_the_mount_never_see_older_bytes(dirs, where, request):
    """A writer rewrites a file in place through the mount (open O_TRUNC,
    write, close) while buffered and O_DIRECT readers read it whole: a read
    that begins after a write returned and ends before the next begins
    gets that write's bytes or later ones, never older.  A read that
    overlaps the next truncation may see zeros within the old size (the
    kernel's, with or without the cache: CONSISTENCY): counted, not
    failed.  An open that told the kernel the file had changed (it had,
    through the mount) bumped its attribute version under the reads in
    flight, and a read cut short by the truncation then could not shrink
    the size the kernel knew: such zeros were ten times as frequent as
    without the cache.  The writer's close may still change the file
    (on the fragmented ext4 its st_blocks): the file stays counted as
    being written until its backing fd is closed."""
    base, backing, mnt, _ = dirs
    if where == "blocks_change_at_close":
        backing = request.getfixturevalue("fragmented_ext4")
    size, versions = 128 * 1024, int(os.environ.get("SCFS_REWRITES", "800"))
    with open(os.path.join(backing, "f"), "wb") as f:
        f.write(bytes(size))
    path = os.path.join(mnt, "f")
    returned = [0]  # the last version whose write returned
    started = [0]   # the last version whose write began
    stop = threading.Event()
    tally = {"reads": 0, "older": [], "overlapping": 0}
    lock = threading.Lock()

    def writer():
        try:
            for v in range(1, versions + 1):
                started[0] = v
                with open(path, "wb") as f:
                    f.write(v.to_bytes(8, "little") * (size // 8))
                returned[0] = v
        finally:
            stop.set()

    def reader(direct):
        buf = mmap.mmap(-1, size)
        while not stop.is_set():
            want = returned[0]
            fd = os.open(path, os.O_RDONLY | (os.O_DIRECT if direct else 0))
            try:
                n = os.preadv(fd, [buf], 0)
            finally:
                os.close(fd)
            overlapped = started[0] != want
            if n < size:
                continue  # between a truncation and its write
            oldest = min(int.from_bytes(buf[at:at + 8], "little")
                         for at in range(0, size, 4096))
            with lock:
                tally["reads"] += 1
                if oldest < want and overlapped:
                    tally["overlapping"] += 1
                elif oldest < want:
                    tally["older"].append((direct, want, oldest))

    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        threads = [threading.Thread(target=writer)] + [
            threading.Thread(target=reader, args=(d,)) for d in (False, False, True, True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Nothing changed behind the mount's back (see the test above).
        told = stats(mnt)["changed_behind"]
    finally:
        m.unmount()
    print(f"{versions} rewrites, {tally['reads']} whole reads: {len(tally['older'])} older "
          f"than the last write returned; {tally['overlapping']} overlapping the next "
          f"truncation saw zeros; the kernel told of {told} changes behind the mount")
    assert tally["reads"] > 0
    assert not tally["older"], tally["older"][:5]
    assert told == 0


def served(mnt):
    """Bytes the daemon has answered reads with, from wherever."""
    st = stats(mnt)
    return st["read_bytes_ram"] + st["read_bytes_ssd"] + st["read_bytes_backing"]


def assert_open_keeps_the_pages(mnt, path, data):
    """An open of the unchanged file lets the kernel keep the pages it
    read: an open that drops them leaves none, and a read then asks the
    daemon only for what the kernel reclaimed on its own (memory pressure,
    four sanitizer suites at once) before the open."""
    with open(path, "rb") as g:
        kept = scfs.resident_pages(g.fileno(), len(data))
        before = served(mnt)
        assert g.read() == data
        asked = served(mnt) - before
    pages = len(data) // 4096
    assert kept >= pages * 9 // 10, f"{kept} of {pages} pages kept"
    assert asked <= (pages - kept) * 4096


def test_the_kernel_keeps_the_pages_of_an_unchanged_file(dirs):
    """Close-to-open for the kernel's page cache: an open of an unchanged
    file lets the kernel keep what it read (read again, not a byte
    reaches the daemon); an open after a change behind the mount drops
    it, and so does an open after a read by a handle of the old
    contents (what such a read brings may be of those)."""
    base, backing, mnt, _ = dirs
    path = os.path.join(backing, "f")
    old = make_file(path, 16 * MIB, 1)
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        f = os.path.join(mnt, "f")
        assert read(f) == old
        assert_open_keeps_the_pages(mnt, f, old)
        with open(f, "rb") as a:  # a handle of the old contents
            assert a.read(4096) == old[:4096]
            new = make_file(path, 16 * MIB, 2)
            os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
            time.sleep(1.1)  # the kernel's attribute cache expires
            with open(f, "rb") as b:  # drops the old pages
                os.posix_fadvise(b.fileno(), 0, 0, os.POSIX_FADV_RANDOM)
                assert os.pread(b.fileno(), 4096, 0) == new[:4096]
            # The old handle reads a page nobody read since the change:
            # close-to-open lets it see the contents of its open, which
            # the pool still holds, and the kernel keeps that page.
            far = 12 * MIB
            before = served(mnt)
            got = os.pread(a.fileno(), 4096, far)
            assert got in (old[far:far + 4096], new[far:far + 4096])
            assert served(mnt) > before  # not in the page cache: asked
        # So this open must drop what the kernel holds: kept, it would
        # hand this reader the old page.
        before = served(mnt)
        with open(f, "rb") as c:
            assert os.pread(c.fileno(), 4096, far) == new[far:far + 4096]
        assert served(mnt) > before
        # And with nothing read by an older handle since, it keeps again.
        assert read(f) == new
        assert_open_keeps_the_pages(mnt, f, new)
    finally:
        m.unmount()


def test_ssd_reads_into_the_page_cache_are_not_kept_twice(dirs):
    """Whole clusters read from the SSD for the kernel's page cache are
    not copied into the RAM pool too (the kernel keeps them); an O_DIRECT
    reader's are (nothing else keeps them)."""
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "c.swc")
    data = make_file(os.path.join(backing, "f"), 8 * MIB, 3)
    pages = len(data) // 4096
    m = remount_with_it_on_the_ssd(backing, mnt, cache, "f", data,
                                   "direct_enable=1")
    try:
        drop_caches()
        assert read(os.path.join(mnt, "f")) == data
        st = stats(mnt)
        assert st["read_bytes_ssd"] == len(data)
        in_pool = st["active_pages"] + st["inactive_pages"]
        assert in_pool < pages // 16, in_pool
        fd = os.open(os.path.join(mnt, "f"), os.O_RDONLY | os.O_DIRECT)
        try:
            buf = bytearray()
            chunk = mmap.mmap(-1, MIB)  # page-aligned, as O_DIRECT wants
            while len(buf) < len(data):
                n = os.readv(fd, [chunk])
                assert n > 0
                buf += chunk[:n]
        finally:
            os.close(fd)
        assert bytes(buf) == data
        st = stats(mnt)
        assert st["active_pages"] + st["inactive_pages"] >= pages
    finally:
        m.unmount()


def backing_fds(m, path):
    """How many fds the daemon holds on the backing file path."""
    return len(backing_fd_direct(m, path))


def test_lazy_open(dirs):
    """With lazy_open, a read-only open of a file the cache holds is
    checked against BACKING by name, without opening it: the backing file
    is opened only when a read needs it.  Such a handle keeps reading a
    file removed through the mount (its fd is opened first), and says
    ESTALE, as NFS does, for one replaced behind the mount's back when it
    needs BACKING.  With lazy_open=0, every open opens the backing file."""
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "c.swc")
    data = {n: make_file(os.path.join(backing, n), 3 * MIB, i)
            for i, n in enumerate(("a", "b", "c"))}
    m = mount(backing, mnt, cache, "lazy_open=0")
    try:
        for n, d in data.items():
            assert read(os.path.join(mnt, n)) == d
        wait_written(mnt, [len(d) for d in data.values()])
        drop_caches()
        with open(os.path.join(mnt, "a"), "rb") as f:
            assert f.read() == data["a"]
            assert backing_fds(m, os.path.join(backing, "a")) == 1
    finally:
        m.unmount()
    m = mount(backing, mnt, cache, "norefill")  # lazy_open=1 is the default
    try:
        drop_caches()
        # From the SSD, with no backing fd behind the handle.
        with open(os.path.join(mnt, "a"), "rb") as f:
            assert f.read() == data["a"]
            assert backing_fds(m, os.path.join(backing, "a")) == 0
        # What the cache lacks (here: everything, read_enable=0) opens it.
        os.setxattr(mnt, "user.swapcache.read_enable", b"0")
        with open(os.path.join(mnt, "b"), "rb") as f:
            assert backing_fds(m, os.path.join(backing, "b")) == 0
            assert f.read(MIB) == data["b"][:MIB]
            assert backing_fds(m, os.path.join(backing, "b")) == 1
        os.setxattr(mnt, "user.swapcache.read_enable", b"1")
        # The kernel sends RELEASE after close() returns: the fd of the
        # handle just closed may be open a moment longer (seen in CI).
        scfs.wait_for(lambda: backing_fds(m, os.path.join(backing, "b")) == 0,
                      timeout=5, what="the closed handle's backing fd to go")
        # Removed through the mount while open: still read to the end.
        drop_caches()
        with open(os.path.join(mnt, "b"), "rb") as f:
            assert backing_fds(m, os.path.join(backing, "b")) == 0
            os.unlink(os.path.join(mnt, "b"))
            os.setxattr(mnt, "user.swapcache.read_enable", b"0")
            assert f.read() == data["b"]
        os.setxattr(mnt, "user.swapcache.read_enable", b"1")
        # Replaced behind the mount's back while open: the cache serves
        # what it holds of the file as opened; BACKING's file is another.
        drop_caches()
        with open(os.path.join(mnt, "c"), "rb") as f:
            new = make_file(os.path.join(backing, "c.new"), 4 * MIB, 9)
            os.rename(os.path.join(backing, "c.new"), os.path.join(backing, "c"))
            assert f.read(MIB) == data["c"][:MIB]
            os.setxattr(mnt, "user.swapcache.read_enable", b"0")
            with pytest.raises(OSError) as e:
                f.read()
            assert e.value.errno == errno.ESTALE
            # Past the end it had (the kernel learns the new file's size
            # by the name): the end, as the old file's fd would say.
            os.setxattr(mnt, "user.swapcache.meta_timeout", b"0")
            time.sleep(1.1)
            assert os.fstat(f.fileno()).st_size == 4 * MIB
            f.seek(3 * MIB)
            assert f.read() == b""
        os.setxattr(mnt, "user.swapcache.read_enable", b"1")
        time.sleep(1.1)  # the kernel's attributes of the old c expire
        assert read(os.path.join(mnt, "c")) == new
    finally:
        m.unmount()


def test_writes_go_through_and_drop_cached_copies(dirs):
    base, backing, mnt, _ = dirs
    path = os.path.join(mnt, "f")
    data = bytearray(make_file(os.path.join(backing, "f"), MIB, 3))
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        assert read(path) == data
        wait_written(mnt, len(data))
        with open(path, "r+b") as f:
            f.seek(100000)
            f.write(b"X" * 5000)
        data[100000:105000] = b"X" * 5000
        assert read(os.path.join(backing, "f")) == data
        drop_caches()
        assert read(path) == data
        os.truncate(path, 50000)
        drop_caches()
        assert read(path) == data[:50000]
    finally:
        m.unmount()
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        drop_caches()
        assert read(path) == data[:50000]
    finally:
        m.unmount()


def test_a_handle_open_across_a_change_through_the_mount_sees_it(dirs):
    """A read-only handle opened before a change made through the mount
    (by another handle) reads the file as changed: an append (the kernel
    knows the new size: a read that ended at the size the handle opened
    with told the kernel the file had shrunk, and every later open read
    it short), holes punched and bytes copied in over pages the cache
    holds."""
    base, backing, mnt, _ = dirs
    path = os.path.join(mnt, "f")
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        with open(os.path.join(backing, "log"), "wb") as f:
            f.write(b"hello\n")
        log = os.path.join(mnt, "log")
        a = os.open(log, os.O_RDONLY)
        assert os.read(a, 100) == b"hello\n"
        # Opened after the read: the kernel drops the page it read.
        w = os.open(log, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(w, b"world\n")
            assert os.pread(a, 100, 6) == b"world\n"
            assert os.pread(a, 100, 0) == b"hello\nworld\n"
            assert read(log) == b"hello\nworld\n"
        finally:
            os.close(a)
            os.close(w)
        assert read(log) == b"hello\nworld\n"

        data = bytearray(make_file(os.path.join(backing, "f"), 4 * 65536, 5))
        src = make_file(os.path.join(backing, "src"), 65536, 6)
        a = os.open(path, os.O_RDONLY)
        w = os.open(path, os.O_RDWR)
        s = os.open(os.path.join(mnt, "src"), os.O_RDONLY)
        try:
            assert os.pread(a, len(data), 0) == data
            assert stats(mnt)["inactive_pages"] + stats(mnt)["active_pages"] >= 64
            scfs.fallocate(w, 0x01 | 0x02, 65536, 65536)  # KEEP_SIZE | PUNCH_HOLE
            data[65536:131072] = bytes(65536)
            assert os.pread(a, 65536, 65536) == data[65536:131072]
            assert os.copy_file_range(s, w, 65536, 0, 2 * 65536) == 65536
            data[2 * 65536:3 * 65536] = src
            assert os.pread(a, len(data), 0) == data
        finally:
            for fd in (a, w, s):
                os.close(fd)
        assert read(path) == data
        drop_caches()
        assert read(path) == data
    finally:
        m.unmount()


def read_direct(path, size):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def test_o_direct_served_by_the_cache_unless_direct_enable_0(dirs):
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "c.swc")
    data = make_file(os.path.join(backing, "f"), MIB, 4)
    path = os.path.join(mnt, "f")
    m = mount(backing, mnt, cache, "direct_enable=0")
    try:
        before = stats(mnt)["read_bytes_backing"]
        assert read_direct(path, MIB) == data
        st = stats(mnt)
        assert st["read_bytes_backing"] - before >= MIB
        assert st["read_bytes_ram"] == 0 and st["read_bytes_ssd"] == 0
        assert st["direct_enable"] == 0

        os.setxattr(mnt, "user.swapcache.direct_enable", b"1")
        assert read_direct(path, MIB) == data  # now into the pool
        wait_written(mnt, MIB)
    finally:
        m.unmount()
    m = mount(backing, mnt, cache)  # direct_enable=1 is the default
    try:
        drop_caches()
        before = stats(mnt)
        assert read_direct(path, MIB) == data
        assert read_direct(path, MIB) == data  # not the kernel's cache
        st = stats(mnt)
        ssd = st["read_bytes_ssd"] - before["read_bytes_ssd"]
        ram = st["read_bytes_ram"] - before["read_bytes_ram"]
        # Both reads reached the daemon; the pool was empty at the first.
        assert ssd + ram >= 2 * MIB and ssd >= MIB // 2
        assert st["read_bytes_backing"] == before["read_bytes_backing"]
    finally:
        m.unmount()


def backing_fd_direct(m, path):
    """Whether each fd the daemon holds on the backing file path is
    O_DIRECT (its open file's flags in fdinfo), in fd order."""
    fds = f"/proc/{m.proc.pid}/fd"
    out = []
    for fd in sorted(os.listdir(fds), key=int):
        try:
            if os.readlink(os.path.join(fds, fd)) != path:
                continue
            with open(f"/proc/{m.proc.pid}/fdinfo/{fd}") as f:
                flags = int(f.read().split("flags:")[1].split()[0], 8)
        except OSError:
            continue
        out.append(bool(flags & os.O_DIRECT))
    return out


def expect_backing_fd_direct(m, path, want, what=""):
    """Wait until the daemon's fds on path are want (backing_fd_direct):
    the kernel sends RELEASE after close() returns, so the fd of a handle
    just closed may still be open for a moment."""
    seen = []

    def settled():
        seen[:] = backing_fd_direct(m, path)
        return seen == want

    try:
        scfs.wait_for(settled, timeout=5, what=f"backing fds {want}")
    except TimeoutError:
        raise AssertionError(f"{what}: backing fds O_DIRECT {seen}, want {want}")


def test_backing_read_buffered_while_a_writer_is_open(dirs):
    """An O_DIRECT read of BACKING that races a buffered write of the same
    file can see blocks the write has not filled yet (zeros): a reader
    rewriting a file 3,000 times through the mount (open O_TRUNC, write)
    under two readers saw such pages in 189 of 1,195 reads.  While a
    handle that may write is open through the mount, the cache's reads of
    the file go through BACKING's page cache, where the write is."""
    base, backing, mnt, _ = dirs
    path = os.path.join(backing, "f")
    data = make_file(path, 8 * MIB, None)
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        fd = os.open(os.path.join(mnt, "f"), os.O_RDONLY)
        assert os.pread(fd, 4096, 0) == data[:4096]
        expect_backing_fd_direct(m, path, [True], "a reader alone")
        w = os.open(os.path.join(mnt, "f"), os.O_WRONLY)
        assert os.pread(fd, 4096, 7 * MIB) == data[7 * MIB:7 * MIB + 4096]
        expect_backing_fd_direct(m, path, [False, False], "beside a writer")
        os.close(w)
        os.close(fd)
    finally:
        m.unmount()


def test_backing_read_o_direct_unless_backing_direct_0(dirs):
    """A file the cache serves is read from BACKING with O_DIRECT
    (backing_direct, on by default): every byte right for sizes that end
    inside a page, a cluster or nowhere near one (the reads are aligned
    as an O_DIRECT fd on a block filesystem demands: the fd is still
    O_DIRECT after them, where a refused read would have dropped it), a
    copy_file_range
    at an odd offset; with backing_direct=0 the file is read through
    BACKING's page cache.  Writable opens never are O_DIRECT."""
    base, backing, mnt, _ = dirs
    sizes = {"one": 1, "odd": 10_000, "cl": 3 * 65536, "big": 3 * MIB + 123}
    data = {n: make_file(os.path.join(backing, n), size, None)
            for n, size in sizes.items()}
    # lazy_open=0: every open has its backing fd, to look at.
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "lazy_open=0")
    try:
        assert stats(mnt)["backing_direct"] == 1
        for n, d in data.items():
            with open(os.path.join(mnt, n), "rb") as f:
                assert f.read() == d, n
                expect_backing_fd_direct(m, os.path.join(backing, n), [True], n)
        fi = os.open(os.path.join(mnt, "big"), os.O_RDONLY)
        fo = os.open(os.path.join(mnt, "copy"), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            assert os.copy_file_range(fi, fo, 5000, 100, 7) == 5000
        finally:
            os.close(fi)
            os.close(fo)
        assert read(os.path.join(backing, "copy")) == b"\0" * 7 + data["big"][100:5100]
        with open(os.path.join(mnt, "cl"), "r+b") as f:
            expect_backing_fd_direct(m, os.path.join(backing, "cl"), [False], "cl")
        os.setxattr(mnt, "user.swapcache.backing_direct", b"0")
        drop_caches()
        with open(os.path.join(mnt, "big"), "rb") as f:
            assert f.read() == data["big"]
            expect_backing_fd_direct(m, os.path.join(backing, "big"), [False], "big")
    finally:
        m.unmount()
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "backing_direct=0",
              "read_enable=0")
    try:
        with open(os.path.join(mnt, "odd"), "rb") as f:
            assert f.read() == data["odd"]
            expect_backing_fd_direct(m, os.path.join(backing, "odd"), [False], "odd")
    finally:
        m.unmount()


def test_random_read_from_the_ssd_brings_its_neighbours(dirs):
    """A 4 KiB read that is not sequential takes its aligned 16 KiB group
    from the SSD in one device read (rw.c, READAROUND_PAGES): the other
    pages of the group need no read of their own (served from the pool,
    counted as coming from the SSD the first time), a page of another
    group does."""
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "c.swc")
    data = make_file(os.path.join(backing, "f"), 4 * MIB, None)
    path = os.path.join(mnt, "f")
    m = remount_with_it_on_the_ssd(backing, mnt, cache, "f", data,
                                   "direct_enable=1")
    try:
        drop_caches()
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        try:
            def page(i):
                before = stats(mnt)
                assert os.pread(fd, 4096, i * 4096) == data[i * 4096:(i + 1) * 4096]
                after = stats(mnt)
                return tuple(after[k] - before[k] for k in
                             ("ssd_hits", "read_bytes_ram", "read_bytes_ssd"))
            # Far from the start (1 MiB of slack counts as sequential).
            assert page(3 * 256 + 5) == (1, 0, 4096)
            assert page(3 * 256 + 6) == (0, 0, 4096)
            assert page(3 * 256 + 4) == (0, 0, 4096)
            assert page(3 * 256 + 6) == (0, 4096, 0)
            assert page(1 * 256 + 9) == (1, 0, 4096)
            assert page(1 * 256 + 11) == (0, 0, 4096)
            assert stats(mnt)["read_bytes_backing"] == 0
        finally:
            os.close(fd)
    finally:
        m.unmount()


def test_o_direct_random_reads_of_a_file_larger_than_ram_skip_the_pool(dirs):
    """An O_DIRECT reader's random reads of a file larger than the RAM
    pool are served from the SSD straight into the reply, as the kernel
    keeps O_DIRECT reads out of its page cache: the pool stays as it was
    (rw.c, ssd_reads_bypass_pool), the bytes are right across a cluster
    boundary, a page read again is read from the SSD again, and a write
    through the mount is seen by the next read.  A sequential O_DIRECT
    read still fills the pool."""
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "c.swc")
    data = bytearray(make_file(os.path.join(backing, "f"), 8 * MIB, None))
    path = os.path.join(mnt, "f")
    m = mount(backing, mnt, cache)
    try:
        assert read(path) == data
        wait_written(mnt, len(data))
        wait_on_ssd([path])
    finally:
        m.unmount()
    m = mount(backing, mnt, cache, "norefill", "direct_enable=1", "ram=4M")
    try:
        drop_caches()
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        try:
            def pread(page, pages):
                buf = mmap.mmap(-1, pages * 4096)  # aligned, for O_DIRECT
                assert os.preadv(fd, [buf], page * 4096) == pages * 4096
                return bytes(buf)

            def expect(page, pages):
                return bytes(data[page * 4096:(page + pages) * 4096])

            def in_pool():
                st = stats(mnt)
                return st["active_pages"] + st["inactive_pages"]

            # Far apart (1 MiB of slack counts as sequential); the second
            # and the third cross into the next cluster (16 pages), the
            # fourth holds two whole clusters.
            reads = [(1500, 1), (702, 4), (1900, 16), (1024, 32), (1500, 1)]
            before = stats(mnt)
            for page, pages in reads:
                assert pread(page, pages) == expect(page, pages)
            st = stats(mnt)
            want = sum(pages for _, pages in reads) * 4096
            assert st["read_bytes_ssd"] - before["read_bytes_ssd"] == want
            assert st["read_bytes_ram"] == before["read_bytes_ram"]
            assert st["read_bytes_backing"] == before["read_bytes_backing"]
            assert in_pool() == 0

            new = bytes(range(256)) * 16
            with open(path, "r+b") as w:
                w.seek(1500 * 4096)
                w.write(new)
            data[1500 * 4096:1501 * 4096] = new
            assert pread(1900, 16) == expect(1900, 16)
            assert pread(1500, 1) == new
        finally:
            os.close(fd)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)  # a new handle
        try:
            before = in_pool()
            assert pread(0, 256) == expect(0, 256)  # sequential
            assert in_pool() >= before + 256
        finally:
            os.close(fd)
    finally:
        m.unmount()
    with open(os.path.join(backing, "f"), "rb") as f:
        assert f.read() == data


def test_hot_set_survives_a_cold_scan_larger_than_the_cache(dirs):
    """A hot set read throughout a one-off scan of cold data larger than
    the cache keeps a hit ratio above 90%, during the scan and after a
    remount (the cleaner gives clusters in use a second chance)."""
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "c.swc")
    hot = {f"hot{i}": make_file(os.path.join(backing, f"hot{i}"), MIB, None)
           for i in range(4)}
    cold = [f"cold{i}" for i in range(24)]
    for name in cold:
        make_file(os.path.join(backing, name), 4 * MIB, None)

    def read_hot():
        before = stats(mnt)
        for name, data in hot.items():
            assert read_past_page_cache(os.path.join(mnt, name)) == data
        after = stats(mnt)
        return [after[k] - before[k] for k in
                ("read_bytes_ram", "read_bytes_ssd", "read_bytes_backing")]

    # A 64 MiB cache (about 45 MiB written before it cleans) and a pool
    # big enough for the scanner to keep up, smaller than the scan.
    m = mount(backing, mnt, cache, "ram=16M")
    try:
        read_hot()
        wait_written(mnt, 4 * MIB)
        totals = [0, 0, 0]
        for name in cold:  # the one-off scan: 96 MiB
            read(os.path.join(mnt, name))
            time.sleep(0.15)
            totals = [a + b for a, b in zip(totals, read_hot())]
        assert stats(mnt)["clusters_cleaned"] > 0
        during = (totals[0] + totals[1]) / sum(totals)
    finally:
        m.unmount()
    drop_caches()
    m = mount(backing, mnt, cache, "ram=16M")
    try:
        ram, ssd, backing_bytes = read_hot()
        after = (ram + ssd) / (ram + ssd + backing_bytes)
    finally:
        m.unmount()
    print(f"hot set hit ratio: {during:.1%} during the cold scan, "
          f"{after:.1%} after a remount")
    assert during >= 0.9 and after >= 0.9


def test_stats_and_tunables_xattrs(dirs):
    base, backing, mnt, _ = dirs
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "accrate=2M")
    try:
        st = stats(mnt)
        for key in ("state", "burst", "write_count", "read_bytes_ram",
                    "read_bytes_ssd", "read_bytes_backing", "ssd_size_bytes",
                    "ssd_used_bytes", "inactive_pages", "checksum_errors",
                    "ssd_io_errors", "read_enable", "data_enable", "meta_enable",
                    "use_chflags", "maxswappct", "accrate", "curburst",
                    "maxburst", "minburst", "maxfilesize", "maxlaunder",
                    "maxscan", "min_hysteresis", "cleanperobj", "meta_timeout",
                    "endurance", "lifetime", "direct_enable", "lazy_open",
                    "backing_direct", "read_poll_us"):
            assert key in st, key
        assert st["state"] == "writing" and st["accrate"] == 2 * MIB
        assert st["ssd_size_bytes"] > 32 * MIB
        os.setxattr(mnt, "user.swapcache.maxswappct", b"60")
        assert os.getxattr(mnt, "user.swapcache.maxswappct") == b"60"
        assert stats(mnt)["maxswappct"] == 60
        os.setxattr(mnt, "user.swapcache.maxburst", b"4G\n")
        assert stats(mnt)["maxburst"] == 4 << 30
        for bad in (b"abc", b"101", b"", b"9" * 80, b"5" * 60000, b"60\x000", b"-5",
                    b"50%", b" 50"):
            with pytest.raises(OSError) as e:
                os.setxattr(mnt, "user.swapcache.maxswappct", bad)
            assert e.value.errno == errno.EINVAL, bad
            assert stats(mnt)["maxswappct"] == 60  # left as it was
        with pytest.raises(OSError) as e:
            os.setxattr(mnt, "user.swapcache.nonsense", b"1")
        assert e.value.errno == errno.EINVAL
        assert "bad value" in m.log()
        names = os.listxattr(mnt)
        assert "user.swapcache.stats" in names and "user.swapcache.accrate" in names

        def as_nobody():
            os.setxattr(mnt, "user.swapcache.accrate", b"1M")
        assert scfs.as_user(scfs.NOBODY, scfs.NOBODY, as_nobody) == ("err", "EPERM")
        assert stats(mnt)["accrate"] == 2 * MIB
        # Anyone may read the stats; other names pass through.
        assert scfs.as_user(scfs.NOBODY, scfs.NOBODY,
                            lambda: len(os.getxattr(mnt, "user.swapcache.stats")) > 100) \
            == ("ok", True)
        os.setxattr(os.path.join(mnt), "user.other", b"passes")
        assert os.getxattr(backing, "user.other") == b"passes"
    finally:
        m.unmount()


def test_bad_tunable_mount_options_refused(dirs):
    base, backing, mnt, _ = dirs
    for opt, pattern in (("accrate=fast", "bad value 'fast' for accrate"),
                         ("maxswappct=200", "out of range"),
                         ("ram=1K", "ram=1K is too small")):
        r = subprocess.run([scfs.BINARY, "-f", "-o",
                            f"cache={base}/c.swc,cache_size=16M,{opt}", backing, mnt],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, opt
        assert pattern in r.stderr, r.stderr
        assert not os.path.ismount(mnt)


def residency(path):
    text = os.getxattr(path, "user.swapcache.residency").decode()
    return {k: int(v) for k, v in (line.split(": ") for line in text.splitlines())}


def test_residency_of_a_file(dirs):
    """user.swapcache.residency: the bytes of a file's current contents on
    the SSD and in RAM, whole pages, and its size."""
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "c.swc")
    path = os.path.join(backing, "f")
    data = make_file(path, 300000, None)
    pages = -(-len(data) // 4096) * 4096
    m = mount(backing, mnt, cache)
    try:
        f = os.path.join(mnt, "f")
        assert residency(f) == {"ssd_bytes": 0, "ram_bytes": 0, "size": 300000}
        assert read(f) == data
        assert residency(f)["ram_bytes"] == pages
        wait_written(mnt, len(data))
        wait_on_ssd([f])
        assert residency(f) == {"ssd_bytes": pages, "ram_bytes": pages, "size": 300000}
        with pytest.raises(OSError) as e:
            os.getxattr(mnt, "user.swapcache.residency")  # a directory
        assert e.value.errno == errno.ENODATA
    finally:
        m.unmount()
    m = mount(backing, mnt, cache)
    try:
        f = os.path.join(mnt, "f")
        # RAM held it at the unmount: it is read back.
        scfs.wait_for(lambda: residency(f)["ram_bytes"] == pages,
                      what="RAM to be refilled")
        assert residency(f) == {"ssd_bytes": pages, "ram_bytes": pages, "size": 300000}
        # Changed behind the mount's back: nothing cached is of it.
        time.sleep(0.01)
        make_file(path, 5000, 7)
        assert residency(f) == {"ssd_bytes": 0, "ram_bytes": 0, "size": 5000}
    finally:
        m.unmount()


def test_evict_a_file(dirs):
    """setfattr -n user.swapcache.evict FILE drops it from RAM and the SSD,
    for anyone who may read it; the next read fetches it again, right."""
    base, backing, mnt, _ = dirs
    path = os.path.join(backing, "f")
    data = make_file(path, 200000, None)
    os.chmod(path, 0o600)
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        f = os.path.join(mnt, "f")
        assert read(f) == data
        wait_written(mnt, len(data))
        assert residency(f)["ssd_bytes"] > 0 and residency(f)["ram_bytes"] > 0
        assert scfs.as_user(scfs.NOBODY, scfs.NOBODY, os.setxattr, f,
                            "user.swapcache.evict", b"") == ("err", "EACCES")
        assert residency(f)["ssd_bytes"] > 0
        os.setxattr(f, "user.swapcache.evict", b"")
        assert residency(f) == {"ssd_bytes": 0, "ram_bytes": 0, "size": 200000}
        fetched = stats(mnt)["fetch_bytes_backing"]
        drop_caches()
        assert read(f) == data
        assert stats(mnt)["fetch_bytes_backing"] == fetched + len(data)
        # A directory: its whole subtree.
        scfs.wait_for(lambda: residency(f)["ssd_bytes"] > 0, timeout=30,
                      what="the file on the SSD again")
        os.setxattr(mnt, "user.swapcache.evict", b"")
        assert residency(f) == {"ssd_bytes": 0, "ram_bytes": 0, "size": 200000}
    finally:
        m.unmount()


def test_wear_budget_sets_accrate(dirs):
    """endurance and lifetime derive accrate from what is left of the drive
    (here a cache file: what the cache wrote), at mount and at run time."""
    base, backing, mnt, _ = dirs
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "endurance=1T", "lifetime=1y")
    try:
        st = stats(mnt)
        year = 365 * 86400
        assert st["endurance"] == 10**12 and st["lifetime"] == year
        # Nothing written yet but the format: 10**12 / year, to the byte.
        assert st["accrate"] == (10**12 - st["wear_written_bytes"]) // year
        assert st["wear_source"] == "cache"
        assert st["projected_lifetime_days"] != "unknown" or st["wear_rate_bytes_per_s"] == 0
        os.setxattr(mnt, "user.swapcache.lifetime", b"30d")
        assert stats(mnt)["accrate"] == (10**12 - st["wear_written_bytes"]) // (30 * 86400)
        with pytest.raises(OSError):
            os.setxattr(mnt, "user.swapcache.endurance", b"600TB")
        assert "wear budget" in m.log()
    finally:
        m.unmount()


def test_cache_flags_choose_what_reaches_the_ssd(dirs):
    """use_chflags: only data under a directory flagged cache, and under
    none flagged noscache, goes to the SSD.  The flags live in the cache
    device, survive a remount and follow a rename."""
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "c.swc")
    os.makedirs(os.path.join(backing, "A", "sub"))
    os.mkdir(os.path.join(backing, "B"))
    files = {p: make_file(os.path.join(backing, p), MIB, i)
             for i, p in enumerate(["A/f", "A/sub/g", "B/h"])}
    m = mount(backing, mnt, cache, "use_chflags=1")
    flag = "user.swapcache.cache"
    try:
        os.setxattr(os.path.join(mnt, "A"), flag, b"cache")
        os.setxattr(os.path.join(mnt, "A", "sub"), flag, b"noscache")
        assert os.getxattr(os.path.join(mnt, "A"), flag) == b"cache"
        assert os.getxattr(os.path.join(mnt, "A", "sub"), flag) == b"noscache"
        assert flag in os.listxattr(os.path.join(mnt, "A"))
        assert flag not in os.listxattr(os.path.join(mnt, "B"))
        assert scfs.outcome(os.getxattr, os.path.join(mnt, "B"), flag) == ("err", "ENODATA")
        assert scfs.outcome(os.setxattr, os.path.join(mnt, "B"), flag, b"always") == \
            ("err", "EINVAL")
        assert scfs.as_user(1000, 1000, os.setxattr, os.path.join(mnt, "B"), flag,
                            b"cache")[1] == "EPERM"
        for p, data in files.items():
            assert read(os.path.join(mnt, p)) == data
        wait_written(mnt, MIB)
        time.sleep(2)  # a writer that would take the others has had its tick
        assert residency(os.path.join(mnt, "A", "f"))["ssd_bytes"] == MIB
        assert residency(os.path.join(mnt, "A", "sub", "g"))["ssd_bytes"] == 0
        assert residency(os.path.join(mnt, "B", "h"))["ssd_bytes"] == 0
    finally:
        m.unmount()
    m = mount(backing, mnt, cache, "use_chflags=1")
    try:
        assert os.getxattr(os.path.join(mnt, "A"), flag) == b"cache"
        assert os.getxattr(os.path.join(mnt, "A", "sub"), flag) == b"noscache"
        os.rename(os.path.join(mnt, "A"), os.path.join(mnt, "C"))
        assert os.getxattr(os.path.join(mnt, "C", "sub"), flag) == b"noscache"
        os.mkdir(os.path.join(mnt, "A"))
        assert scfs.outcome(os.getxattr, os.path.join(mnt, "A"), flag) == ("err", "ENODATA")
        os.removexattr(os.path.join(mnt, "C", "sub"), flag)
        os.setxattr(os.path.join(mnt, "C"), flag, b"none")
        assert scfs.outcome(os.getxattr, os.path.join(mnt, "C"), flag) == ("err", "ENODATA")
        assert scfs.outcome(os.getxattr, os.path.join(mnt, "C", "sub"), flag) == \
            ("err", "ENODATA")
    finally:
        m.unmount()


def test_prefetch_and_evict_a_subtree(dirs):
    """user.swapcache.prefetch reads a file or a whole subtree into the
    cache in the background, to the SSD; user.swapcache.evict drops a
    subtree again."""
    base, backing, mnt, _ = dirs
    os.makedirs(os.path.join(backing, "P", "sub"))
    files = {p: make_file(os.path.join(backing, p), size, i) for i, (p, size) in
             enumerate([("P/p1", 2 * MIB), ("P/p2", MIB + 100), ("P/sub/p3", 300000),
                        ("Q", 70000)])}
    os.mkfifo(os.path.join(backing, "P", "fifo"))
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        os.setxattr(os.path.join(mnt, "P"), "user.swapcache.prefetch", b"")
        in_p = [p for p in files if p.startswith("P/")]

        def all_on_ssd(paths):
            return all(residency(os.path.join(mnt, p))["ssd_bytes"] >=
                       len(files[p]) // 4096 * 4096 for p in paths)
        scfs.wait_for(lambda: all_on_ssd(in_p), timeout=60, what="the prefetch")
        st = stats(mnt)
        # Nothing was read by a program; each byte came from BACKING once.
        assert st["read_bytes_backing"] == st["read_bytes_ram"] == 0
        assert st["fetch_bytes_backing"] == sum(len(files[p]) for p in in_p)
        assert residency(os.path.join(mnt, "Q"))["ssd_bytes"] == 0
        for p in in_p:
            assert read(os.path.join(mnt, p)) == files[p]
        os.setxattr(os.path.join(mnt, "P"), "user.swapcache.evict", b"")
        for p in in_p:
            r = residency(os.path.join(mnt, p))
            assert r["ssd_bytes"] == r["ram_bytes"] == 0, (p, r)
        os.setxattr(os.path.join(mnt, "Q"), "user.swapcache.prefetch", b"")
        scfs.wait_for(lambda: all_on_ssd(["Q"]), timeout=60, what="the prefetch of Q")
        # user.* names exist on files and directories only (the kernel).
        assert scfs.outcome(os.setxattr, os.path.join(mnt, "P", "fifo"),
                            "user.swapcache.prefetch", b"") == ("err", "EPERM")
        os.chmod(os.path.join(backing, "P"), 0o700)
        assert scfs.as_user(1000, 1000, os.setxattr, os.path.join(mnt, "P"),
                            "user.swapcache.prefetch", b"")[1] == "EACCES"
    finally:
        m.unmount()

