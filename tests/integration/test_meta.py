# SPDX-License-Identifier: GPL-2.0-or-later
"""Metadata caching: attributes, listings, symlink targets and absent
names are served without asking BACKING for meta_timeout seconds, kept
on the SSD across a remount, and updated at once by changes made through
the mount.  Changes made behind the mount's back show that an answer came
from the cache: BACKING says otherwise."""
import errno
import os
import stat
import subprocess
import time

import pytest

import scfs
from test_cache import drop_caches, stats

KERNEL_TIMEOUT = 1.2  # the kernel's own entry and attribute cache (1 s)


def mount(backing, mnt, cache, *extra):
    return scfs.Mount(backing, mnt, options=("allow_other", f"cache={cache}",
                                             "cache_size=32M", *extra))


def make_tree(root):
    """A small tree: files, a subdirectory, a symlink."""
    os.makedirs(os.path.join(root, "d", "sub"))
    for name, data in {"d/a": b"a" * 1000, "d/b": b"bb", "d/sub/c": b"c" * 70000,
                       "top": b"top"}.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    os.symlink("a", os.path.join(root, "d", "link"))


def view(root):
    """What a walk sees: every path with its type, size and target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            out[rel] = (stat.S_IFMT(st.st_mode), st.st_size,
                        os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)
    return out


def test_metadata_served_within_meta_timeout(dirs):
    base, backing, mnt, _ = dirs
    make_tree(backing)
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "meta_timeout=600")
    try:
        before = view(backing)
        assert view(mnt) == before
        # Behind the mount's back: a new name, a grown file, a new target.
        with open(os.path.join(backing, "d", "new"), "wb") as f:
            f.write(b"new")
        with open(os.path.join(backing, "d", "b"), "ab") as f:
            f.write(b"grown")
        os.unlink(os.path.join(backing, "d", "link"))
        os.symlink("b", os.path.join(backing, "d", "link"))
        time.sleep(KERNEL_TIMEOUT)
        hits = stats(mnt)["meta_hits"]
        # Still the cached view: listing, absent name, size, target.
        assert view(mnt) == before
        assert sorted(os.listdir(os.path.join(mnt, "d"))) == ["a", "b", "link", "sub"]
        assert scfs.outcome(os.stat, os.path.join(mnt, "d", "new")) == ("err", "ENOENT")
        assert os.readlink(os.path.join(mnt, "d", "link")) == "a"
        assert stats(mnt)["meta_hits"] > hits
        # Opening still asks BACKING (close-to-open): the bytes are new,
        # once the kernel's own attributes (of the stat above) expire.
        time.sleep(KERNEL_TIMEOUT)
        with open(os.path.join(mnt, "d", "b"), "rb") as f:
            assert f.read() == b"bbgrown"
        # meta_timeout=0 at run time: BACKING is asked every time.
        os.setxattr(mnt, "user.swapcache.meta_timeout", b"0")
        time.sleep(KERNEL_TIMEOUT)
        assert view(mnt) == view(backing)
        assert os.readlink(os.path.join(mnt, "d", "link")) == "b"
    finally:
        m.unmount()


def test_expired_tree_confirmed_a_directory_at_a_time(dirs):
    """Once meta_timeout has passed, a walk asks BACKING about a directory's
    expired names together, after listing the directory (which fills a
    network filesystem's attribute cache), not one name at a time; and a
    subdirectory confirmed as its parent's entry keeps its listing only
    while its times stand.  What changed behind the mount is seen, names,
    sizes and bytes, and nothing else changes."""
    base, backing, mnt, _ = dirs
    many = os.path.join(backing, "many")
    os.makedirs(os.path.join(many, "sub"))
    os.makedirs(os.path.join(many, "same"))
    for i in range(40):
        with open(os.path.join(many, f"f{i}"), "wb") as f:
            f.write(b"x" * i)
    for i in range(8):
        for d in ("sub", "same"):
            with open(os.path.join(many, d, f"g{i}"), "wb") as f:
                f.write(b"y" * i)
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "meta_timeout=600")
    try:
        assert view(mnt) == view(backing)
        # Behind the mount's back: two files rewritten in place (their
        # directory's times stay), a name added in a subdirectory.
        for name, data in (("f3", b"three!"), ("f17", b"")):
            with open(os.path.join(many, name), "wb") as f:
                f.write(data)
        with open(os.path.join(many, "sub", "new"), "wb") as f:
            f.write(b"new")
        os.setxattr(mnt, "user.swapcache.meta_timeout", b"1")
        time.sleep(1 + KERNEL_TIMEOUT)
        drop_caches()
        listings = stats(mnt)["dir_listings"]
        assert view(mnt) == view(backing)
        # Listed to confirm its 40 names (a walk opens no file here).
        assert stats(mnt)["dir_listings"] > listings
        for name in ("f3", "f17", "f5"):
            with open(os.path.join(mnt, "many", name), "rb") as f:
                with open(os.path.join(many, name), "rb") as g:
                    assert f.read() == g.read()
        assert sorted(os.listdir(os.path.join(mnt, "many", "sub"))) == \
            sorted(os.listdir(os.path.join(many, "sub")))
    finally:
        m.unmount()


def test_changes_through_the_mount_seen_at_once(dirs):
    base, backing, mnt, _ = dirs
    make_tree(backing)
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "meta_timeout=600")
    d = os.path.join(mnt, "d")
    try:
        assert view(mnt) == view(backing)
        with open(os.path.join(d, "created"), "wb") as f:
            f.write(b"12345")
        os.unlink(os.path.join(d, "b"))
        os.rename(os.path.join(d, "a"), os.path.join(d, "renamed"))
        os.chmod(os.path.join(d, "renamed"), 0o600)
        with open(os.path.join(d, "renamed"), "ab") as f:
            f.write(b"more")
        os.truncate(os.path.join(d, "sub", "c"), 10)
        os.symlink("renamed", os.path.join(d, "link2"))
        os.mkdir(os.path.join(d, "newdir"))
        # A directory renamed away, and a new one under its old name.
        os.rename(os.path.join(d, "sub"), os.path.join(d, "moved"))
        os.mkdir(os.path.join(d, "sub"))
        with open(os.path.join(d, "sub", "fresh"), "wb") as f:
            f.write(b"f")
        os.rmdir(os.path.join(d, "newdir"))
        drop_caches()  # the kernel's own caches out of the way
        assert view(mnt) == view(backing)
        assert sorted(os.listdir(os.path.join(d, "sub"))) == ["fresh"]
        assert sorted(os.listdir(os.path.join(d, "moved"))) == ["c"]
        st = os.stat(os.path.join(d, "renamed"))
        assert (stat.S_IMODE(st.st_mode), st.st_size) == (0o600, 1004)
        assert scfs.outcome(os.stat, os.path.join(d, "b")) == ("err", "ENOENT")
        assert os.readlink(os.path.join(d, "link2")) == "renamed"
    finally:
        m.unmount()


def test_names_not_there_answered_through_a_builds_changes(dirs):
    """A build creates, writes, renames and removes files in a directory
    while its compiler looks there for headers that are not there: once
    the directory is listed (or made through the mount, empty), those
    lookups are answered by the cache through the build's own changes,
    BACKING not asked (meta_misses), and what the mount shows stays
    BACKING's."""
    base, backing, mnt, _ = dirs
    make_tree(backing)
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "meta_timeout=600")
    d = os.path.join(mnt, "d")
    try:
        assert sorted(os.listdir(d)) == sorted(os.listdir(os.path.join(backing, "d")))
        for i in range(3):
            with open(os.path.join(d, f"o{i}.tmp"), "wb") as f:
                f.write(b"object" * i)
            os.rename(os.path.join(d, f"o{i}.tmp"), os.path.join(d, f"o{i}.o"))
            os.mkdir(os.path.join(d, f"dir{i}"))
            if i:
                os.unlink(os.path.join(d, f"o{i - 1}.o"))
            misses = stats(mnt)["meta_misses"]
            for name in (f"h{i}.h", f"stdio{i}.h", f"o{i}.tmp", f"dir{i}/h.h"):
                assert scfs.outcome(os.stat, os.path.join(d, name)) == ("err", "ENOENT")
            assert stats(mnt)["meta_misses"] == misses
        with open(os.path.join(d, "dir2", "made"), "wb") as f:
            f.write(b"m")
        assert os.listdir(os.path.join(d, "dir2")) == ["made"]
        drop_caches()
        assert view(mnt) == view(backing)
        assert scfs.outcome(os.stat, os.path.join(d, "o1.o")) == ("err", "ENOENT")
        assert os.path.getsize(os.path.join(d, "o2.o")) == 12
    finally:
        m.unmount()


def wait_published(mnt, timeout=30):
    """Until the metadata records are on the SSD."""
    scfs.wait_for(lambda: stats(mnt)["meta_clusters_written"] > 0, timeout=timeout,
                  what="metadata written to the SSD")


def test_metadata_survives_remount(dirs):
    """After a remount within meta_timeout the tree is walked from the SSD
    (its records read back into RAM as the mount starts): a change made
    behind the mount while it was down is not seen until BACKING is asked
    again."""
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "c.swc")
    make_tree(backing)
    for i in range(300):
        with open(os.path.join(backing, "d", f"many{i:03}"), "wb") as f:
            f.write(b"x" * i)
    m = mount(backing, mnt, cache, "meta_timeout=600")
    try:
        before = view(mnt)
        assert before == view(backing)
        wait_published(mnt)
    finally:
        m.unmount()
    os.unlink(os.path.join(backing, "d", "many000"))
    with open(os.path.join(backing, "top"), "ab") as f:
        f.write(b"more")
    m = mount(backing, mnt, cache, "meta_timeout=600")
    try:
        # Read back before they are asked for: d/sub is reached only by
        # walking the records down from the root.
        scfs.wait_for(lambda: stats(mnt)["meta_loads"] == 3, timeout=10,
                      what="the records read back at mount")
        assert view(mnt) == before
        st = stats(mnt)
        assert st["meta_loads"] == 3  # the root, d and d/sub: from the SSD
        assert st["ssd_hits"] >= 3
        assert st["meta_hits"] > 0 and st["meta_misses"] == 0
        os.setxattr(mnt, "user.swapcache.meta_timeout", b"0")
        time.sleep(KERNEL_TIMEOUT)
        assert view(mnt) == view(backing)
    finally:
        m.unmount()


def test_permissions_checked_on_cached_answers(dirs):
    """A name served from the cache is still refused to a user who may not
    search its directory."""
    base, backing, mnt, _ = dirs
    os.mkdir(os.path.join(backing, "private"), 0o700)
    with open(os.path.join(backing, "private", "secret"), "wb") as f:
        f.write(b"s")
    os.chmod(os.path.join(backing, "private"), 0o700)
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "meta_timeout=600")
    try:
        secret = os.path.join(mnt, "private", "secret")
        assert os.stat(secret).st_size == 1   # root caches it
        assert os.listdir(os.path.join(mnt, "private")) == ["secret"]
        drop_caches()
        assert stats(mnt)["meta_entries"] >= 2
        assert scfs.as_user(1000, 1000, os.stat, secret)[1] == "EACCES"
        assert scfs.as_user(1000, 1000, os.listdir,
                            os.path.join(mnt, "private"))[1] == "EACCES"
    finally:
        m.unmount()


def test_hard_links_always_asked_again(dirs):
    """A file with several names changes through any of them: its cached
    attributes are not trusted while BACKING answers."""
    base, backing, mnt, _ = dirs
    with open(os.path.join(backing, "one"), "wb") as f:
        f.write(b"1")
    os.link(os.path.join(backing, "one"), os.path.join(backing, "two"))
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "meta_timeout=600")
    try:
        assert os.stat(os.path.join(mnt, "two")).st_nlink == 2
        os.chmod(os.path.join(backing, "one"), 0o640)
        time.sleep(KERNEL_TIMEOUT)
        assert stat.S_IMODE(os.stat(os.path.join(mnt, "two")).st_mode) == 0o640
    finally:
        m.unmount()


def test_meta_timeout_option_and_tunable_checked(dirs):
    base, backing, mnt, _ = dirs
    r = subprocess.run([scfs.BINARY, "-o", "meta_timeout=forever", backing, mnt],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "bad value 'forever' for meta_timeout" in r.stderr
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        assert stats(mnt)["meta_timeout"] == 60
        with pytest.raises(OSError) as e:
            os.setxattr(mnt, "user.swapcache.meta_timeout", b"-1")
        assert e.value.errno == errno.EINVAL
        assert stats(mnt)["meta_timeout"] == 60
    finally:
        m.unmount()


def test_corrupt_metadata_records_detected(dirs):
    """Every metadata record on the SSD damaged while unmounted: each is
    found by its checksum, dropped and counted, and the tree is read from
    BACKING instead, right."""
    from test_faults import flip_bit, layout, poke
    import random
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "c.swc")
    make_tree(backing)
    m = mount(backing, mnt, cache)
    try:
        view(mnt)  # metadata only: no file is read
        wait_published(mnt)
    finally:
        m.unmount()
    regions, clusters = layout(cache)
    assert len(clusters) == 3  # the root, d and d/sub
    rng = random.Random(5)
    for c in clusters:
        poke(cache, (regions["data"] + c["slot"] * 65536 + c["offset"],
                     min(c["length"], 4096)), flip_bit(rng))
    m = mount(backing, mnt, cache)
    try:
        assert view(mnt) == view(backing)
        st = stats(mnt)
        assert st["checksum_errors"] == 3 and st["meta_loads"] == 0, st
    finally:
        m.unmount()


def test_meta_enable_0_asks_backing_and_writes_nothing(dirs):
    """meta_enable=0: every question goes to BACKING (a change behind the
    mount is seen once the kernel's own caches expire) and no metadata
    reaches the SSD."""
    base, backing, mnt, _ = dirs
    make_tree(backing)
    m = mount(backing, mnt, os.path.join(base, "c.swc"), "meta_enable=0",
              "min_hysteresis=0")
    try:
        assert view(mnt) == view(backing)
        with open(os.path.join(backing, "d", "new"), "wb") as f:
            f.write(b"new")
        time.sleep(KERNEL_TIMEOUT)
        assert view(mnt) == view(backing)
        time.sleep(1.5)  # a scanner tick or more: the feeder has run
        st = stats(mnt)
        assert st["meta_hits"] == 0 and st["meta_misses"] > 0, st
        assert st["meta_published"] == 0 and st["meta_clusters_written"] == 0, st
    finally:
        m.unmount()
