# SPDX-License-Identifier: GPL-2.0-or-later
"""The cache over a real network filesystem: sshfs to an sshd on
127.0.0.1 that the test starts and stops.  Reads reach the SSD and are
served from it after remounting swapcachefs and sshfs (whose inode
numbers change); a change on the server is seen at the next open; writes
go through to the server."""
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

import scfs
from scfs import Sshd, sshfs_mount, sshfs_unmount
import test_cache
from test_cache import drop_caches, read, stats, wait_written
from test_meta import KERNEL_TIMEOUT, view

MIB = 1 << 20

pytestmark = pytest.mark.skipif(
    not (shutil.which("sshfs") and os.path.exists("/usr/sbin/sshd")),
    reason="needs sshfs and openssh-server")


@pytest.fixture
def net(dirs):
    base, backing, mnt, _ = dirs
    remote = os.path.join(base, "server")
    os.mkdir(remote)
    sshd = Sshd(base)
    sshfs_mount(sshd, remote, backing)
    yield base, remote, backing, mnt, sshd
    if os.path.ismount(mnt):
        subprocess.run(["fusermount3", "-uz", mnt])
    if os.path.ismount(backing):
        subprocess.run(["fusermount3", "-uz", backing])
    sshd.stop()


def make_file(path, size, seed):
    """A file on the server, modified a minute ago: one modified in the
    last two seconds is read from BACKING and not cached (SFTP's mtimes are
    whole seconds; man page, CONSISTENCY)."""
    data = test_cache.make_file(path, size, seed)
    past = time.time() - 60
    os.utime(path, (past, past))
    return data


def mount(backing, mnt, cache, *extra):
    return scfs.Mount(backing, mnt, options=("allow_other", f"cache={cache}",
                                             "cache_size=64M", "min_hysteresis=0",
                                             *extra))


def test_sshfs_reads_served_from_ssd_after_remounts(net):
    base, remote, backing, mnt, sshd = net
    cache = os.path.join(base, "c.swc")
    files = {f"f{i}": make_file(os.path.join(remote, f"f{i}"), size, None)
             for i, size in enumerate([3 * MIB, 200000, 5000])}
    total = sum(len(d) for d in files.values())
    m = mount(backing, mnt, cache)
    try:
        for name, data in files.items():
            assert read(os.path.join(mnt, name)) == data
        assert stats(mnt)["read_bytes_backing"] >= total
        wait_written(mnt, [len(d) for d in files.values()])
    finally:
        m.unmount()
    # sshfs itself is remounted too: its inode numbers start over.
    sshfs_unmount(backing)
    sshfs_mount(sshd, remote, backing)
    drop_caches()
    m = mount(backing, mnt, cache)
    try:
        for name, data in files.items():
            assert read(os.path.join(mnt, name)) == data
        st = stats(mnt)
        assert st["read_bytes_ssd"] >= total - 4096 * len(files)
        assert st["read_bytes_backing"] < 4096 * len(files)
    finally:
        m.unmount()


def test_sshfs_files_opened_by_name_need_no_server_after_remount(net):
    """Files opened by their paths, their directories never listed: after
    a remount of swapcachefs, and with sshfs having numbered every node
    anew (the kernel dropped them), the names are answered from the
    metadata on the SSD and the opens take the cached files for the same
    ones: no lookup goes to the server, none fails."""
    base, remote, backing, mnt, sshd = net
    cache = os.path.join(base, "c.swc")
    os.makedirs(os.path.join(remote, "d", "sub"))
    files = {f"d/sub/f{i}": make_file(os.path.join(remote, "d", "sub", f"f{i}"),
                                      100 + i, i) for i in range(20)}
    m = mount(backing, mnt, cache)
    try:
        for name, data in files.items():
            assert read(os.path.join(mnt, name)) == data
        # The records of the root, d and d/sub.
        scfs.wait_for(lambda: stats(mnt)["meta_clusters_written"] >= 3, timeout=30,
                      what="metadata records on the SSD")
    finally:
        m.unmount()
    drop_caches()
    m = mount(backing, mnt, cache)
    try:
        drop_caches()
        for name, data in files.items():
            assert read(os.path.join(mnt, name)) == data
        st = stats(mnt)
        assert st["meta_loads"] >= 3
        assert st["meta_misses"] == 0
        assert st["meta_hits"] >= len(files) + 2
    finally:
        m.unmount()


def test_sshfs_sequential_reads_fetch_each_byte_once(net):
    """Read-ahead fetches several ranges at once from the backing store,
    and a reader reaching a range being fetched waits for it: a cold
    sequential read fetches every byte of the file once (give or take one
    read-ahead range)."""
    base, remote, backing, mnt, sshd = net
    size = 16 * MIB + 12345
    data = make_file(os.path.join(remote, "seq"), size, None)
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        drop_caches()
        assert read(os.path.join(mnt, "seq")) == data
        st = stats(mnt)
        # Every byte once, though the kernel's requests (its whole 4 MiB
        # read-ahead window at once) reach the threads out of order: a
        # read-ahead job leaves what a reader fetched first.  Allow one
        # cluster for a race; without the claims this was 2-3 times the size.
        assert size <= st["fetch_bytes_backing"] <= size + 65536
        assert st["read_bytes_backing"] == size
        # Two readers of each of three files at once, each with its own handle.
        others = {f"p{i}": make_file(os.path.join(remote, f"p{i}"), 3 * MIB + i, None)
                  for i in range(3)}
        drop_caches()
        got = {}
        threads = [threading.Thread(target=lambda n=n: got.__setitem__(
            n, read(os.path.join(mnt, n)))) for n in list(others) * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got == others
    finally:
        m.unmount()


def test_sshfs_change_on_server_seen_at_next_open_with_strict_open(net):
    base, remote, backing, mnt, sshd = net
    path = os.path.join(remote, "f")
    old = make_file(path, MIB, 1)
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "strict_open=1")
    try:
        assert read(os.path.join(mnt, "f")) == old
        wait_written(mnt, len(old))
        new = make_file(path, MIB, 2)  # same size
        # SFTP carries seconds: make the new mtime a different second.
        os.utime(path, (time.time() + 5, time.time() + 5))
        time.sleep(1.1)
        assert read(os.path.join(mnt, "f")) == new
    finally:
        m.unmount()


def test_sshfs_same_size_rewrites_within_one_second_are_seen(net):
    """git rewrites 41-byte refs many times a second; SFTP's mtimes are
    whole seconds, so each version has the size and mtime of the last. A
    version read (and cached) is never served for the next: a file
    modified in the last two seconds is read from BACKING."""
    base, remote, backing, mnt, sshd = net
    path = os.path.join(remote, "HEAD")
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        second = int(time.time())
        for i in range(6):
            version = f"{i:040x}\n".encode()
            with open(path, "wb") as f:
                f.write(version)
            os.utime(path, (second, second))
            for _ in range(2):
                assert read(os.path.join(mnt, "HEAD")) == version
    finally:
        m.unmount()


def test_sshfs_run_of_opens_lists_the_directory_and_still_checks_each(net):
    """Files of one directory opened in a run: the directory is listed on
    the server once (dirprime.c), and with strict_open each open still
    checks its file: a file changed on the server during the run is read
    new."""
    base, remote, backing, mnt, sshd = net
    os.mkdir(os.path.join(remote, "d"))
    files = {f"f{i}": make_file(os.path.join(remote, "d", f"f{i}"), 5000, i)
             for i in range(5)}
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "strict_open=1")
    try:
        for name, data in files.items():
            assert read(os.path.join(mnt, "d", name)) == data
        assert 1 <= stats(mnt)["dir_listings"] <= 2
        new = make_file(os.path.join(remote, "d", "f4"), 5000, 99)  # same size
        # SFTP carries seconds: make the new mtime a different second.
        os.utime(os.path.join(remote, "d", "f4"), (time.time() + 5, time.time() + 5))
        assert read(os.path.join(mnt, "d", "f3")) == files["f3"]
        assert read(os.path.join(mnt, "d", "f4")) == new
    finally:
        m.unmount()


def test_sshfs_expired_names_of_a_directory_confirmed_once(net):
    """Programs that look up names of one directory side by side once
    meta_timeout has passed (git status's threads) have its expired names
    confirmed once: one listing, one batch, the others wait for it; and
    every size changed on the server is seen."""
    base, remote, backing, mnt, sshd = net
    d = os.path.join(remote, "d")
    os.mkdir(d)
    for i in range(200):
        make_file(os.path.join(d, f"f{i}"), i, i)
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "meta_timeout=600")
    try:
        for i in range(200):
            os.lstat(os.path.join(mnt, "d", f"f{i}"))
        for i in range(0, 200, 40):
            make_file(os.path.join(d, f"f{i}"), 1000 + i, i)
        os.setxattr(mnt, "user.swapcache.meta_timeout", b"1")
        time.sleep(2.2)
        drop_caches()
        listings = stats(mnt)["dir_listings"]
        start = threading.Barrier(8)

        def look(i):
            start.wait()
            os.lstat(os.path.join(mnt, "d", f"f{i * 25 + 1}"))
        threads = [threading.Thread(target=look, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert stats(mnt)["dir_listings"] == listings + 1
        for i in range(200):
            assert os.lstat(os.path.join(mnt, "d", f"f{i}")).st_size == \
                os.lstat(os.path.join(d, f"f{i}")).st_size
    finally:
        m.unmount()


def test_sshfs_names_made_in_the_second_of_a_listing_are_seen(net):
    """A name made on the server in the second its directory was listed
    leaves the directory's times as they were (SFTP's mtimes are whole
    seconds): once the listing expires it is read again, not confirmed by
    those times, and the name is seen."""
    base, remote, backing, mnt, sshd = net
    d = os.path.join(remote, "d")
    os.mkdir(d)
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "meta_timeout=1")
    try:
        made = 0
        for i in range(20):
            time.sleep(1.02 - time.time() % 1)  # early in a second
            second = int(time.time())
            open(os.path.join(d, f"a{i}"), "w").close()
            drop_caches()
            before = sorted(os.listdir(os.path.join(mnt, "d")))
            open(os.path.join(d, f"b{i}"), "w").close()
            if int(os.stat(d).st_mtime) != second:
                continue  # the second ended meanwhile: try again
            made += 1
            assert f"b{i}" not in before
            time.sleep(2.2)
            drop_caches()
            assert sorted(os.listdir(os.path.join(mnt, "d"))) == \
                sorted(os.listdir(d))
            if made == 3:
                break
        assert made == 3
    finally:
        m.unmount()


def grep_count(root):
    """grep -r -c as a user runs it, in root: its lines, sorted (the order
    of a directory's names is the server's)."""
    out = subprocess.run(["grep", "-r", "-c", "-a", "-e", "x", "."], cwd=root,
                         check=False, capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr
    return sorted(out.stdout.splitlines())


def make_old_tree(remote):
    """a0..a3/b0..b5/{f0..f7,c/g0..g7} on the server, files and directories
    modified a minute ago: a listing read in the second its directory
    changed is read again, never confirmed (CONSISTENCY)."""
    past = time.time() - 60
    for a in range(4):
        for b in range(6):
            d = os.path.join(remote, f"a{a}", f"b{b}")
            os.makedirs(os.path.join(d, "c"))
            for i in range(8):
                make_file(os.path.join(d, f"f{i}"), 100 + i, a * 100 + b * 10 + i)
                make_file(os.path.join(d, "c", f"g{i}"), 50 + i, None)
    for dirpath, _, _ in os.walk(remote, topdown=False):
        os.utime(dirpath, (past, past))


def find_sorted(root):
    """find as a user runs it, in root: its lines, sorted."""
    out = subprocess.run(["find", "."], cwd=root, check=True,
                         capture_output=True, text=True)
    return sorted(out.stdout.splitlines())


def walk_lstat(root):
    """ls -lR's view of root: each path's type, size and mtime."""
    return {rel: lstat_of(os.path.join(root, rel)) for rel in view(root)}


def test_sshfs_tree_walked_first_time_is_listed_ahead(net):
    """A tree walked for the first time (find, ls -lR): the subdirectories
    of each directory it lists are listed ahead of it, side by side
    (walkahead.h), and every walk sees what the server has: cold, after a
    remount, and past meta_timeout with changes made on the server."""
    base, remote, backing, mnt, sshd = net
    make_old_tree(remote)
    cache = os.path.join(base, "c.swc")
    m = mount(backing, mnt, cache)
    try:
        drop_caches()
        assert find_sorted(mnt) == find_sorted(remote)
        # 52 directories below the root, each listed once: most ahead.
        assert stats(mnt)["dirs_listed_ahead"] >= 26
        assert walk_lstat(mnt) == walk_lstat(remote)
    finally:
        m.unmount()
    sshfs_unmount(backing)
    sshfs_mount(sshd, remote, backing)
    drop_caches()
    m = mount(backing, mnt, cache, "meta_timeout=3")
    try:
        assert walk_lstat(mnt) == walk_lstat(remote)
        make_file(os.path.join(remote, "a3", "b5", "c", "new"), 10, 8)
        os.unlink(os.path.join(remote, "a2", "b0", "f0"))
        shutil.rmtree(os.path.join(remote, "a1", "b2", "c"))
        make_file(os.path.join(remote, "a1", "b2", "c"), 20, 9)
        time.sleep(3 + KERNEL_TIMEOUT)
        drop_caches()
        assert find_sorted(mnt) == find_sorted(remote)
        assert walk_lstat(mnt) == walk_lstat(remote)
    finally:
        m.unmount()


def test_sshfs_tree_walked_past_meta_timeout_is_confirmed_ahead(net):
    """A tree walked again once meta_timeout has passed (grep -r): the
    expired names of the subdirectories of each directory it lists are
    confirmed ahead of it, side by side (walkahead.h), and the walk sees
    the server as it is now: files rewritten, added and removed there
    meanwhile, and a directory replaced by a file, deep in the tree."""
    base, remote, backing, mnt, sshd = net
    make_old_tree(remote)
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "meta_timeout=600")
    try:
        assert grep_count(mnt) == grep_count(remote)
        assert view(mnt) == view(remote)
        make_file(os.path.join(remote, "a0", "b1", "f3"), 5000, 7)
        make_file(os.path.join(remote, "a3", "b5", "c", "new"), 10, 8)
        os.unlink(os.path.join(remote, "a2", "b0", "f0"))
        shutil.rmtree(os.path.join(remote, "a1", "b2", "c"))
        make_file(os.path.join(remote, "a1", "b2", "c"), 20, 9)
        os.setxattr(mnt, "user.swapcache.meta_timeout", b"3")
        time.sleep(3 + KERNEL_TIMEOUT)
        drop_caches()
        ahead = stats(mnt)["dirs_confirmed_ahead"]
        assert grep_count(mnt) == grep_count(remote)
        assert stats(mnt)["dirs_confirmed_ahead"] > ahead
        assert view(mnt) == view(remote)
        for rel in ("a0/b1/f3", "a3/b5/c/new", "a1/b2/c", "a2/b0/f1"):
            assert read(os.path.join(mnt, rel)) == read(os.path.join(remote, rel))
        # Past it again, a walk by names alone, as git status stats the
        # files its index lists: each directory's names confirmed together
        # have its subdirectories confirmed ahead.
        known = sorted(view(remote))
        make_file(os.path.join(remote, "a2", "b4", "c", "g1"), 7000, 10)
        os.unlink(os.path.join(remote, "a0", "b3", "c", "g2"))
        time.sleep(3 + KERNEL_TIMEOUT)
        drop_caches()
        ahead = stats(mnt)["dirs_confirmed_ahead"]
        assert [lstat_of(os.path.join(mnt, rel)) for rel in known] == \
            [lstat_of(os.path.join(remote, rel)) for rel in known]
        assert stats(mnt)["dirs_confirmed_ahead"] > ahead
    finally:
        m.unmount()


def look_up_as_git_log_does(root, dirs):
    """git log -p: each directory looked up, then its .gitattributes,
    never listed; what each lookup found."""
    found = []
    for d in dirs:
        found.append(lstat_of(os.path.join(root, d)))
        found.append(lstat_of(os.path.join(root, d, ".gitattributes")))
    return found


def test_sshfs_absences_renewed_by_unchanged_directory_times(net):
    """Names looked up and not found in directories never listed (git log
    -p's .gitattributes): past meta_timeout, in a directory whose times
    are unchanged they are answered without asking the server again, in
    this mount and the next; one made on the server meanwhile is seen."""
    base, remote, backing, mnt, sshd = net
    past = time.time() - 60
    dirs = [f"d{i}" for i in range(20)]
    for d in dirs:
        os.mkdir(os.path.join(remote, d))
        make_file(os.path.join(remote, d, "f"), 10, None)
        os.utime(os.path.join(remote, d), (past, past))
    cache = os.path.join(base, "c.swc")
    m = mount(backing, mnt, cache, "meta_timeout=600")
    try:
        assert look_up_as_git_log_does(mnt, dirs) == \
            look_up_as_git_log_does(remote, dirs)
        for made in ("d3", "d11"):
            os.setxattr(mnt, "user.swapcache.meta_timeout", b"3")
            make_file(os.path.join(remote, made, ".gitattributes"), 5, None)
            time.sleep(3 + KERNEL_TIMEOUT)
            drop_caches()
            before = stats(mnt)
            assert look_up_as_git_log_does(mnt, dirs) == \
                look_up_as_git_log_does(remote, dirs)
            after = stats(mnt)
            asked = (after["meta_misses"] - before["meta_misses"] +
                     after["dirs_confirmed_ahead"] -
                     before["dirs_confirmed_ahead"])
            assert asked < len(dirs) // 2, (before, after)
            m.unmount()
            m = mount(backing, mnt, cache, "meta_timeout=600")
    finally:
        m.unmount()


def lstat_of(path):
    """What git status compares of a file: its type, size and mtime, or
    that it is gone."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_mode >> 12, st.st_size, int(st.st_mtime)


def test_sshfs_writes_reach_the_server(net):
    base, remote, backing, mnt, sshd = net
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        data = os.urandom(300000)
        with open(os.path.join(mnt, "written"), "wb") as f:
            f.write(data)
        assert read(os.path.join(remote, "written")) == data
        drop_caches()
        assert read(os.path.join(mnt, "written")) == data
    finally:
        m.unmount()


def process_tree(pid):
    """pid and every process descended from it."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def in_thread(fn, timeout):
    """fn() run in a thread: ('ok', value), ('err', errno name), or
    ('hung', None) if it has not returned after timeout seconds."""
    result = [("hung", None)]

    def run():
        result[0] = scfs.outcome(fn)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    return result[0]


def kill_server(sshd):
    """Kill the sshd and its sessions, as a server that went away: the
    processes killed, for the test to start it again."""
    killed = process_tree(sshd.proc.pid)
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    sshd.proc.wait(timeout=10)
    return killed


def test_hung_server_times_out_and_cached_data_still_served(net):
    """The sshd stopped with SIGSTOP: sshfs waits forever.  A file already
    open and cached keeps being read; a call that needs the server fails
    with ETIMEDOUT after backing_timeout; the mount still unmounts, and
    the daemon ends with status 0."""
    base, remote, backing, mnt, sshd = net
    cache = os.path.join(base, "c.swc")
    cached = make_file(os.path.join(remote, "cached"), 2 * MIB, None)
    make_file(os.path.join(remote, "uncached"), MIB, None)
    m = scfs.Mount(backing, mnt, options=("allow_other", f"cache={cache}", "cache_size=64M",
                                          "min_hysteresis=0", "backing_timeout=2"))
    stopped = []
    try:
        fd = os.open(os.path.join(mnt, "cached"), os.O_RDONLY)
        assert os.pread(fd, 2 * MIB, 0) == cached
        wait_written(mnt, 2 * MIB)
        # Handles the cache does not serve, read from BACKING each time.
        direct = os.open(os.path.join(mnt, "uncached"), os.O_RDWR | os.O_DIRECT)
        buffered = os.open(os.path.join(mnt, "uncached"), os.O_RDWR)
        drop_caches()  # what follows comes from the daemon, not the kernel
        stopped = process_tree(sshd.proc.pid)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)

        # Cached data on an open handle: answered as ever.
        for off in (0, MIB + 4096, 2 * MIB - 100):
            assert in_thread(lambda: os.pread(fd, 65536, off), 20) == \
                ("ok", cached[off:off + 65536])
        # Anything that needs the server: ETIMEDOUT, not a hang.
        def read_uncached():
            with open(os.path.join(mnt, "uncached"), "rb") as f:
                return f.read()
        assert in_thread(read_uncached, 30) == ("err", "ETIMEDOUT")
        # A read straight from BACKING times out too, buffered or not: it
        # once waited inside its reply, out of the watchdog's reach.
        assert in_thread(lambda: os.pread(direct, 4096, 0), 30) == \
            ("err", "ETIMEDOUT")
        assert in_thread(lambda: os.pread(buffered, 4096, 8192), 30) == \
            ("err", "ETIMEDOUT")
        os.close(direct)
        os.close(buffered)
        scfs.wait_for(lambda: stats(mnt)["backing_state"] == "hung", timeout=10,
                      what="backing_state: hung")
        assert stats(mnt)["backing_timeouts"] >= 1
        os.close(fd)
        # Unmount while the server is still stopped: the mount goes at
        # once, and the daemon, its cache records committed, leaves the
        # thread the server holds (no process can end a thread stuck in
        # a FUSE call the server has read: the kernel waits it out) ...
        subprocess.run(["fusermount3", "-u", mnt], check=True, timeout=30)
        assert not os.path.ismount(mnt)
        scfs.wait_for(lambda: "exiting without them" in m.log(), timeout=30,
                      what="the daemon to end")
        assert "has not answered for 2 s" in m.log()
        # ... and is gone, status 0, as soon as the server answers.
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stopped = []
        assert m.proc.wait(timeout=30) == 0
        m.unmount()
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-uz", mnt])


def test_offline_server_cached_tree_still_served(net):
    """The sshd and its sessions killed: sshfs (-o reconnect) answers every
    call with EIO at once.  What was read before is still served, right to
    the byte (listings, attributes, links and data); what was not fails at
    once with EHOSTDOWN; changes fail with EROFS.  When the sshd is back,
    the mount is back online by itself."""
    base, remote, backing, mnt, sshd = net
    sshfs_unmount(backing)
    sshfs_mount(sshd, remote, backing, ",reconnect")
    os.makedirs(os.path.join(remote, "d", "sub"))
    files = {"d/a": make_file(os.path.join(remote, "d", "a"), MIB, None),
             "d/b": make_file(os.path.join(remote, "d", "b"), 5000, None),
             "d/sub/c": make_file(os.path.join(remote, "d", "sub", "c"), 200000, None)}
    os.symlink("a", os.path.join(remote, "d", "link"))
    uncached = make_file(os.path.join(remote, "uncached"), MIB, None)
    m = scfs.Mount(backing, mnt, options=("allow_other", f"cache={base}/c.swc",
                                          "cache_size=64M", "min_hysteresis=0"))
    killed = []
    try:
        before = view(mnt)
        for name, data in files.items():
            assert read(os.path.join(mnt, name)) == data
        wait_written(mnt, [len(d) for d in files.values()])
        drop_caches()
        killed = kill_server(sshd)

        # Cached: served as before.  Each call must answer within 10 s.
        t0 = time.monotonic()
        assert in_thread(lambda: view(mnt), 10) == ("ok", before)
        for name, data in files.items():
            assert in_thread(lambda: read(os.path.join(mnt, name)), 10) == ("ok", data)
        served_s = time.monotonic() - t0
        assert in_thread(lambda: os.readlink(os.path.join(mnt, "d", "link")), 10) == \
            ("ok", "a")
        # Not cached: fails at once.  Changes: refused.
        t0 = time.monotonic()
        assert in_thread(lambda: read(os.path.join(mnt, "uncached")), 10) == \
            ("err", "EHOSTDOWN")
        failed_s = time.monotonic() - t0
        assert in_thread(lambda: os.mkdir(os.path.join(mnt, "d", "new")), 10) == \
            ("err", "EROFS")
        assert in_thread(lambda: open(os.path.join(mnt, "d", "b"), "ab"), 10) == \
            ("err", "EROFS")
        assert in_thread(lambda: os.unlink(os.path.join(mnt, "d", "b")), 10) == \
            ("err", "EROFS")
        st = stats(mnt)
        assert st["backing_state"] == "offline" and st["backing_offline_count"] == 1
        assert "is offline" in m.log()

        # The server back: online again without help.
        sshd.start()
        killed = []
        t0 = time.monotonic()
        scfs.wait_for(lambda: stats(mnt)["backing_state"] == "ok", timeout=20,
                      what="the mount to come back online")
        print(f"offline: {len(before)} paths and "
              f"{sum(len(d) for d in files.values())} bytes served right in "
              f"{served_s:.2f} s, an uncached file failed in {failed_s:.3f} s, "
              f"back online {time.monotonic() - t0:.1f} s after the server")
        assert "is back online" in m.log()
        assert read(os.path.join(mnt, "uncached")) == uncached
        with open(os.path.join(mnt, "d", "new"), "wb") as f:
            f.write(b"written after")
        assert read(os.path.join(remote, "d", "new")) == b"written after"
        m.unmount()
    finally:
        if killed:
            sshd.start()
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-uz", mnt])


def test_offline_creating_an_unseen_name_fails_with_ehostdown(net):
    """Offline, a change fails with EROFS; but creating a file or a
    directory under a name the cache has never seen fails earlier, at the
    kernel's lookup of the name, with EHOSTDOWN: whether the name is free
    cannot be known (man page, FAULTS)."""
    base, remote, backing, mnt, sshd = net
    sshfs_unmount(backing)
    sshfs_mount(sshd, remote, backing, ",reconnect")
    make_file(os.path.join(remote, "known"), 5000, None)
    m = scfs.Mount(backing, mnt, options=("allow_other", f"cache={base}/c.swc",
                                          "cache_size=64M"))
    killed = []
    try:
        os.stat(os.path.join(mnt, "known"))  # the root is never listed
        killed = kill_server(sshd)
        # The first call that needs the server finds it gone.
        assert in_thread(lambda: os.stat(os.path.join(mnt, "other")), 10) == \
            ("err", "EHOSTDOWN")
        assert stats(mnt)["backing_state"] == "offline"
        assert in_thread(lambda: os.unlink(os.path.join(mnt, "known")), 10) == \
            ("err", "EROFS")
        assert in_thread(lambda: os.mkdir(os.path.join(mnt, "new")), 10) == \
            ("err", "EHOSTDOWN")
        assert in_thread(lambda: open(os.path.join(mnt, "new"), "w"), 10) == \
            ("err", "EHOSTDOWN")
        assert os.path.exists(os.path.join(remote, "known"))
        m.unmount()
    finally:
        if killed:
            sshd.start()
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-uz", mnt])


def test_offline_calls_on_open_handles_say_host_is_down(net):
    """A call on a handle opened before the server went away (fsync)
    fails as every other call does while BACKING is offline:
    with EHOSTDOWN, not the "I/O error" sshfs gives (one error convention
    in the ops, with the offline mapping)."""
    base, remote, backing, mnt, sshd = net
    sshfs_unmount(backing)
    sshfs_mount(sshd, remote, backing, ",reconnect")
    make_file(os.path.join(remote, "f"), 5000, None)
    m = scfs.Mount(backing, mnt, options=("allow_other", f"cache={base}/c.swc",
                                          "cache_size=64M"))
    killed = []
    fd = -1
    try:
        fd = os.open(os.path.join(mnt, "f"), os.O_RDWR)
        killed = kill_server(sshd)
        assert in_thread(lambda: os.fsync(fd), 10) == ("err", "EHOSTDOWN")
        assert stats(mnt)["backing_state"] == "offline"
        # The close's flush fails alike (the fd is closed all the same).
        closing, fd = fd, -1
        assert in_thread(lambda: os.close(closing), 10) == ("err", "EHOSTDOWN")
        m.unmount()
    finally:
        if fd >= 0:
            os.close(fd)
        if killed:
            sshd.start()
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-uz", mnt])
