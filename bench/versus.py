#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Two builds of swapcachefs side by side, in one run: the read workloads
of network.py over the same sshfs mount (an sshd on 127.0.0.1 the
benchmark starts and stops), each build mounted with the default options,
the two taking turns in every repetition.  For a change that must not
cost speed (a refactor): ratios near 1.00 are what it should show.

Workloads on one file (512 MiB by default), each build with its own cache:
  cold sequential read      the cache empty
  warm sequential read      after drop_caches, and after a remount
  4 KiB random reads        QD1 and QD32 on the cached file (after
                            drop_caches), buffered and O_DIRECT
Ratio = after / before; higher is better for the after build.

Usage: sudo bench/versus.py BEFORE AFTER [--size-mib 512] [--reps 3]
  BEFORE, AFTER: swapcachefs binaries (build/src/daemon/swapcachefs of
  two trees)
"""
import argparse
import os
import subprocess
import sys

from benchlib import publish, random_file, scratch_dirs, spread  # noqa: E402
from network import (peak_rss_mib, rand_iops, seq_read_mib_s,  # noqa: E402
                     wait_quiet)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import scfs  # noqa: E402


def mount(binary, backing, mnt, cache, size_mib):
    scfs.BINARY = binary  # the helpers mount what this names
    return scfs.Mount(backing, mnt, options=(
        f"cache={cache}", f"cache_size={2 * size_mib + 64}M"))


def one_build(add, name, binary, backing, mnt, cache, args):
    big = os.path.join(mnt, "big")
    m = mount(binary, backing, mnt, cache, args.size_mib)
    add(("cold seq read (MiB/s)", name), seq_read_mib_s(big))
    wait_quiet(mnt, args.size_mib << 20)
    add(("warm seq read, drop_caches (MiB/s)", name), seq_read_mib_s(big))
    m.unmount()
    m = mount(binary, backing, mnt, cache, args.size_mib)
    add(("warm seq read, remount (MiB/s)", name), seq_read_mib_s(big))
    for direct in (False, True):
        for qd in (1, 32):
            what = f"4K rand read QD{qd}{' O_DIRECT' if direct else ''} (IOPS)"
            add((what, name), rand_iops(big, qd, args.seconds, direct))
    add(("daemon peak RSS (MiB)", name), peak_rss_mib(m.proc.pid))
    m.unmount()
    os.unlink(cache)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-versus.txt"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/versus.py: needs root")
    for b in (args.before, args.after):
        if not os.access(b, os.X_OK):
            sys.exit(f"bench/versus.py: {b}: not an executable swapcachefs")
    base, (remote, backing, mnt) = scratch_dirs(
        "scfs-vs-", ("server", "sshfs", "scfs"))
    random_file(os.path.join(remote, "big"), args.size_mib)
    sshd = scfs.Sshd(base)
    results = {}

    def add(key, value):
        results.setdefault(key, []).append(value)

    builds = [("before", args.before), ("after", args.after)]
    try:
        scfs.sshfs_mount(sshd, remote, backing)
        for rep in range(args.reps):
            # Each build goes first in every other repetition.
            for name, binary in builds if rep % 2 == 0 else builds[::-1]:
                one_build(add, name, binary, backing, mnt,
                          os.path.join(base, f"{name}.swc"), args)
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-uz", mnt])
        if os.path.ismount(backing):
            subprocess.run(["fusermount3", "-uz", backing])
        sshd.stop()
        subprocess.run(["rm", "-rf", base])

    lines = [f"swapcachefs after / before over sshfs (127.0.0.1), default options, "
             f"{args.size_mib} MiB file, {args.reps} reps, medians (min-max)",
             f"  before: {args.before}", f"  after:  {args.after}",
             f"{'workload':38} {'before':>22} {'after':>22} {'ratio':>6}"]
    for what in dict.fromkeys(k[0] for k in results):
        higher = "RSS" not in what
        digits = 0 if higher else 1
        mb, b = spread(results[(what, "before")], digits)
        ma, a = spread(results[(what, "after")], digits)
        lines.append(f"{what:38} {b:>22} {a:>22} {ma / mb:6.2f}")
    lines.append("ratio = after / before (for RSS lower is better)")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
