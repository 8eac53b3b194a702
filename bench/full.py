#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The whole comparison in one command and one run (issue 7): every
system on every workload, side by side, alternating the systems' order
between repetitions (these machines are noisy; only ratios measured in
one run count).

Backing stores: an sshd on 127.0.0.1, and the same data behind a slow
link the benchmark builds (slowlink.py: its own network namespace, htb
on a veth pair both ways, a delaying relay; the host's loopback is never
touched).  Both sshds and the namespace are stopped at the end.

Systems:
  local disk      the files themselves (the device limit)
  passthrough_ll  libfuse's example over the same directory (the FUSE limit)
  sshfs           sshfs alone, as a user mounts it (its own caches)
  swapcachefs     over sshfs mounted as for "sshfs" (its own caches too:
                  the same sshfs, with and without swapcachefs on top):
                  cold (a new cache), warm after drop_caches,
                  warm after a remount; cache file on the local disk,
                  ram=256M, every other option its default (FUSE over
                  io_uring where the kernel allows it: see --no-uring)
  rclone          mount --vfs-cache-mode full over an sftp remote to the
                  same sshd: cold, warm after drop_caches, after a remount

Workloads (drop_caches before each; a fresh mount before each for the
systems without a warm state):
  seq      sequential read of the big file, 1 MiB reads (MiB/s)
  rand1    4 KiB random reads, O_DIRECT, queue depth 1 (IOPS)
  rand32   the same at queue depth 32 (libaio)
  find     find TREE (s)
  stat     lstat of every path of TREE (s)
  ls       ls -lR TREE (s)
  read     open+read+close of every file of TREE (s)
  mixed    four readers at once: two read halves of the big file, two
           read halves of the tree's files (s)

Output: a table of medians (min-max) per workload and system, the ratios
against the targets of issue 7 (and of issue 5 for metadata), the CPU
seconds per GiB and the peak RSS of every daemon, and a perf profile of
swapcachefs's warm read path; printed and written to build/bench-full.txt.

Usage: sudo bench/full.py [--reps 3] [--size-mib 1024] [--dirs 12x15]
           [--files 100] [--seconds 5] [--slow-reps 1] [--slow-size-mib 128]
           [--rate 100mbit] [--delay-ms 1] [--no-slow] [--no-loopback]
           [--no-profile] [--quick]
"""
import argparse
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchlib import (age, drop_caches, index_mib, publish, rss_budget_mib,  # noqa: E402
                      spread, xattr_fields)
from metadata import make_tree, sshfs_defaults  # noqa: E402
from network import Rclone, cpu_seconds, peak_rss_mib  # noqa: E402
from overlay import build_passthrough_ll, fio  # noqa: E402
from slowlink import SlowLink  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import scfs  # noqa: E402

MIB = 1 << 20

# (key, label, unit, higher is better)
WORKLOADS = [
    ("seq", "sequential read", "MiB/s", True),
    ("rand1", "4K random read QD1, O_DIRECT", "IOPS", True),
    ("rand32", "4K random read QD32, O_DIRECT", "IOPS", True),
    ("find", "find", "s", False),
    ("stat", "lstat every path", "s", False),
    ("ls", "ls -lR", "s", False),
    ("read", "open+read+close every file", "s", False),
    ("mixed", "mixed: 4 readers at once", "s", False),
]
HIGHER = {k: h for k, _, _, h in WORKLOADS}


# ---- the workloads: each takes (root, data) and returns its figure ----

class Data:
    """What the workloads read below a system's root."""

    def __init__(self, big, size, paths, files, seconds):
        self.big, self.size, self.paths, self.files = big, size, paths, files
        self.seconds = seconds


def read_range(path, start, length):
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        while length > 0:
            b = f.read(min(MIB, length))
            if not b:
                break
            length -= len(b)


def read_files(root, files):
    for p in files:
        fd = os.open(os.path.join(root, p), os.O_RDONLY)
        while os.read(fd, 1 << 16):
            pass
        os.close(fd)


def w_seq(root, d):
    t = time.perf_counter()
    read_range(os.path.join(root, d.big), 0, d.size)
    return d.size / MIB / (time.perf_counter() - t)


def w_rand(qd):
    def run(root, d):
        job = fio(os.path.join(root, d.big), rw="randread", bs="4k", direct=1,
                  iodepth=qd, ioengine="psync" if qd == 1 else "libaio",
                  size=d.size, runtime=d.seconds, time_based=1)
        return job["read"]["iops"]
    return run


def w_find(root, d):
    t = time.perf_counter()
    subprocess.run(["find", os.path.join(root, "tree")], stdout=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - t


def w_stat(root, d):
    t = time.perf_counter()
    for p in d.paths:
        os.lstat(os.path.join(root, "tree", p))
    return time.perf_counter() - t


def w_ls(root, d):
    t = time.perf_counter()
    subprocess.run(["ls", "-lR", os.path.join(root, "tree")], stdout=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - t


def w_read(root, d):
    t = time.perf_counter()
    read_files(os.path.join(root, "tree"), d.files)
    return time.perf_counter() - t


def w_mixed(root, d):
    big, half = os.path.join(root, d.big), d.size // 2
    tree = os.path.join(root, "tree")
    jobs = [(read_range, (big, 0, half)), (read_range, (big, half, d.size - half)),
            (read_files, (tree, d.files[0::2])), (read_files, (tree, d.files[1::2]))]
    t = time.perf_counter()
    procs = [multiprocessing.Process(target=fn, args=args) for fn, args in jobs]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError("a mixed-run reader failed")
    return time.perf_counter() - t


RUN = {"seq": w_seq, "rand1": w_rand(1), "rand32": w_rand(32), "find": w_find,
       "stat": w_stat, "ls": w_ls, "read": w_read, "mixed": w_mixed}


# ---- the processes behind a mount: CPU time and peak RSS ----

def unix_peers(pids):
    """Pids at the other end of the unix sockets of pids (sshfs talks to
    its ssh through a socketpair, and ssh is not its child once sshfs
    has gone into the background)."""
    out = subprocess.run(["ss", "-xpnH"], capture_output=True, text=True).stdout
    owner, peer = {}, {}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 9 or "pid=" not in line:
            continue
        local, remote = f[5], f[7]
        for item in line.split("pid=")[1:]:
            owner.setdefault(local, set()).add(int(item.split(",")[0]))
        peer[local] = remote
    mine = {ino for ino, who in owner.items() if who & set(pids)}
    return {p for ino in mine for p in owner.get(peer.get(ino), ())} - set(pids)


def processes_of(paths):
    """Pids whose argv names one of paths, their descendants, and the ssh
    processes they talk to."""
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        procs[int(pid)] = (argv, ppid)
    found = {pid for pid, (argv, _) in procs.items() if any(p in argv for p in paths)}
    grew = True
    while grew:
        more = {pid for pid, (_, ppid) in procs.items() if ppid in found} - found
        more |= {pid for pid in unix_peers(found)
                 if pid in procs and os.path.basename(procs[pid][0][0]) == "ssh"}
        found |= more
        grew = bool(more)
    return sorted(found)


def cpu_of(pids):
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def hwm_mib(pid):
    """peak_rss_mib of a process that may have ended meanwhile (0)."""
    try:
        return peak_rss_mib(pid)
    except OSError:
        return 0.0


# ---- the systems ----

class System:
    """A way to reach the data: mount() makes root readable, unmount()
    ends it; argv_paths name its processes; cached systems also have
    reset() (forget the cache) and fill() (read everything once)."""
    cached = False
    name = ""

    def __init__(self, root):
        self.root = root

    def mount(self):
        pass

    def unmount(self):
        pass

    def argv_paths(self):
        return []


class LocalDisk(System):
    name = "local disk"


class Passthrough(System):
    name = "passthrough_ll"

    def __init__(self, exe, source, mnt):
        super().__init__(mnt)
        self.exe, self.source, self.proc = exe, source, None

    def mount(self):
        self.proc = subprocess.Popen([self.exe, "-f", "-o", f"source={self.source}",
                                      self.root], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        scfs.wait_for(lambda: os.path.ismount(self.root), what="passthrough_ll")

    def unmount(self):
        subprocess.run(["fusermount3", "-u", self.root], check=True)
        self.proc.wait(timeout=30)

    def argv_paths(self):
        return [self.root]


class Sshfs(System):
    name = "sshfs"

    def __init__(self, server, remote, mnt):
        super().__init__(mnt)
        self.server, self.remote = server, remote

    def mount(self):
        sshfs_defaults(self.server, self.remote, self.root)

    def unmount(self):
        scfs.sshfs_unmount(self.root)

    def argv_paths(self):
        return [self.root]


class Swapcachefs(System):
    name = "swapcachefs"
    cached = True

    def __init__(self, backing, mnt, cache, cache_size, uring):
        super().__init__(mnt)
        self.backing, self.cache, self.cache_size = backing, cache, cache_size
        self.uring = uring
        self.m = None

    def mount(self):
        self.m = scfs.Mount(self.backing, self.root, options=(
            f"cache={self.cache}", f"cache_size={self.cache_size}", "ram=256M") +
            (() if self.uring else ("nouring",)))

    def unmount(self):
        self.m.unmount()

    def reset(self):
        if os.path.exists(self.cache):
            os.unlink(self.cache)

    def stats(self):
        return xattr_fields(self.root)

    def cached_bytes(self, path):
        """What the SSD holds of path (user.swapcache.residency)."""
        return int(xattr_fields(path, "user.swapcache.residency")["ssd_bytes"])

    def settle(self, at_least):
        """Until the scanner has written at least at_least bytes and
        nothing more for a second, or nothing at all for five (pages the
        pool let go before they were written are not coming back)."""
        history = []
        while True:
            history.append(int(self.stats()["write_count"]))
            if history[-1] >= at_least and history[-2:-1] == history[-1:]:
                return
            if len(history) > 5 and history[-6] == history[-1]:
                print(f"swapcachefs: {history[-1]} bytes written of {at_least}",
                      file=sys.stderr)
                return
            time.sleep(1)

    def daemon_pid(self):
        return self.m.proc.pid

    def argv_paths(self):
        return [self.root, self.backing]  # the daemon and the sshfs below


class RcloneFull(System):
    name = "rclone"
    cached = True

    def __init__(self, server, remote, mnt, cache_dir):
        super().__init__(mnt)
        self.r = Rclone(server, remote, mnt, cache_dir)
        self.cache_dir = cache_dir

    def mount(self):
        self.r.mount()

    def unmount(self):
        self.r.unmount()

    def reset(self):
        shutil.rmtree(self.cache_dir, ignore_errors=True)

    def settle(self, at_least):
        time.sleep(2)  # it writes its cache file as it reads

    def cached_bytes(self, path):
        return os.path.getsize(path)  # its cache holds what it has read

    def argv_paths(self):
        return [self.root]


# ---- running them ----

class Results:
    def __init__(self):
        self.values = {}  # (link, workload, column) -> [figures]
        self.cpu = {}     # (link, column) -> [CPU s per GiB of seq]
        self.rss = {}     # system name -> peak RSS MiB of its processes
        self.daemon_rss = 0.0

    def add(self, link, wl, column, value):
        self.values.setdefault((link, wl, column), []).append(value)


def measure(res, link, system, column, wl, d):
    """One figure: drop_caches, run, note CPU time for seq."""
    drop_caches()
    pids = processes_of(system.argv_paths())
    before = cpu_of(pids)
    res.add(link, wl, column, RUN[wl](system.root, d))
    if wl == "seq" and pids:
        res.cpu.setdefault((link, column), []).append(
            (cpu_of(pids) - before) / (d.size / (1 << 30)))
    peak = sum(hwm_mib(pid) for pid in pids)
    res.rss[system.name] = max(res.rss.get(system.name, 0.0), peak)
    if isinstance(system, Swapcachefs):
        res.daemon_rss = max(res.daemon_rss, hwm_mib(system.daemon_pid()))


def fill(system, d):
    """Read everything, as a user's first pass would, and the big file
    again until the cache holds all of it (at most five more times): a
    cold read faster than the scanner writes (maxlaunder pages ten times
    a second, and a cache disk busy with the backing store's reads on
    loopback) leaves part of it unwritten, which each pass brings back."""
    big = os.path.join(system.root, d.big)
    read_range(big, 0, d.size)
    w_read(system.root, d)
    w_ls(system.root, d)
    w_stat(system.root, d)
    system.settle(d.size)
    for _ in range(5):
        if system.cached_bytes(big) >= d.size:
            break
        # The kernel keeps its pages of an unchanged file across opens:
        # without this the pass would not reach the daemon at all.
        drop_caches()
        read_range(big, 0, d.size)
        system.settle(d.size)
    if system.cached_bytes(big) < d.size:
        print(f"{system.name}: {system.cached_bytes(big)} bytes of {d.big} cached "
              f"of {d.size}", file=sys.stderr)


def on_fresh_mounts(res, link, system, column, d, wls, before=lambda: None):
    """Each workload on a mount of its own (before() ahead of each)."""
    for wl in wls:
        before()
        system.mount()
        try:
            measure(res, link, system, column, wl, d)
        finally:
            system.unmount()


def run_plain(res, link, system, d, wls):
    on_fresh_mounts(res, link, system, system.name, d, wls)


def run_cached(res, link, system, d, wls):
    n = system.name
    # Cold: a new cache for each workload.
    on_fresh_mounts(res, link, system, f"{n} cold", d, wls, before=system.reset)
    system.reset()
    system.mount()
    try:
        fill(system, d)
        for wl in wls:
            measure(res, link, system, f"{n} warm, drop_caches", wl, d)
    finally:
        system.unmount()
    on_fresh_mounts(res, link, system, f"{n} warm, remount", d, wls)
    system.reset()


def run_link(res, link, systems, d, reps, wls, only):
    systems = [s for s in systems if not only or s.name in only]
    for rep in range(reps):
        order = systems if rep % 2 == 0 else systems[::-1]
        for s in order:
            print(f"[{link}] rep {rep + 1}/{reps}: {s.name}", file=sys.stderr, flush=True)
            (run_cached if s.cached else run_plain)(res, link, s, d, wls)


def profile(scfs_sys, d, seconds):
    """perf's view of the daemon on the warm read path after a remount:
    a sequential read and QD32 random reads."""
    if not shutil.which("perf"):
        return ["(perf not installed: no profile)"]
    scfs_sys.reset()
    scfs_sys.mount()
    try:
        read_range(os.path.join(scfs_sys.root, d.big), 0, d.size)
        scfs_sys.settle(d.size)
    finally:
        scfs_sys.unmount()
    scfs_sys.mount()
    data = os.path.join(os.path.dirname(scfs_sys.cache), "perf.data")
    try:
        drop_caches()
        rec = subprocess.Popen(["perf", "record", "-q", "-g", "-F", "1999", "-o", data,
                                "-p", str(scfs_sys.daemon_pid())],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        w_seq(scfs_sys.root, d)
        w_rand(32)(scfs_sys.root, d)
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=60)
    finally:
        scfs_sys.unmount()
        scfs_sys.reset()
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                          "--sort", "dso,sym", "--percent-limit", "1", "-g", "none"],
                         capture_output=True, text=True).stdout
    rows = [line for line in out.splitlines() if line.strip() and not line.startswith("#")]
    return (["perf profile of the swapcachefs daemon, warm after a remount "
             "(sequential read, then 4K random reads at QD32): self time, "
             "symbols above 1%"] + rows[:40])


# ---- the report ----

def column_order(res, link):
    cols = []
    for (lk, _, col) in res.values:
        if lk == link and col not in cols:
            cols.append(col)
    return cols


def figures_table(res, link, title, wls):
    lines = [title, f"{'workload':34} {'system':30} {'median (min-max)':>34}"]
    for key, label, unit, _ in WORKLOADS:
        if key not in wls:
            continue
        for col in column_order(res, link):
            vals = res.values.get((link, key, col))
            if not vals:
                continue
            digits = 3 if unit == "s" else 0
            lines.append(f"{label + ' (' + unit + ')':34} {col:30} "
                         f"{spread(vals, digits)[1]:>34}")
    return lines


def ratio(res, link, wl, a, b):
    """(median of column a / median of column b) in 'better' terms: a
    ratio above 1 means a is better."""
    va = res.values.get((link, wl, a))
    vb = res.values.get((link, wl, b))
    if not va or not vb:
        return None
    ma, mb = spread(va, 6)[0], spread(vb, 6)[0]
    return ma / mb if HIGHER[wl] else mb / ma


def targets_table(res, link, budget_mib):
    S = "swapcachefs"
    rows = []
    for state in ("drop_caches", "remount"):
        rows += [
            (f"warm seq ({state}) / passthrough_ll", "seq", f"{S} warm, {state}",
             "passthrough_ll", 0.9),
            (f"warm seq ({state}) / rclone ({state})", "seq", f"{S} warm, {state}",
             f"rclone warm, {state}", 1.5)]
    for qd, goal in (("1", 2.0), ("32", 5.0)):
        for state in ("drop_caches", "remount"):
            rows += [
                (f"warm 4K QD{qd} ({state}) / passthrough_ll", f"rand{qd}",
                 f"{S} warm, {state}", "passthrough_ll", 0.9),
                (f"warm 4K QD{qd} ({state}) / rclone ({state})", f"rand{qd}",
                 f"{S} warm, {state}", f"rclone warm, {state}", goal)]
    rows.append(("cold seq / sshfs alone", "seq", f"{S} cold", "sshfs", 0.95))
    for wl in ("find", "stat", "ls"):
        rows += [(f"{wl} after remount / sshfs alone (issue 5)", wl,
                  f"{S} warm, remount", "sshfs", 10.0),
                 (f"{wl} after remount / rclone after remount (issue 5)", wl,
                  f"{S} warm, remount", "rclone warm, remount", 5.0)]
    lines = [f"ratios on {link} (higher is better for swapcachefs)",
             f"{'what':58} {'ratio':>7} {'target':>7} {'met':>4}"]
    for what, wl, a, b, goal in rows:
        r = ratio(res, link, wl, a, b)
        if r is None:
            continue
        lines.append(f"{what:58} {r:7.2f} {'>=' + str(goal):>7} "
                     f"{'yes' if r >= goal else 'NO':>4}")
    cpu_a = res.cpu.get((link, f"{S} warm, remount"))
    cpu_b = res.cpu.get((link, "rclone warm, remount"))
    if cpu_a and cpu_b:
        r = spread(cpu_a, 6)[0] / spread(cpu_b, 6)[0]
        lines.append(f"{'CPU s per GiB served warm (remount) / rclone':58} {r:7.2f} "
                     f"{'<=0.5':>7} {'yes' if r <= 0.5 else 'NO':>4}")
    if link == "loopback" and res.daemon_rss:
        lines.append(f"{'swapcachefs daemon peak RSS (MiB) / budget ' + str(round(budget_mib)):58} "
                     f"{res.daemon_rss / budget_mib:7.2f} {'<=1':>7} "
                     f"{'yes' if res.daemon_rss <= budget_mib else 'NO':>4}")
    return lines


def cpu_table(res, link):
    lines = [f"CPU seconds per GiB of the sequential read on {link} "
             f"(every process behind the mount, all threads)"]
    for col in column_order(res, link):
        vals = res.cpu.get((link, col))
        if vals:
            lines.append(f"  {col:30} {spread(vals, 2)[1]:>24}")
    return lines


def run_loopback(res, args, server, pll, d, systems_over, mk, wls, only, n_tree, budget):
    """Every system over the sshd on 127.0.0.1: its tables, and the profile."""
    prof = []
    sshd = scfs.Sshd(mk("loop"))
    try:
        systems = [LocalDisk(server), Passthrough(pll, server, mk("pll"))]
        over = systems_over("loop", sshd)
        sshfs_defaults(sshd, server, over[1].backing)
        try:
            run_link(res, "loopback", systems + over, d, args.reps, wls, only)
            if not args.no_profile and (not only or "swapcachefs" in only):
                prof = profile(over[1], d, args.seconds)
        finally:
            scfs.sshfs_unmount(over[1].backing)
    finally:
        sshd.stop()
    lines = figures_table(res, "loopback",
                          f"sshd on 127.0.0.1: {args.size_mib} MiB file, {n_tree}, "
                          f"{args.reps} reps", wls)
    lines += [""] + targets_table(res, "loopback", budget)
    lines += [""] + cpu_table(res, "loopback")
    return lines, prof


URING_PARAM = "/sys/module/fuse/parameters/enable_uring"


def set_enable_uring(on):
    """Set the fuse module's enable_uring; returns what it was, or None
    where this kernel has no FUSE over io_uring."""
    try:
        with open(URING_PARAM) as f:
            was = f.read().strip() in ("Y", "1")
        with open(URING_PARAM, "w") as f:
            f.write("Y" if on else "N")
    except FileNotFoundError:
        return None
    return was


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--dirs", default="12x15")
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--slow-reps", type=int, default=1)
    ap.add_argument("--slow-size-mib", type=int, default=128)
    ap.add_argument("--rate", default="100mbit")
    ap.add_argument("--delay-ms", type=float, default=1.0)
    ap.add_argument("--no-slow", action="store_true")
    ap.add_argument("--no-loopback", action="store_true",
                    help="only the slow link (and no profile)")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--only", default="",
                    help="comma-separated systems to run (default: all)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 64 MiB, 6x5 directories, 1 rep, 2 s")
    ap.add_argument("--no-uring", action="store_true",
                    help="swapcachefs through /dev/fuse, not FUSE over io_uring")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-full.txt"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/full.py: needs root (mounts, drop_caches, namespaces)")
    if args.quick:
        args.reps, args.size_mib, args.dirs, args.seconds = 1, 64, "6x5", 2
        args.slow_size_mib = 32
    for tool in ("fio", "rclone", "sshfs", "gcc"):
        if not shutil.which(tool):
            sys.exit(f"bench/full.py: needs {tool} (scripts/deps; apt-get install rclone)")
    top, sub = (int(x) for x in args.dirs.split("x"))
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    multiprocessing.set_start_method("fork")
    start = time.monotonic()

    base = tempfile.mkdtemp(prefix="scfs-full-", dir="/var/tmp")
    server = os.path.join(base, "server")
    os.mkdir(server)
    for name, mib in (("big", args.size_mib), ("big-slow", args.slow_size_mib)):
        with open(os.path.join(server, name), "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(MIB))
    paths = make_tree(os.path.join(server, "tree"), top, sub, args.files)
    age(server)
    files = [p for p in paths if os.path.isfile(os.path.join(server, "tree", p))]
    n_tree = f"{len(files)} files in {top * sub} directories"
    wls = [k for k, _, _, _ in WORKLOADS]
    res = Results()
    cache_size = (2 * args.size_mib + 2 * len(files) // 16 + 256)  # MiB; 64K a file
    budget = rss_budget_mib(256, cache_size)
    pll = build_passthrough_ll(base)
    lines = []
    d_loop = Data("big", args.size_mib * MIB, paths, files, args.seconds)
    d_slow = Data("big-slow", args.slow_size_mib * MIB, paths, files, args.seconds)

    def mk(*names):
        path = os.path.join(base, *names)
        os.makedirs(path, exist_ok=True)
        return path

    def systems_over(tag, link_server):
        return [Sshfs(link_server, server, mk(tag, "sshfs")),
                Swapcachefs(mk(tag, "sshfs-below"), mk(tag, "scfs"),
                            os.path.join(base, tag, "cache.swc"), f"{cache_size}M",
                            uring_was is not None),
                RcloneFull(link_server, server, mk(tag, "rclone"), os.path.join(base, tag, "rc"))]

    if args.no_loopback:
        args.no_profile = True
    # FUSE over io_uring is off in the fuse module by default: on for the
    # run (swapcachefs uses it wherever the kernel allows), then as it was.
    uring_was = None if args.no_uring else set_enable_uring(True)
    lines.append("swapcachefs transport: " + (
        "FUSE over io_uring" if uring_was is not None else
        "/dev/fuse" + ("" if args.no_uring else f" ({URING_PARAM} missing)")))
    try:
        if not args.no_loopback:
            table, prof = run_loopback(res, args, server, pll, d_loop, systems_over, mk,
                                       wls, only, n_tree, budget)
            lines += table
        if not args.no_slow:
            link = SlowLink(mk("slow"), args.rate, args.delay_ms)
            try:
                over = systems_over("slow", link)
                sshfs_defaults(link, server, over[1].backing)
                try:
                    run_link(res, "slow", over, d_slow, args.slow_reps, wls, only)
                finally:
                    scfs.sshfs_unmount(over[1].backing)
            finally:
                link.stop()
            lines += [""] + figures_table(
                res, "slow", f"sshd behind {link.describe()}: {args.slow_size_mib} MiB "
                f"file, {n_tree}, {args.slow_reps} reps", wls)
            lines += [""] + targets_table(res, "slow", budget)
            lines += [""] + cpu_table(res, "slow")
        lines += ["", "peak RSS of every daemon (VmHWM, MiB; the processes behind "
                  "the mount, summed: sshfs with its ssh, swapcachefs with the "
                  "sshfs below it)"]
        for name, mib in sorted(res.rss.items()):
            lines.append(f"  {name:30} {mib:10.0f}")
        lines.append(f"  {'swapcachefs daemon alone':30} {res.daemon_rss:10.0f}"
                     f"   (budget: ram 256 MiB + index with page checksums {index_mib(cache_size):.1f} MiB "
                     f"+ 64 MiB = {budget:.0f} MiB)")
        if not args.no_profile and (not only or "swapcachefs" in only):
            lines += [""] + prof
        lines.append(f"\n(one run, {(time.monotonic() - start) / 60:.0f} minutes)")
    finally:
        for p in subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                                text=True).stdout.split():
            if p.startswith(base):
                subprocess.run(["fusermount3", "-uz", p])
        subprocess.run(["rm", "-rf", base])
        if uring_was is not None:
            set_enable_uring(uring_was)
    publish(lines, args.out)


if __name__ == "__main__":
    main()
