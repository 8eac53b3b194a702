#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""swapcachefs against libfuse's passthrough_ll over the same local
directory, in one run, alternating the two systems for every repetition
(these machines are noisy; only ratios measured side by side count).

Workloads: sequential read and write of a 1 GiB file, 4 KiB random reads
with O_DIRECT at queue depth 1 and 32 (fio), lstat of every file and find
over an 18,000-file tree on a fresh mount.  Prints a table of medians and
the ratio swapcachefs / passthrough_ll (higher is better for swapcachefs).

Needs root, fio, gcc and libfuse3-dev (for the passthrough_ll example).
By default swapcachefs runs with cache=none: this measures the overlay
itself.  --cache SIZE adds a cache file of that size in the work
directory (on the same disk as the backing directory here, so the
scanner's writes compete with the reads being measured).

Usage: bench/overlay.py [--reps N] [--size-mib N] [--files N] [--cache SIZE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import drop_caches, publish  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXAMPLE = "/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c"


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def build_passthrough_ll(outdir):
    exe = os.path.join(outdir, "passthrough_ll")
    cflags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"],
                            capture_output=True, text=True, check=True).stdout.split()
    sh("gcc", "-O2", "-o", exe, EXAMPLE, *cflags)
    return exe


class System:
    def __init__(self, name, argv_fn, mnt):
        self.name, self.argv_fn, self.mnt = name, argv_fn, mnt
        self.proc = None

    def mount(self):
        self.proc = subprocess.Popen(self.argv_fn(self.mnt), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.ismount(self.mnt):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} did not mount")
            time.sleep(0.02)

    def unmount(self):
        subprocess.run(["fusermount3", "-u", self.mnt], check=False)
        self.proc.wait(timeout=30)


def fio(path, **opts):
    args = ["fio", "--name=b", f"--filename={path}", "--output-format=json",
            "--group_reporting"] + [f"--{k}={v}" for k, v in opts.items()]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    job = json.loads(out[out.index("{"):])["jobs"][0]
    return job


def seq_read(sys_, size_mib):
    job = fio(os.path.join(sys_.mnt, "big"), rw="read", bs="1M", size=f"{size_mib}M",
              ioengine="psync", invalidate=1)
    return job["read"]["bw_bytes"] / 2**20


def seq_write(sys_, size_mib):
    job = fio(os.path.join(sys_.mnt, "written"), rw="write", bs="1M", size=f"{size_mib}M",
              ioengine="psync", end_fsync=1)
    os.unlink(os.path.join(sys_.mnt, "written"))
    return job["write"]["bw_bytes"] / 2**20


def rand_read(qd):
    def run(sys_, size_mib):
        engine = "psync" if qd == 1 else "libaio"
        job = fio(os.path.join(sys_.mnt, "big"), rw="randread", bs="4k", direct=1,
                  iodepth=qd, ioengine=engine, size=f"{size_mib}M", runtime=5,
                  time_based=1)
        return job["read"]["iops"]
    return run


def walk_seconds(fn):
    def run(sys_, size_mib):
        sys_.unmount()  # a fresh mount: no kernel attribute or name cache
        sys_.mount()
        t = time.perf_counter()
        fn(os.path.join(sys_.mnt, "tree"))
        return 1.0 / (time.perf_counter() - t)  # walks per second
    return run


def stat_all(tree):
    for d in os.listdir(tree):
        dp = os.path.join(tree, d)
        for f in os.listdir(dp):
            os.lstat(os.path.join(dp, f))


def find_all(tree):
    subprocess.run(["find", tree], stdout=subprocess.DEVNULL, check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--files", type=int, default=18000)
    ap.add_argument("--cache", default="none",
                    help="cache file size, or none (the default)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-overlay.txt"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/overlay.py: needs root (mounts, drop_caches)")

    binary = os.environ.get("SWAPCACHEFS", os.path.join(ROOT, "build/src/daemon/swapcachefs"))
    work = tempfile.mkdtemp(prefix="scfs-bench-", dir="/var/tmp")
    backing = os.path.join(work, "backing")
    os.makedirs(os.path.join(backing, "tree"))
    with open(os.path.join(backing, "big"), "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(args.size_mib):
            f.write(chunk)
    per_dir = 1000
    for d in range(args.files // per_dir):
        dp = os.path.join(backing, "tree", f"d{d:02d}")
        os.mkdir(dp)
        for i in range(per_dir):
            open(os.path.join(dp, f"f{i:04d}"), "w").close()
    pll = build_passthrough_ll(work)
    cache_opts = ("cache=none" if args.cache == "none" else
                  f"cache={work}/cache.swc,cache_size={args.cache}")
    systems = []
    for name, argv in (
        ("swapcachefs", lambda m: [binary, "-f", "-o", cache_opts, backing, m]),
        ("passthrough_ll", lambda m: [pll, "-f", "-o", f"source={backing}", m]),
    ):
        mnt = os.path.join(work, "mnt-" + name)
        os.mkdir(mnt)
        systems.append(System(name, argv, mnt))

    workloads = [
        ("seq read 1 GiB (MiB/s)", seq_read),
        ("seq write 1 GiB (MiB/s)", seq_write),
        ("4K rand read QD1 (IOPS)", rand_read(1)),
        ("4K rand read QD32 (IOPS)", rand_read(32)),
        ("lstat every file (walks/s)", walk_seconds(stat_all)),
        ("find (walks/s)", walk_seconds(find_all)),
    ]
    results = {(w, s.name): [] for w, _ in workloads for s in systems}
    try:
        for s in systems:
            s.mount()
        for rep in range(args.reps):
            for wname, fn in workloads:
                order = systems if rep % 2 == 0 else systems[::-1]
                for s in order:
                    drop_caches(1.5)
                    results[(wname, s.name)].append(fn(s, args.size_mib))
    finally:
        for s in systems:
            if s.proc and s.proc.poll() is None:
                s.unmount()
        subprocess.run(["rm", "-rf", work])

    lines = [f"swapcachefs ({cache_opts.split(',')[0]}) vs passthrough_ll, "
             f"{args.reps} reps, medians (min-max)",
             f"{'workload':32} {'swapcachefs':>24} {'passthrough_ll':>24} {'ratio':>7}"]
    for wname, _ in workloads:
        a = results[(wname, "swapcachefs")]
        b = results[(wname, "passthrough_ll")]
        ma, mb = statistics.median(a), statistics.median(b)
        fmt = lambda v, xs: f"{v:10.1f} ({min(xs):.1f}-{max(xs):.1f})"
        lines.append(f"{wname:32} {fmt(ma, a):>24} {fmt(mb, b):>24} {ma / mb:7.2f}")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
