#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Metadata workloads over an 18,000-file tree on an sshd on 127.0.0.1,
in one run: swapcachefs over sshfs after a remount within meta_timeout
(its metadata comes from the SSD), against sshfs alone (its own caches,
freshly mounted) and rclone mount --vfs-cache-mode full after its remount
(its directory cache is RAM only).

Workloads, each after a fresh mount of every system and drop_caches:
  find       find TREE
  stat       lstat of every path
  ls -lR     ls -lR TREE
Targets (swapcachefs(8), issue 5): at least 10 times faster than sshfs
alone, at least 5 times faster than rclone.

Usage: sudo bench/metadata.py [--reps 3] [--dirs 12x15] [--files 100]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from benchlib import age, drop_caches, publish, spread, xattr_fields  # noqa: E402
from network import Rclone  # noqa: E402
from slowlink import SlowLink  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import scfs  # noqa: E402


def make_tree(root, top, sub, files):
    """top x sub directories of files small files each; the paths."""
    paths = []
    for i in range(top):
        for j in range(sub):
            d = os.path.join(root, f"t{i:02}", f"s{j:02}")
            os.makedirs(d)
            paths.append(d)
            for k in range(files):
                p = os.path.join(d, f"f{k:03}.c")
                with open(p, "wb") as f:
                    f.write(b"x" * (k * 7 % 500))
                paths.append(p)
    return [os.path.relpath(p, root) for p in paths]


def timed(fn):
    drop_caches()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def workloads(tree, paths):
    def find():
        subprocess.run(["find", tree], stdout=subprocess.DEVNULL, check=True)

    def stat_all():
        for p in paths:
            os.lstat(os.path.join(tree, p))

    def ls_lr():
        subprocess.run(["ls", "-lR", tree], stdout=subprocess.DEVNULL, check=True)
    return {"find": find, "stat": stat_all, "ls -lR": ls_lr}


def sshfs_defaults(sshd, remote, local, extra=""):
    """sshfs as a user would mount it: its own attribute and dir caches
    (and the options in extra, ",opt,...")."""
    subprocess.run(["sshfs", f"root@127.0.0.1:{remote}", local, "-p", str(sshd.port),
                    "-o", f"IdentityFile={sshd.key},StrictHostKeyChecking=no,"
                          "UserKnownHostsFile=/dev/null,BatchMode=yes" + extra],
                   check=True, capture_output=True, timeout=30)
    scfs.wait_for(lambda: os.path.ismount(local), what="sshfs")


def stats(mnt):
    return xattr_fields(mnt)


def measure(server, remote, base, paths, reps):
    """The three systems on one link: ({(workload, system): [seconds]},
    swapcachefs's metadata counters after its remounts)."""
    backing, mnt, rmnt, plain = (os.path.join(base, d) for d in
                                 ("sshfs", "scfs", "rclone", "plain"))
    for d in (backing, mnt, rmnt, plain):
        os.makedirs(d, exist_ok=True)
    cache = os.path.join(base, "c.swc")
    results, counters = {}, {}
    # Default options: the records are trusted for meta_timeout (60 s)
    # from BACKING's word, so each measurement follows its own walk.
    options = (f"cache={cache}", "cache_size=256M")
    r = Rclone(server, remote, rmnt, os.path.join(base, "rclone-cache"))

    def walk_and_remount():
        m = scfs.Mount(backing, mnt, options=options)
        for fn in workloads(mnt, paths).values():
            fn()
        scfs.wait_for(lambda: int(stats(mnt)["meta_clusters_written"]) > 0,
                      timeout=60, what="metadata on the SSD")
        m.unmount()
        return scfs.Mount(backing, mnt, options=options)
    try:
        scfs.sshfs_mount(server, remote, backing)
        # Warm rclone once: walk the tree, unmount.
        r.mount()
        for fn in workloads(rmnt, paths).values():
            fn()
        r.unmount()
        for rep in range(reps):
            for name in workloads(mnt, paths):
                m = walk_and_remount()
                results.setdefault((name, "swapcachefs"), []).append(
                    timed(workloads(mnt, paths)[name]))
                st = stats(mnt)
                for k in ("meta_hits", "meta_misses", "meta_loads"):
                    counters[k] = counters.get(k, 0) + int(st[k])
                m.unmount()
                sshfs_defaults(server, remote, plain)
                results.setdefault((name, "sshfs"), []).append(
                    timed(workloads(plain, paths)[name]))
                scfs.sshfs_unmount(plain)
                r.mount()
                results.setdefault((name, "rclone"), []).append(
                    timed(workloads(rmnt, paths)[name]))
                r.unmount()
    finally:
        for p in (mnt, rmnt, plain, backing):
            if os.path.ismount(p):
                subprocess.run(["fusermount3", "-uz", p])
        if os.path.exists(cache):
            os.unlink(cache)
        subprocess.run(["rm", "-rf", os.path.join(base, "rclone-cache")])
    return results, counters


def table(title, results, counters, reps):
    lines = [f"{title}, {reps} reps, seconds, medians (min-max); "
             f"ratio = other / swapcachefs (higher is better)",
             f"swapcachefs after remount: {counters.get('meta_hits', 0)} metadata hits, "
             f"{counters.get('meta_misses', 0)} misses, "
             f"{counters.get('meta_loads', 0)} records read back from the SSD",
             f"{'workload':8} {'swapcachefs':>20} {'sshfs':>20} {'ratio':>6} {'target':>6} "
             f"{'rclone':>20} {'ratio':>6} {'target':>6}"]
    for name in ("find", "stat", "ls -lR"):
        (ms, s), (mp, p), (mr, r) = (spread(results[(name, x)], 3)
                                     for x in ("swapcachefs", "sshfs", "rclone"))
        lines.append(f"{name:8} {s:>20} {p:>20} {mp / ms:6.1f} {'>=10':>6} "
                     f"{r:>20} {mr / ms:6.1f} {'>=5':>6}")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--slow-reps", type=int, default=1)
    ap.add_argument("--link", choices=("loopback", "slow", "both"), default="both")
    ap.add_argument("--rate", default="100mbit")
    ap.add_argument("--delay-ms", type=float, default=1.0)
    ap.add_argument("--dirs", default="12x15")
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-metadata.txt"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/metadata.py: needs root")
    top, sub = (int(x) for x in args.dirs.split("x"))
    base = tempfile.mkdtemp(prefix="scfs-meta-", dir="/var/tmp")
    remote = os.path.join(base, "server")
    os.mkdir(remote)
    paths = make_tree(remote, top, sub, args.files)
    age(remote)
    head = f"{len(paths)} paths ({top * sub} directories)"
    lines = []
    try:
        if args.link in ("loopback", "both"):
            os.makedirs(os.path.join(base, "loop"))
            sshd = scfs.Sshd(os.path.join(base, "loop"))
            try:
                res, cnt = measure(sshd, remote, os.path.join(base, "loop"), paths,
                                   args.reps)
            finally:
                sshd.stop()
            lines += table(f"metadata over sshfs to 127.0.0.1: {head}", res, cnt,
                           args.reps)
        if args.link in ("slow", "both"):
            os.makedirs(os.path.join(base, "slow"))
            link = SlowLink(os.path.join(base, "slow"), args.rate, args.delay_ms)
            try:
                res, cnt = measure(link, remote, os.path.join(base, "slow"), paths,
                                   args.slow_reps)
            finally:
                link.stop()
            lines += [""] + table(f"metadata over sshfs through {link.describe()}: "
                                  f"{head}", res, cnt, args.slow_reps)
    finally:
        subprocess.run(["rm", "-rf", base])
    publish(lines, args.out)


if __name__ == "__main__":
    main()
