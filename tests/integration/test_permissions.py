# SPDX-License-Identifier: GPL-2.0-or-later
"""Identity and permissions: with allow_other, a user's operations through
the mount succeed or fail exactly as the same operations on the backing
directory, and what a user creates belongs to that user."""
import os
import stat
import time

import pytest

import scfs
from test_cache import stats

USER = scfs.NOBODY
GROUP = 4242


@pytest.fixture
def tree(mount):
    """The same tree in the backing and reference directories."""
    for root in (mount.backing, mount.ref):
        def p(*parts):
            return os.path.join(root, *parts)
        with open(p("secret"), "w") as f:
            f.write("root only")
        os.chmod(p("secret"), 0o600)
        with open(p("public"), "w") as f:
            f.write("everyone")
        os.chmod(p("public"), 0o644)
        with open(p("shared"), "w") as f:
            f.write("world writable")
        os.chmod(p("shared"), 0o666)
        with open(p("group"), "w") as f:
            f.write("group readable")
        os.chown(p("group"), 0, GROUP)
        os.chmod(p("group"), 0o640)
        os.mkdir(p("closed"), 0o700)
        with open(p("closed", "inside"), "w") as f:
            f.write("x")
        os.mkdir(p("open"))
        os.chmod(p("open"), 0o777)
        os.mkdir(p("sticky"))
        os.chmod(p("sticky"), 0o1777)
        with open(p("sticky", "roots"), "w") as f:
            f.write("r")
        with open(p("suidbin"), "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(p("suidbin"), 0o4755)
        os.mkdir(p("groupdir"))
        os.chown(p("groupdir"), 0, GROUP)
        os.chmod(p("groupdir"), 0o2770)
    return mount


def both_as(mount, fn, *rel, groups=()):
    a = scfs.as_user(USER, USER, fn, *[os.path.join(mount.ref, r) for r in rel], groups=groups)
    b = scfs.as_user(USER, USER, fn, *[os.path.join(mount.mountpoint, r) for r in rel],
                     groups=groups)
    assert a == b, f"reference {a} != mount {b}"
    return b


def read(p):
    with open(p) as f:
        return f.read()


def append(p):
    with open(p, "a") as f:
        return f.write("+")


def create(p):
    fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    os.close(fd)
    st = os.stat(p)
    return (st.st_uid, st.st_gid)


CASES = [
    ("read a 0600 root file", read, ["secret"], "err"),
    ("read a 0644 file", read, ["public"], "ok"),
    ("write a 0644 root file", append, ["public"], "err"),
    ("write a 0666 file", append, ["shared"], "ok"),
    ("read a 0640 group file without the group", read, ["group"], "err"),
    ("traverse a 0700 directory", read, ["closed/inside"], "err"),
    ("list a 0700 directory", os.listdir, ["closed"], "err"),
    ("create in a root 0755 directory", create, ["newfile"], "err"),
    ("create in a 0777 directory", create, ["open/mine"], "ok"),
    ("mkdir in a 0777 directory", lambda p: os.mkdir(p), ["open/mydir"], "ok"),
    ("chmod another's file", lambda p: os.chmod(p, 0o777), ["public"], "err"),
    ("chown another's file", lambda p: os.chown(p, USER, USER), ["public"], "err"),
    ("unlink another's file in a sticky dir", os.unlink, ["sticky/roots"], "err"),
    ("truncate a 0644 root file", lambda p: os.truncate(p, 0), ["public"], "err"),
    ("touch (now) a 0666 file", lambda p: scfs.utimensat(p, scfs.UTIME_NOW, scfs.UTIME_NOW),
     ["shared"], "ok"),
    ("set explicit times on another's file", lambda p: os.utime(p, (1, 1)), ["shared"], "err"),
    ("rename in a root directory", lambda p: os.rename(p, p + "2"), ["public"], "err"),
    ("setxattr on another's file", lambda p: os.setxattr(p, "user.x", b"1"), ["public"], "err"),
    ("drop set-id bits of another's file without write access",
     lambda p: os.chmod(p, 0o755), ["suidbin"], "err"),
    ("access W_OK on a 0644 root file", lambda p: os.access(p, os.W_OK), ["public"], "ok"),
    ("access R_OK on a 0600 root file", lambda p: os.access(p, os.R_OK), ["secret"], "ok"),
]


@pytest.mark.parametrize("what,fn,rel,expect", CASES, ids=[c[0] for c in CASES])
def test_unprivileged_matches_backing(tree, what, fn, rel, expect):
    result = both_as(tree, fn, *rel)
    assert result[0] == expect, result


def test_created_files_belong_to_the_creator(tree):
    assert both_as(tree, create, "open/owned") == ("ok", (USER, USER))
    st = os.stat(os.path.join(tree.backing, "open/owned"))
    assert (st.st_uid, st.st_gid) == (USER, USER)


def test_supplementary_groups_are_honoured(tree):
    assert both_as(tree, read, "group", groups=[GROUP]) == ("ok", "group readable")
    # setgid directory: new files take the directory's group.
    assert both_as(tree, create, "groupdir/f", groups=[GROUP]) == ("ok", (USER, GROUP))
    assert both_as(tree, create, "groupdir/g") [0] == "err"


def test_root_may_do_what_root_may(tree):
    mnt = tree.mountpoint
    assert read(os.path.join(mnt, "secret")) == "root only"
    os.chown(os.path.join(mnt, "public"), 1000, 1000)
    assert os.stat(os.path.join(tree.backing, "public")).st_uid == 1000
    os.unlink(os.path.join(mnt, "sticky", "roots"))
    os.unlink(os.path.join(tree.ref, "sticky", "roots"))


def test_write_by_user_clears_setuid(tree):
    for root in (tree.backing, tree.ref):
        os.chmod(os.path.join(root, "shared"), 0o4777)
    both_as(tree, append, "shared")
    for root in (tree.backing, tree.ref):
        assert not os.stat(os.path.join(root, "shared")).st_mode & stat.S_ISUID


def test_cached_files_keep_their_permissions(tree):
    """With lazy_open, files the cache holds are checked by name, not
    opened: the same users are refused the same files."""
    mnt = tree.mountpoint
    os.setxattr(mnt, "user.swapcache.lazy_open", b"1")
    for name in ("secret", "group", "public"):
        assert read(os.path.join(mnt, name))  # as root: now cached
    stats = os.getxattr(mnt, "user.swapcache.stats").decode()
    assert "read_bytes_backing: 0" not in stats
    assert both_as(tree, read, "secret")[0] == "err"
    assert both_as(tree, read, "group")[0] == "err"
    assert both_as(tree, read, "group", groups=[GROUP]) == ("ok", "group readable")
    assert both_as(tree, read, "public") == ("ok", "everyone")


def test_subdirectories_listed_ahead_as_the_user(tree):
    """A user's listing of a directory has its subdirectories listed ahead
    of a walk (walkahead.h) as that user: not those the user may not
    read."""
    def names(p):
        return sorted(os.listdir(p))

    def listed():
        return stats(tree.mountpoint)["dirs_listed_ahead"]

    assert both_as(tree, names, "")[0] == "ok"
    # open and sticky; not closed (0700) nor groupdir (2770, another group).
    scfs.wait_for(lambda: listed() >= 2)
    time.sleep(1)
    assert listed() == 2
    assert both_as(tree, names, "open")[0] == "ok"
    assert both_as(tree, names, "closed")[0] == "err"
