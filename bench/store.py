#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The SSD store against fio on the same cache file and the same loop
device, in one run: 64 KiB cluster writes (QD1 and QD32: fio keeps QD
writes in flight with an fdatasync every QD, which its io_uring engine
does not make wait for the writes in flight; the store writes batches
of QD clusters as the scanner does, the next batch laid out while one
is written, so up to 2 x QD writes are in flight, and its syncer
flushes behind them), and 4 KiB and 64 KiB random reads at QD1 and
QD32 over the region the store wrote, QD requests kept in flight as
fio does.  Every store read is verified: a 64 KiB read against the
record's checksum, a 4 KiB read against its page checksum, which the store
keeps in RAM for slots read before (store_bench reads each slot once
before timing 4 KiB reads, the steady state of a running daemon).

Also reports the index RAM per GiB of cache device.
Usage: sudo bench/store.py [--size-gib 2] [--seconds 3] [--reps 3]"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

from benchlib import publish  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def store_bench(*args):
    exe = os.environ.get("STORE_BENCH", os.path.join(ROOT, "build", "bench", "store_bench"))
    out = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, check=True).stdout
    m = re.search(r"MiB/s ([\d.]+) IOPS ([\d.]+)(?: data_offset (\d+))?", out)
    return float(m.group(1)), float(m.group(2)), int(m.group(3) or 0)


def fio(dev, **opts):
    args = ["fio", "--name=b", f"--filename={dev}", "--output-format=json", "--direct=1",
            "--ioengine=io_uring"] + [f"--{k}={v}" for k, v in opts.items()]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    job = json.loads(out[out.index("{"):])["jobs"][0]
    side = job["write"] if job["write"]["io_bytes"] else job["read"]
    return side["bw_bytes"] / 2**20, side["iops"]


def run_device(name, dev, seconds, region_mib, reps):
    """Each workload reps times, store and fio in turn; medians."""
    # The store fills the region; fio reads the same blocks, and writes
    # a region of its own after it.
    offset = store_bench("write", dev, 32, region_mib)[2]
    fio_writes = offset + (region_mib << 20)
    work = {
        "64K write QD32 (MiB/s)": (
            lambda: store_bench("write", dev, 32, region_mib // 2)[0],
            lambda: fio(dev, rw="write", bs="64k", iodepth=32, fdatasync=32,
                        offset=fio_writes, size=f"{region_mib // 2}M")[0]),
        "64K write QD1 (MiB/s)": (
            lambda: store_bench("write", dev, 1, 64)[0],
            lambda: fio(dev, rw="write", bs="64k", iodepth=1, fdatasync=1,
                        offset=fio_writes, size="64M")[0]),
    }
    for qd in (1, 32):
        for bs, pages in (("64k", 0), ("4k", 1)):
            work[f"{bs.upper()} read QD{qd} (IOPS)"] = (
                lambda qd=qd, pages=pages: store_bench(
                    "read", dev, qd, seconds, *([pages] if pages else []))[1],
                lambda qd=qd, bs=bs: fio(
                    dev, rw="randread", bs=bs, iodepth=qd, offset=offset,
                    size=f"{region_mib}M", runtime=seconds, time_based=1)[1])
    got = {what: ([], []) for what in work}
    for what, (store_run, fio_run) in work.items():
        if what.startswith("64K write"):
            continue
        for _ in range(reps):
            got[what][0].append(store_run())
            got[what][1].append(fio_run())
    # Writes last: the store's writes go to new slots, some of which are
    # where fio writes after it, so the data read above would not last.
    # A write run takes a fraction of a second and this disk's write
    # throughput swings by a third from one to the next (64 KiB QD32,
    # one pair to the next: store/fio 0.77 to 1.26), so writes run three
    # times as often, the store first in one pair and fio in the next.
    for rep in range(3 * reps):
        for what, (store_run, fio_run) in work.items():
            if what.startswith("64K write"):
                pair = (store_run, fio_run) if rep % 2 == 0 else (fio_run, store_run)
                first, second = (f() for f in pair)
                got[what][0].append(first if rep % 2 == 0 else second)
                got[what][1].append(second if rep % 2 == 0 else first)
    return [(name, what, statistics.median(s), statistics.median(f))
            for what, (s, f) in got.items()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-gib", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-store.txt"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/store.py: needs root (loop devices)")
    work = tempfile.mkdtemp(prefix="scfs-store-bench-", dir="/var/tmp")
    cache_file = os.path.join(work, "cache.swc")
    image = os.path.join(work, "loop.img")
    # Written out in full first: a sparse file would make whoever writes
    # first pay for block allocation (the store), and fio would then
    # overwrite blocks already there.
    for p in (cache_file, image):
        subprocess.run(["dd", "if=/dev/zero", f"of={p}", "bs=16M",
                        f"count={args.size_gib * 64}", "oflag=direct", "status=none"],
                       check=True)
    loop = subprocess.run(["losetup", "--direct-io=on", "-f", "--show", image],
                          capture_output=True, text=True, check=True).stdout.strip()
    region = min(1024, (args.size_gib << 10) // 2)
    try:
        rows = run_device("file", cache_file, args.seconds, region, args.reps)
        rows += run_device("loop", loop, args.seconds, region, args.reps)
    finally:
        subprocess.run(["losetup", "-d", loop])
        subprocess.run(["rm", "-rf", work])

    ram = subprocess.run([os.path.join(ROOT, "build", "tests", "test_store")],
                         capture_output=True, text=True).stdout
    m = re.search(r"index RAM for a 1 GiB cache: (\d+) bytes", ram)
    lines = [f"store vs fio on the same device, medians of {args.reps} runs each, "
             f"of {3 * args.reps} for writes "
             "(store / fio: higher is better)",
             f"{'device':6} {'workload':24} {'store':>12} {'fio':>12} {'ratio':>7}"]
    for dev, what, s, f in rows:
        lines.append(f"{dev:6} {what:24} {s:12.1f} {f:12.1f} {s / f:7.2f}")
    if m:
        lines.append(f"index RAM per GiB of cache device: {int(m.group(1))} bytes "
                     f"({int(m.group(1)) / 2**20:.3f} MiB)")
    m = re.search(r"page-checksum cache: (\d+) bytes", ram)
    if m:
        lines.append(f"page-checksum cache (68 bytes a slot up to 16 GiB of slots): {int(m.group(1))} bytes")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
