#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The SSD store against fio on the same cache file and the same loop
device, in one run: 64 KiB cluster writes (QD1 and QD32, with the
fdatasync the store does per batch), and 4 KiB and 64 KiB random reads at
QD1 and QD32 over the region the store wrote.  A store 4 KiB read fetches
the page and its slot's trailer (the page checksums) together and
verifies the page; a 64 KiB read verifies the whole cluster.

Also reports the index RAM per GiB of cache device.
Usage: sudo bench/store.py [--size-gib 2] [--seconds 5]"""
import argparse
import json
import os
import re
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


def run_device(name, dev, seconds, region_mib):
    rows = []
    # The store fills the region first; fio reads the same blocks after.
    w32 = store_bench("write", dev, 32, region_mib)
    offset = w32[2]
    rows.append(("64K write QD32 (MiB/s)", w32[0],
                 fio(dev, rw="write", bs="64k", iodepth=32, fdatasync=32,
                     offset=offset, size=f"{region_mib}M")[0]))
    # fio overwrote the data: refill before reading through the store.
    store_bench("write", dev, 32, region_mib)
    for qd in (1, 32):
        s = store_bench("read", dev, qd, seconds)
        s4 = store_bench("read", dev, qd, seconds, 1)
        f64 = fio(dev, rw="randread", bs="64k", iodepth=qd, offset=offset,
                  size=f"{region_mib}M", runtime=seconds, time_based=1)
        f4 = fio(dev, rw="randread", bs="4k", iodepth=qd, offset=offset,
                 size=f"{region_mib}M", runtime=seconds, time_based=1)
        rows.append((f"64K read QD{qd} (IOPS)", s[1], f64[1]))
        rows.append((f"4K read QD{qd} (IOPS)", s4[1], f4[1]))
    w1 = store_bench("write", dev, 1, 64)
    rows.append(("64K write QD1 (MiB/s)", w1[0],
                 fio(dev, rw="write", bs="64k", iodepth=1, fdatasync=1,
                     offset=offset, size="64M")[0]))
    return [(name, *r) for r in rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-gib", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-store.txt"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/store.py: needs root (loop devices)")
    work = tempfile.mkdtemp(prefix="scfs-store-bench-", dir="/var/tmp")
    cache_file = os.path.join(work, "cache.swc")
    image = os.path.join(work, "loop.img")
    for p in (cache_file, image):
        with open(p, "wb") as f:
            f.truncate(args.size_gib << 30)
    loop = subprocess.run(["losetup", "--direct-io=on", "-f", "--show", image],
                          capture_output=True, text=True, check=True).stdout.strip()
    region = min(1024, (args.size_gib << 10) // 2)
    try:
        rows = run_device("file", cache_file, args.seconds, region)
        rows += run_device("loop", loop, args.seconds, region)
    finally:
        subprocess.run(["losetup", "-d", loop])
        subprocess.run(["rm", "-rf", work])

    ram = subprocess.run([os.path.join(ROOT, "build", "tests", "test_store")],
                         capture_output=True, text=True).stdout
    m = re.search(r"index RAM for a 1 GiB cache: (\d+) bytes", ram)
    lines = ["store vs fio on the same device (store / fio: higher is better)",
             f"{'device':6} {'workload':24} {'store':>12} {'fio':>12} {'ratio':>7}"]
    for dev, what, s, f in rows:
        lines.append(f"{dev:6} {what:24} {s:12.1f} {f:12.1f} {s / f:7.2f}")
    if m:
        lines.append(f"index RAM per GiB of cache device: {int(m.group(1))} bytes "
                     f"({int(m.group(1)) / 2**20:.3f} MiB)")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
