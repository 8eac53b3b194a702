#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What the SSD spends on small files (issue 31), two builds side by side
in one run: the daemon under test and a baseline built from another
commit (--baseline REV, built here once and kept), each with default
options on a cache of its own.

Trees, on the local disk (the layout on the SSD is what is measured, not
the network):
  source   linux-source-6.1 as Debian ships it (about 78,600 files,
           1.3 GB; /usr/src/linux-source-6.1.tar.xz)
  large    8 files of 64 MiB of random bytes
  4k       --small-files files of exactly 4 KiB, on a cache of 1 GiB

For source and large the cache is big enough for either layout to hold
all of it (8 GiB); the tree is read through the mount twice (the second
pass brings back what the RAM pool let go before the scanner wrote it)
and the scanner left to finish.  For 4k the cache is 1 GiB and the
cleaner keeps it below maxswappct: what it holds then is what counts.

Figures, per tree and build:
  data       bytes of the files the SSD holds (user.swapcache.residency:
             whole files count their size, files held in part their pages)
  files      files held whole
  device     bytes of the device those take: slots in use with their
             trailers and index records (ssd_used_bytes x 68 KiB + 64 /
             64 KiB), per data byte
  written    bytes the cache device (a loop device over a sparse file)
             took from the first mount on, per data byte: data, trailers,
             index and superblocks, all of it
  per GiB    files held per GiB of the device they take
  warm read  every file read after a remount with norefill (so from the
             SSD, not the RAM tier) and drop_caches, MB/s, median (min-max)
             of --reps, builds taken in turns

Usage: sudo bench/smallfiles.py [--baseline REV] [--reps 3]
           [--small-files 200000] [--trees source,large,4k]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import time

from benchlib import age, drop_caches, publish, random_file, spread, xattr_fields  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import scfs  # noqa: E402

TARBALL = "/usr/src/linux-source-6.1.tar.xz"
WORK = "/var/tmp/swapcachefs-smallfiles"
SLOT = 64 << 10
SLOT_ON_DEVICE = SLOT + 4096 + 64  # the slot, its trailer, its record
BIG_CACHE = "8G"


def baseline_daemon(rev):
    """The daemon of commit rev, built (debugoptimized) in a worktree
    under WORK the first time."""
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", rev + "^{commit}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    tree = os.path.join(WORK, "baseline-" + commit[:12])
    exe = os.path.join(tree, "build", "src", "daemon", "swapcachefs")
    if not os.path.exists(exe):
        shutil.rmtree(tree, ignore_errors=True)
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-f", tree, commit],
                       check=True, capture_output=True)
        subprocess.run(["meson", "setup", "build", "--buildtype=debugoptimized"], cwd=tree,
                       check=True, capture_output=True)
        subprocess.run(["ninja", "-C", "build", "src/daemon/swapcachefs"], cwd=tree,
                       check=True, capture_output=True)
    return commit[:12], exe


def make_trees(names, small_files):
    """The trees asked for under WORK/trees, made once: name -> path."""
    trees = {}
    for name in names:
        path = os.path.join(WORK, "trees", f"{name}-{small_files}" if name == "4k" else name)
        trees[name] = path
        if os.path.exists(path + ".done"):
            continue
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        if name == "source":
            if not os.path.exists(TARBALL):
                sys.exit(f"bench/smallfiles.py: needs {TARBALL} "
                         "(apt-get install linux-source-6.1)")
            with tarfile.open(TARBALL) as t:
                t.extractall(path)
        elif name == "large":
            for i in range(8):
                random_file(os.path.join(path, f"large{i}"), 64)
        else:
            page = os.urandom(4096)
            for i in range(small_files):
                d = os.path.join(path, f"d{i // 1000:03}")
                if i % 1000 == 0:
                    os.mkdir(d)
                with open(os.path.join(d, f"f{i:06}"), "wb") as f:
                    f.write(page[i % 4096:] + page[:i % 4096])  # each file its own bytes
        # Old enough to be cached at once (swapcachefs(8), CONSISTENCY).
        age(path, 3600)
        open(path + ".done", "w").close()
    return trees


class Build:
    """One daemon with a cache of its own on a loop device."""

    def __init__(self, name, exe):
        self.name, self.exe = name, exe
        self.loop = self.m = None

    def new_cache(self, tree, size):
        self.drop_cache()
        self.file = os.path.join(WORK, f"cache-{self.name}-{tree}")
        with open(self.file, "wb") as f:
            f.truncate(0)
        os.truncate(self.file, parse_size(size))
        self.loop = subprocess.run(["losetup", "-f", "--show", self.file], check=True,
                                   capture_output=True, text=True).stdout.strip()
        self.sectors0 = self.sectors_written()

    def sectors_written(self):
        with open(f"/sys/block/{os.path.basename(self.loop)}/stat") as f:
            return int(f.read().split()[6])

    def written(self):
        return (self.sectors_written() - self.sectors0) * 512

    def mount(self, backing, *extra):
        self.mnt = os.path.join(WORK, "mnt-" + self.name)
        os.makedirs(self.mnt, exist_ok=True)
        saved, scfs.BINARY = scfs.BINARY, self.exe
        try:
            self.m = scfs.Mount(backing, self.mnt, options=("allow_other", f"cache={self.loop}",
                                                             *extra))
        finally:
            scfs.BINARY = saved

    def unmount(self):
        if self.m:
            self.m.unmount()
        self.m = None

    def stats(self):
        return xattr_fields(self.mnt)

    def settle(self):
        """Until the scanner has written nothing more for three seconds
        and every written cluster is durable."""
        last, quiet = None, 0
        while quiet < 3:
            s = self.stats()
            now = (s["write_count"], s["clusters_written"])
            quiet = quiet + 1 if now == last and s["clusters_unsynced"] == "0" else 0
            last = now
            time.sleep(1)

    def drop_cache(self):
        self.unmount()
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop], check=True)
            os.unlink(self.file)
        self.loop = None


def parse_size(s):
    return int(s[:-1]) << {"K": 10, "M": 20, "G": 30}[s[-1]]


def files_of(root):
    return [os.path.join(d, n) for d, _, names in os.walk(root) for n in names
            if os.path.isfile(os.path.join(d, n)) and not os.path.islink(os.path.join(d, n))]


def read_all(root):
    """Every file read once (cat, many to a process), seconds."""
    t = time.perf_counter()
    subprocess.run("find . -type f -print0 | xargs -0 -P2 -n 512 cat > /dev/null",
                   shell=True, cwd=root, check=True)
    return time.perf_counter() - t


def held(mnt, rel_files):
    """(data bytes, files held whole) of the SSD, from the residency of
    every file."""
    data = whole = 0
    for rel in rel_files:
        r = xattr_fields(os.path.join(mnt, rel), "user.swapcache.residency")
        size, ssd = int(r["size"]), int(r["ssd_bytes"])
        pages = (size + 4095) // 4096 * 4096
        data += size if ssd >= pages else ssd
        whole += ssd >= pages
    return data, whole


def cache_tree(b, tree, path, rel_files, size):
    """Fill a new cache from tree; its figures."""
    b.new_cache(tree, size)
    b.mount(path)
    for _ in range(2):
        drop_caches()
        read_all(b.mnt)
        b.settle()
    st = b.stats()
    data, whole = held(b.mnt, rel_files)
    b.unmount()
    device = int(st["ssd_used_bytes"]) // SLOT * SLOT_ON_DEVICE
    return {"data": data, "files": whole, "device": device, "written": b.written()}


def warm_read(b, path, total_bytes):
    b.mount(path, "norefill")
    drop_caches()
    try:
        return total_bytes / read_all(b.mnt) / 1e6
    finally:
        b.unmount()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default="9074e09",
                    help="the commit to compare with (default: the last one before packing)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--small-files", type=int, default=200000)
    ap.add_argument("--trees", default="source,large,4k")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/smallfiles.py: run as root (mounts, loop devices, drop_caches)")
    os.makedirs(WORK, exist_ok=True)
    names = args.trees.split(",")
    base_commit, base_exe = baseline_daemon(args.baseline)
    builds = [Build("this", scfs.BINARY), Build("baseline", base_exe)]
    trees = make_trees(names, args.small_files)
    head = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h"],
                          capture_output=True, text=True).stdout.strip()
    lines = [f"bench/smallfiles.py: this build ({head}, {scfs.BINARY}) against "
             f"{base_commit}, default options", ""]
    hdr = (f"{'tree':7} {'build':9} {'files':>8} {'held':>8} {'data MB':>9} "
           f"{'device/data':>11} {'written/data':>12} {'files/GiB':>10} {'warm MB/s':>22}")
    lines.append(hdr)
    ratios = {}
    try:
        for name in names:
            path = trees[name]
            rel = [os.path.relpath(p, path) for p in files_of(path)]
            total = sum(os.path.getsize(os.path.join(path, r)) for r in rel)
            size = "1G" if name == "4k" else BIG_CACHE
            figs = {b.name: cache_tree(b, name, path, rel, size) for b in builds}
            speeds = {b.name: [] for b in builds}
            for rep in range(args.reps):
                for b in builds if rep % 2 == 0 else reversed(builds):
                    speeds[b.name].append(warm_read(b, path, total))
            for b in builds:
                f = figs[b.name]
                med, text = spread(speeds[b.name], 1)
                per_gib = f["files"] / (f["device"] / 2**30) if f["device"] else 0
                lines.append(f"{name:7} {b.name:9} {len(rel):8} {f['files']:8} "
                             f"{f['data'] / 1e6:9.1f} {f['device'] / max(f['data'], 1):11.3f} "
                             f"{f['written'] / max(f['data'], 1):12.3f} {per_gib:10.0f} "
                             f"{text:>22}")
                ratios[(name, b.name)] = med
                b.drop_cache()
            lines.append(f"{'':7} warm read, this / baseline: "
                         f"{ratios[(name, 'this')] / ratios[(name, 'baseline')]:.2f}")
    finally:
        for b in builds:
            b.drop_cache()
    publish(lines, os.path.join(ROOT, "build", "bench-smallfiles.txt"))


if __name__ == "__main__":
    main()
