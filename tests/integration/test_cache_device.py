# SPDX-License-Identifier: GPL-2.0-or-later
"""The cache device: its default place, refusal of devices that hold
something else (left untouched), a real loop device, reloads in a new
process, and kill -9 of a writer at random moments."""
import hashlib
import os
import random
import re
import signal
import subprocess
import time

import pytest

import scfs

STORE_TOOL = os.environ.get("STORE_TOOL") or os.path.join(
    os.path.dirname(scfs.BINARY), "..", "..", "tests", "store_tool")
CRASH_CYCLES = int(os.environ.get("SCFS_CRASH_CYCLES", "30"))


def run(*args):
    return subprocess.run([scfs.BINARY, *args], capture_output=True, text=True, timeout=60)


def tool(*args, check=True):
    r = subprocess.run([STORE_TOOL, *map(str, args)], capture_output=True, text=True,
                       timeout=300)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def tally(out):
    m = re.search(r"right (\d+) miss (\d+) wrong (\d+) clusters (\d+)", out)
    assert m, out
    return dict(zip(("right", "miss", "wrong", "clusters"), map(int, m.groups())))


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def refused(r, *patterns):
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for p in patterns:
        assert re.search(p, lines[0]), lines[0]


def make_file(path, size):
    with open(path, "wb") as f:
        f.truncate(size)


@pytest.fixture
def loopdev(dirs):
    base = dirs[0]
    image = os.path.join(base, "loop.img")
    make_file(image, 64 << 20)
    dev = subprocess.run(["losetup", "-f", "--show", image], capture_output=True,
                         text=True, check=True).stdout.strip()
    yield dev, image
    subprocess.run(["losetup", "-d", dev])


def systemd_escape_path(path):
    out = []
    for i, c in enumerate(path.strip("/")):
        if c == "/":
            out.append("-")
        elif c.isascii() and (c.isalnum() or c == "_" or (c == "." and i > 0)):
            out.append(c)
        else:
            out.append("\\x%02x" % ord(c))
    return "".join(out) or "root"


def test_default_cache_file_is_documented_place_and_size(dirs):
    _, backing, mnt, _ = dirs
    expected = "/var/cache/swapcachefs/" + systemd_escape_path(backing) + ".swc"
    assert not os.path.exists(expected)
    m = scfs.Mount(backing, mnt, default_cache=True)
    m.unmount()
    try:
        assert os.path.getsize(expected) == 1 << 30
        assert "new, 1024 MiB" in m.log()
    finally:
        os.unlink(expected)


def test_cache_none_makes_no_file(dirs):
    base, backing, mnt, _ = dirs
    before = set(os.listdir("/var/cache/swapcachefs")) if os.path.isdir(
        "/var/cache/swapcachefs") else set()
    m = scfs.Mount(backing, mnt, options=("allow_other", "cache=none"))
    with open(os.path.join(mnt, "f"), "w") as f:
        f.write("works without a cache")
    m.unmount()
    after = set(os.listdir("/var/cache/swapcachefs")) if os.path.isdir(
        "/var/cache/swapcachefs") else set()
    assert before == after


@pytest.mark.parametrize("kind", ["ext4", "swap", "random", "raid-at-end",
                                  "data-past-1MiB"])
def test_foreign_cache_file_refused_untouched(dirs, kind):
    """Anything on a device or file is refused unless -o format: what
    libblkid names anywhere on it (Intel RAID metadata lives in a device's
    last sectors), any byte in the first MiB, and for a file any data
    past it (once formatted over when the first MiB was zero)."""
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, f"{kind}.img")
    make_file(cache, 32 << 20)
    if kind == "ext4":
        subprocess.run(["mkfs.ext4", "-q", "-F", cache], check=True)
        what = r"libblkid names 'ext4'"
    elif kind == "swap":
        subprocess.run(["mkswap", cache], check=True, capture_output=True)
        what = r"libblkid names 'swap'"
    elif kind == "raid-at-end":
        with open(cache, "r+b") as f:
            f.seek((32 << 20) - 1024)
            f.write(b"Intel Raid ISM Cfg Sig. 1.0.00\0\0")
        what = r"libblkid names 'isw_raid_member'"
    elif kind == "data-past-1MiB":
        with open(cache, "r+b") as f:
            f.seek(20 << 20)
            f.write(b"x")
        what = r"data past its first MiB"
    else:
        with open(cache, "r+b") as f:
            f.seek(300000)
            f.write(os.urandom(4096))
        what = r"unrecognised data"
    before = digest(cache)
    refused(run("-f", "-o", f"cache={cache}", backing, mnt), what, r"-o format")
    assert not os.path.ismount(mnt)
    assert digest(cache) == before
    # With format it is taken, and a remount loads it.
    m = scfs.Mount(backing, mnt, options=("allow_other", f"cache={cache}", "format"))
    m.unmount()
    assert "formatted as asked" in m.log()
    m = scfs.Mount(backing, mnt, options=("allow_other", f"cache={cache}"))
    m.unmount()
    assert "clusters loaded" in m.log()


def test_cache_file_is_made_owner_only(dirs):
    """A cache file made under umask 022 (truncate gives 0644) would let
    any user read the bytes of a root-only file read through the mount."""
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "shared.img")
    make_file(cache, 32 << 20)
    os.chmod(cache, 0o644)
    with open(os.path.join(backing, "secret"), "w") as f:
        f.write("root only\n")
    os.chmod(os.path.join(backing, "secret"), 0o600)
    m = scfs.Mount(backing, mnt, options=("allow_other", f"cache={cache}"))
    try:
        assert os.stat(cache).st_mode & 0o777 == 0o600
        with open(os.path.join(mnt, "secret")) as f:
            assert f.read() == "root only\n"
    finally:
        m.unmount()
    assert os.stat(cache).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("inside", ["backing", "mountpoint"])
def test_cache_inside_backing_or_mountpoint_refused(dirs, inside):
    base, backing, mnt, _ = dirs
    where = backing if inside == "backing" else mnt
    cache = os.path.join(where, "sub", "..", "c.swc")
    os.mkdir(os.path.join(where, "sub"))
    refused(run("-f", "-o", f"cache={cache},cache_size=32M", backing, mnt),
            rf"lies inside {inside.upper()}")
    assert not os.path.exists(os.path.join(where, "c.swc"))
    assert not os.path.ismount(mnt)


def test_bad_cache_devices(dirs):
    base, backing, mnt, _ = dirs
    refused(run("-f", "-o", f"cache={base}/tiny.swc,cache_size=1M", backing, mnt),
            r"too small")
    assert not os.path.exists(f"{base}/tiny.swc")
    refused(run("-f", "-o", f"cache={base}", backing, mnt), r"is a directory")
    refused(run("-f", "-o", "cache=/dev/null", backing, mnt),
            r"neither a regular file nor a block device")
    refused(run("-f", "-o", f"cache={base}/x.swc,cache_size=12Q", backing, mnt),
            r"bad value '12Q' for cache_size")
    refused(run("-f", "-o", f"cache={base}/nodir/x.swc", backing, mnt), r"x.swc")
    # A cache made at one size is not silently recreated at another.
    m = scfs.Mount(backing, mnt, options=("allow_other", f"cache={base}/sized.swc",
                                          "cache_size=16M"))
    m.unmount()
    refused(run("-f", "-o", f"cache={base}/sized.swc,cache_size=32M", backing, mnt),
            r"holds a 16777216-byte cache", r"-o format")
    # A cache file its filesystem has no room for is refused at once, not
    # made sparse to fail its writes later.
    small = os.path.join(base, "small")
    os.mkdir(small)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20M", "tmpfs", small], check=True)
    try:
        refused(run("-f", "-o", f"cache={small}/c.swc,cache_size=64M", backing, mnt),
                r"needs 67108864 bytes but its filesystem has only 2\d{7} free",
                r"smaller cache_size=")
        assert os.listdir(small) == []
    finally:
        subprocess.run(["umount", small])


def test_cache_in_use_by_another_mount(dirs):
    base, backing, mnt, _ = dirs
    other = os.path.join(base, "mnt2")
    os.mkdir(other)
    m = scfs.Mount(backing, mnt)
    try:
        refused(run("-f", "-o", f"cache={m.cache}", backing, other),
                r"in use by another swapcachefs mount")
    finally:
        m.unmount()


def test_loop_device_store_reload_and_refusals(dirs, loopdev):
    base, backing, mnt, _ = dirs
    dev, image = loopdev
    # An all-zero device is formatted on first use; data survives reload
    # in new processes.
    out = tool("fill", dev, 0, 7000, 400).stdout
    assert "stored 400" in out
    t = tally(tool("verify", dev, 7000, 400).stdout)
    assert t == {"right": 400, "miss": 0, "wrong": 0, "clusters": 400}
    # A mount uses the device; a second user of it is refused.
    m = scfs.Mount(backing, mnt, options=("allow_other", f"cache={dev}"))
    try:
        assert "400 clusters loaded" in m.log()
        refused(run("-f", "-o", f"cache={dev}", backing, os.path.join(base, "ref")),
                r"in use")
    finally:
        m.unmount()
    # An ext4 filesystem on the device is refused and left as it was.
    subprocess.run(["mkfs.ext4", "-q", "-F", dev], check=True)
    before = digest(dev)
    refused(run("-f", "-o", f"cache={dev}", backing, mnt), r"'ext4'", r"-o format")
    assert digest(dev) == before
    # A read-only device cannot be a cache.
    ro = subprocess.run(["losetup", "-f", "--show", "-r", image], capture_output=True,
                        text=True, check=True).stdout.strip()
    try:
        refused(run("-f", "-o", f"cache={ro}", backing, mnt), r"cannot open cache .* for writing")
    finally:
        subprocess.run(["losetup", "-d", ro])


@pytest.mark.parametrize("where", ["file", "loop"])
def test_kill_9_mid_write_never_gives_wrong_bytes(dirs, loopdev, where):
    base = dirs[0]
    cache = loopdev[0] if where == "loop" else os.path.join(base, "crash.swc")
    if where == "file":
        tool("fill", cache, "48M", 1, 1)
    log = os.path.join(base, "validators.log")
    rng = random.Random(2026)
    totals = {"right": 0, "miss": 0, "wrong": 0}
    for cycle in range(CRASH_CYCLES):
        p = subprocess.Popen([STORE_TOOL, "churn", cache, str(cycle + 1), log],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.05, 0.4))
        p.send_signal(signal.SIGKILL)
        p.wait()
        r = tool("check", cache, log, check=False)
        t = tally(r.stdout + r.stderr)
        assert r.returncode == 0 and t["wrong"] == 0, r.stdout + r.stderr
        for k in totals:
            totals[k] += t[k]
    print(f"{where}: {CRASH_CYCLES} kill -9 cycles: {totals}")
    assert totals["right"] > 0
