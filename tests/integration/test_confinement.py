# SPDX-License-Identifier: GPL-2.0-or-later
"""Nothing outside BACKING is reachable through the mount, whatever the
backing tree holds or how it changes under a live mount."""
import os
import shutil

import pytest

import scfs


@pytest.fixture
def outside(dirs):
    base = dirs[0]
    o = os.path.join(base, "outside")
    os.mkdir(o)
    with open(os.path.join(o, "treasure"), "w") as f:
        f.write("must not be read through the mount")
    return o


def test_swapped_directory_is_not_followed(dirs, outside):
    """A directory the kernel knows is replaced by a symlink to outside
    BACKING behind the daemon's back: lookups below it must fail rather than
    follow the symlink."""
    base, backing, mnt, _ = dirs
    os.mkdir(os.path.join(backing, "d"))
    with open(os.path.join(backing, "d", "treasure"), "w") as f:
        f.write("inside")
    m = scfs.Mount(backing, mnt, options=("allow_other", "entry_timeout=60",
                                          "attr_timeout=60"))
    try:
        assert os.path.isdir(os.path.join(mnt, "d"))   # kernel caches d
        shutil.rmtree(os.path.join(backing, "d"))
        os.symlink(outside, os.path.join(backing, "d"))
        with pytest.raises(OSError):
            open(os.path.join(mnt, "d", "treasure")).read()
        with pytest.raises(OSError):
            os.listdir(os.path.join(mnt, "d"))
    finally:
        m.unmount()


def test_renamed_parent_does_not_escape(dirs, outside):
    """A path component swapped for a symlink to '..' chains: still refused."""
    base, backing, mnt, _ = dirs
    os.makedirs(os.path.join(backing, "a", "b"))
    m = scfs.Mount(backing, mnt, options=("allow_other", "entry_timeout=60",
                                          "attr_timeout=60"))
    try:
        assert os.path.isdir(os.path.join(mnt, "a", "b"))
        os.rmdir(os.path.join(backing, "a", "b"))
        os.symlink("../../outside", os.path.join(backing, "a", "b"))
        with pytest.raises(OSError):
            open(os.path.join(mnt, "a", "b", "treasure")).read()
        with pytest.raises(OSError):
            os.stat(os.path.join(mnt, "a", "b", "treasure"))
    finally:
        m.unmount()


def test_symlinks_are_returned_not_followed(mount):
    """The daemon never follows a symlink itself: readlink gives the text,
    and xattr calls on a symlink act on the link."""
    os.symlink("/etc/passwd", os.path.join(mount.backing, "abs"))
    link = os.path.join(mount.mountpoint, "abs")
    assert os.readlink(link) == "/etc/passwd"
    assert os.lstat(link).st_size == len("/etc/passwd")
    with pytest.raises(OSError):
        os.setxattr(link, "user.x", b"1", follow_symlinks=False)
    with pytest.raises(OSError):
        os.getxattr(link, "user.x", follow_symlinks=False)
