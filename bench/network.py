#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""swapcachefs over sshfs against sshfs alone and rclone's VFS cache
(mount --vfs-cache-mode full over an sftp remote to the same sshd), in one
run, against an sshd on 127.0.0.1 that the benchmark starts and stops.

Workloads on one file (512 MiB by default):
  cold sequential read      swapcachefs (empty cache) / sshfs alone
  warm sequential read      swapcachefs / rclone, after drop_caches and
                            after a remount of each
  4 KiB random reads        QD1 and QD32 on the cached file (buffered;
                            after drop_caches), swapcachefs / rclone
Higher ratios are better for swapcachefs.

Usage: sudo bench/network.py [--size-mib 512] [--reps 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchlib import (drop_caches, publish, random_file,  # noqa: E402
                      rss_budget_mib, scratch_dirs, spread, xattr_fields)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import scfs  # noqa: E402  (shared helpers: sshd, sshfs, mounts)


def seq_read_mib_s(path):
    drop_caches()
    t = time.perf_counter()
    n = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            n += len(b)
    return n / (1 << 20) / (time.perf_counter() - t)


def rand_iops(path, qd, seconds, direct=False):
    drop_caches()
    out = subprocess.run(
        ["fio", "--name=r", f"--filename={path}", "--rw=randread", "--bs=4k",
         f"--direct={int(direct)}", "--ioengine=io_uring", f"--iodepth={qd}",
         f"--runtime={seconds}", "--time_based=1", "--output-format=json"],
        capture_output=True, text=True, check=True).stdout
    return json.loads(out[out.index("{"):])["jobs"][0]["read"]["iops"]


def cpu_seconds(pid):
    """User and system CPU time of process pid and all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def warm_remount_read(add, system, pid, path, size_mib):
    """The warm read after a remount, and the daemon's CPU time for it."""
    before = cpu_seconds(pid)
    add(("warm seq read, remount (MiB/s)", system), seq_read_mib_s(path))
    add(("daemon CPU s per GiB, warm read", system),
        (cpu_seconds(pid) - before) / (size_mib / 1024))


def random_reads(add, system, path, seconds):
    """The 4 KiB random-read rows of one system, at QD1 and QD32."""
    for qd in (1, 32):
        add((f"4K rand read QD{qd} (IOPS)", system), rand_iops(path, qd, seconds))


class Rclone:
    """rclone at its fastest for this job: no md5sum run over ssh for
    every file it downloads (disable_hashcheck), which would cost it a
    remote command per file."""

    def __init__(self, sshd, remote, mnt, cache_dir):
        self.args = ["rclone", "mount",
                     f":sftp,host=127.0.0.1,port={sshd.port},user=root,"
                     f"key_file={sshd.key},disable_hashcheck=true:{remote}", mnt,
                     "--vfs-cache-mode", "full", "--cache-dir", cache_dir,
                     "--vfs-cache-max-size", "10G", "--dir-cache-time", "1h"]
        self.mnt = mnt
        self.proc = None

    def mount(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        scfs.wait_for(lambda: os.path.ismount(self.mnt), timeout=30, what="rclone")

    def unmount(self):
        subprocess.run(["fusermount3", "-u", self.mnt])
        self.proc.wait(timeout=60)


def wait_quiet(mnt, at_least):
    last = -1
    for _ in range(600):
        w = int(xattr_fields(mnt)["write_count"])
        if w >= at_least and w == last:
            return
        last = w
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-network.txt"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/network.py: needs root")
    base, (remote, backing, mnt, rmnt) = scratch_dirs(
        "scfs-net-", ("server", "sshfs", "scfs", "rclone"))
    random_file(os.path.join(remote, "big"), args.size_mib)
    sshd = scfs.Sshd(base)
    results = {}

    def add(key, value):
        results.setdefault(key, []).append(value)

    try:
        scfs.sshfs_mount(sshd, remote, backing)
        for rep in range(args.reps):
            cache = os.path.join(base, f"c{rep}.swc")
            add(("cold seq read (MiB/s)", "sshfs"),
                seq_read_mib_s(os.path.join(backing, "big")))
            m = scfs.Mount(backing, mnt, options=(
                f"cache={cache}", f"cache_size={2 * args.size_mib + 64}M",
                "ram=256M"))
            add(("cold seq read (MiB/s)", "swapcachefs"),
                seq_read_mib_s(os.path.join(mnt, "big")))
            wait_quiet(mnt, args.size_mib << 20)
            add(("warm seq read, drop_caches (MiB/s)", "swapcachefs"),
                seq_read_mib_s(os.path.join(mnt, "big")))
            m.unmount()
            m = scfs.Mount(backing, mnt, options=(f"cache={cache}", "ram=256M"))
            warm_remount_read(add, "swapcachefs", m.proc.pid,
                              os.path.join(mnt, "big"), args.size_mib)
            random_reads(add, "swapcachefs", os.path.join(mnt, "big"), args.seconds)
            add(("daemon peak RSS (MiB)", "swapcachefs"), peak_rss_mib(m.proc.pid))
            m.unmount()
            os.unlink(cache)

            rdir = os.path.join(base, f"rclone-cache{rep}")
            r = Rclone(sshd, remote, rmnt, rdir)
            r.mount()
            seq_read_mib_s(os.path.join(rmnt, "big"))  # fills its cache
            time.sleep(2)
            add(("warm seq read, drop_caches (MiB/s)", "rclone"),
                seq_read_mib_s(os.path.join(rmnt, "big")))
            r.unmount()
            r.mount()
            warm_remount_read(add, "rclone", r.proc.pid, os.path.join(rmnt, "big"),
                              args.size_mib)
            random_reads(add, "rclone", os.path.join(rmnt, "big"), args.seconds)
            add(("daemon peak RSS (MiB)", "rclone"), peak_rss_mib(r.proc.pid))
            r.unmount()
            subprocess.run(["rm", "-rf", rdir])
    finally:
        for p in (mnt, rmnt, backing):
            if os.path.ismount(p):
                subprocess.run(["fusermount3", "-uz", p])
        sshd.stop()
        subprocess.run(["rm", "-rf", base])

    # (workload, compared with, target, higher is better)
    rows = [("cold seq read (MiB/s)", "sshfs", 0.95, True),
            ("warm seq read, drop_caches (MiB/s)", "rclone", 1.5, True),
            ("warm seq read, remount (MiB/s)", "rclone", 1.5, True),
            ("4K rand read QD1 (IOPS)", "rclone", 2.0, True),
            ("4K rand read QD32 (IOPS)", "rclone", 2.0, True),
            ("daemon CPU s per GiB, warm read", "rclone", 0.5, False),
            ("daemon peak RSS (MiB)", "rclone", None, False)]
    lines = [f"swapcachefs over sshfs (127.0.0.1), {args.size_mib} MiB file, "
             f"{args.reps} reps, medians (min-max); ratio = swapcachefs / other",
             f"{'workload':36} {'swapcachefs':>22} {'other':>24} {'ratio':>6} {'target':>7}"]
    for what, other, target, higher in rows:
        digits = 0 if higher else 2
        ma, a = spread(results[(what, "swapcachefs")], digits)
        mb, b = spread(results[(what, other)], digits)
        goal = "" if target is None else ((">=" if higher else "<=") + str(target))
        lines.append(f"{what:36} {a:>22} {other:>7} {b:>16} "
                     f"{ma / mb:6.2f} {goal:>7}")
    budget = rss_budget_mib(256, 2 * args.size_mib + 64)
    rss = statistics.median(results[("daemon peak RSS (MiB)", "swapcachefs")])
    lines.append(f"swapcachefs peak RSS {rss:.0f} MiB against its budget "
                 f"{budget:.0f} MiB (ram=256M + index + 64 MiB)")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
