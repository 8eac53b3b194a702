# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad input is refused before anything is mounted, with a one-line
message that names the problem, and a non-zero exit."""
import os
import re
import subprocess

import pytest

import scfs


def run(*args):
    return subprocess.run([scfs.BINARY, *args], capture_output=True, text=True, timeout=20)


def refused(r, pattern):
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_help_shows_the_synopsis_of_the_man_page():
    r = run("--help")
    assert r.returncode == 0
    usage = r.stdout.splitlines()[0]
    assert usage == "usage: swapcachefs [-f] [-d] [-s] [-o OPT[,OPT...]] BACKING MOUNTPOINT"
    man = open(os.path.join(os.path.dirname(__file__), "../../man/swapcachefs.8")).read()
    # The man page SYNOPSIS lists the same flags and operands.
    synopsis = man.split(".Sh SYNOPSIS")[1].split(".Sh")[0]
    for word in ("Fl f", "Fl d", "Fl s", "Fl o", "Ar BACKING", "Ar MOUNTPOINT",
                 "Fl -help", "Fl -version"):
        assert word in synopsis, word


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("swapcachefs ")


def test_unknown_option(dirs):
    _, backing, mnt, _ = dirs
    refused(run("-o", "frobnicate", backing, mnt), r"unknown mount option 'frobnicate'")
    refused(run("--frobnicate", backing, mnt), r"unknown option '--frobnicate'")
    assert not os.path.ismount(mnt)


def test_malformed_values(dirs):
    _, backing, mnt, _ = dirs
    refused(run("-o", "max_read=12Q", backing, mnt), r"bad value '12Q' for max_read")
    refused(run("-o", "attr_timeout=-1", backing, mnt), r"bad value '-1' for attr_timeout")
    refused(run("-o", "max_threads=0", backing, mnt), r"max_threads")
    assert not os.path.ismount(mnt)


def test_missing_backing(dirs):
    base, _, mnt, _ = dirs
    refused(run(os.path.join(base, "nope"), mnt), r"BACKING .*nope.*No such file")


def test_backing_not_a_directory(dirs):
    base, _, mnt, _ = dirs
    f = os.path.join(base, "file")
    open(f, "w").close()
    refused(run(f, mnt), r"BACKING .* is not a directory")


def test_missing_mountpoint_operand(dirs):
    _, backing, _, _ = dirs
    refused(run(backing), r"missing MOUNTPOINT")


def test_mountpoint_inside_backing(dirs):
    _, backing, _, _ = dirs
    inner = os.path.join(backing, "sub")
    os.mkdir(inner)
    refused(run(backing, inner), r"MOUNTPOINT .* lies inside BACKING")
    assert not os.path.ismount(inner)


def test_backing_inside_mountpoint(dirs):
    base, _, _, _ = dirs
    inner = os.path.join(base, "inner")
    os.mkdir(inner)
    refused(run(inner, base), r"BACKING .* lies inside MOUNTPOINT")


def test_mountpoint_in_use(mount, dirs):
    base, _, mnt, _ = dirs
    other = os.path.join(base, "other")
    os.mkdir(other)
    refused(run(other, mnt), r"MOUNTPOINT .* is already a mount point")
    # The existing mount still works.
    with open(os.path.join(mnt, "still-there"), "w") as f:
        f.write("x")


def bdi_read_ahead_kb(path):
    dev = os.stat(path).st_dev
    with open(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb") as f:
        return int(f.read())


def test_read_ahead_is_set_on_the_mount(dirs):
    """The kernel reads ahead 4M on the mount by default (it would keep
    128K); read_ahead= changes it, 0 leaves the kernel's default, and a
    value past 1G is refused."""
    _, backing, mnt, _ = dirs
    for opts, want in (((), 4096), (("read_ahead=1M",), 1024), (("read_ahead=0",), 128)):
        m = scfs.Mount(backing, mnt, options=("cache=none", *opts))
        try:
            assert bdi_read_ahead_kb(mnt) == want
        finally:
            m.unmount()
    refused(run("-o", "read_ahead=2G", backing, mnt), r"read_ahead=2G is too large")


def fuse_connection_setting(path, name):
    """A setting of the FUSE connection behind the mount at path, from
    the fusectl file system (mounted for the read if it is not)."""
    ctl = "/sys/fs/fuse/connections"
    mounted_here = not os.path.ismount(ctl)
    if mounted_here:
        subprocess.run(["mount", "-t", "fusectl", "none", ctl], check=True)
    try:
        dev = os.stat(path).st_dev
        with open(os.path.join(ctl, str(os.minor(dev) | os.major(dev) << 20), name)) as f:
            return int(f.read())
    finally:
        if mounted_here:
            subprocess.run(["umount", ctl], check=True)


def test_max_background_is_set_on_the_connection(dirs):
    """The kernel queues 32 asynchronous reads for the daemon by default
    (its own default is 12), or what max_background= says, and holds back
    read-ahead past three quarters of it; 0 and past 1024 are refused."""
    _, backing, mnt, _ = dirs
    for opts, want in (((), 32), (("max_background=40",), 40), (("max_background=1",), 1)):
        m = scfs.Mount(backing, mnt, options=("cache=none", *opts))
        try:
            assert fuse_connection_setting(mnt, "max_background") == want
            assert fuse_connection_setting(mnt, "congestion_threshold") == max(1, want * 3 // 4)
        finally:
            m.unmount()
    refused(run("-o", "max_background=0", backing, mnt), r"max_background")
    refused(run("-o", "max_background=5000", backing, mnt), r"max_background")


def test_mount_through_mount_fuse3(dirs):
    """mount -t fuse.swapcachefs, as fstab does, goes through mount.fuse3."""
    _, backing, mnt, _ = dirs
    with open(os.path.join(backing, "hello"), "w") as f:
        f.write("from fstab\n")
    # mount(8) runs helpers with a fixed PATH: the program must be
    # installed.  Put this build there for the test unless one already is.
    installed = "/usr/local/sbin/swapcachefs"
    ours = not os.path.lexists(installed)
    if ours:
        os.makedirs(os.path.dirname(installed), exist_ok=True)
        os.symlink(os.path.abspath(scfs.BINARY), installed)
    elif os.path.realpath(installed) != os.path.realpath(scfs.BINARY):
        pytest.skip(f"{installed} is another build; not replacing it")
    try:
        r = subprocess.run(["mount", "-t", "fuse.swapcachefs", backing, mnt,
                            "-o", f"allow_other,nosuid,nodev,_netdev,cache={mnt}.swc,cache_size=16M"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        scfs.wait_for(lambda: os.path.ismount(mnt), what="mount")
        assert open(os.path.join(mnt, "hello")).read() == "from fstab\n"
        line = [l for l in open("/proc/mounts") if f" {mnt} " in l][0]
        assert line.split()[2] == "fuse.swapcachefs"
        assert "nosuid" in line.split()[3]
        subprocess.run(["umount", mnt], check=True)
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["umount", "-l", mnt])
        if ours:
            os.unlink(installed)


def test_daemonizes_without_f_and_serves_single_threaded(dirs):
    """Without -f the command returns once the mount is up; -s serves every
    request from one thread."""
    _, backing, mnt, _ = dirs
    with open(os.path.join(backing, "f"), "w") as f:
        f.write("served\n")
    r = run("-s", "-o", f"allow_other,cache={mnt}.swc,cache_size=16M", backing, mnt)
    try:
        assert r.returncode == 0, r.stderr
        assert os.path.ismount(mnt)
        assert open(os.path.join(mnt, "f")).read() == "served\n"
        os.mkdir(os.path.join(mnt, "d"))
        assert os.path.isdir(os.path.join(backing, "d"))
        daemons = subprocess.run(["pgrep", "-f", f"swapcachefs -s -o allow_other.* {backing}"],
                                 capture_output=True, text=True).stdout.split()
        assert len(daemons) == 1
        # One thread serves FUSE; the others are the cache's scanner, its
        # read-ahead fetchers, the prefetcher, those that confirm a walk's
        # directories ahead of it (walkahead.h), the watchdog of request
        # deadlines and, once the scanner has written, the SSD's syncer.
        names = sorted(open(f"/proc/{daemons[0]}/task/{t}/comm").read().strip()
                       for t in os.listdir(f"/proc/{daemons[0]}/task"))
        assert names in (["prefetch"] + ["readahead"] * 4 + sync
                         + ["swapcached", "swapcachefs"] + ["walkahead"] * 8
                         + ["watchdog"]
                         for sync in ([], ["ssd-sync"])), names
    finally:
        subprocess.run(["fusermount3", "-u", mnt])
    scfs.wait_for(lambda: subprocess.run(
        ["pgrep", "-f", f"swapcachefs -s -o allow_other.* {backing}"],
        capture_output=True).returncode != 0, what="daemon exit")
    # The background daemon (a forked child) committed what it cached and
    # left the cache clean: its own I/O rings, not those its parent made
    # before the fork, wrote the last records (the data of f, the root's
    # metadata record) and the flag.
    audit = subprocess.run([os.environ["STORE_TOOL"], "audit", f"{mnt}.swc"],
                           capture_output=True, text=True, timeout=60)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert re.search(r"loaded [2-9]\d* dropped 0 clean 1", audit.stdout), audit.stdout
