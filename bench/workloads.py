#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Real programs on a real source tree over a network link (issue 29), in
one command and one run, every system side by side.

The tree: a git repository made from Debian's linux-source-6.1 tarball
(/usr/src, package linux-source-6.1): every Kconfig file, the top-level
files, scripts/, arch/x86/, init/, kernel/, mm/ and lib/ (about 4,700
files), committed in five commits (an import, two additions, an edit of
forty files, a rename) and packed as a clone is.  Each system reads a copy
of its own on the server, so that one system's git index is not another's.

Links, each built by the benchmark (slowlink.py: an sshd in a network
namespace of its own behind a veth pair rate-limited with htb both ways,
and a relay on 127.0.0.1 adding the delay each way):
  100 Mbit/s with 1 ms each way, and 20 Mbit/s with 10 ms each way.

Systems:
  local        the server's copy itself, on this machine's disk
  sshfs        sshfs as a user mounts it (its own caches on)
  rclone       rclone mount --vfs-cache-mode full over sftp
  swapcachefs  over sshfs mounted as above, default options, a cache file
States, each workload taken through them in turn (the ages of the cached
metadata stated, since a cache that trusts it for a time answers
differently within and past that time):
  cold     an empty cache and fresh mounts (local: after drop_caches);
           this is the workload's first pass
  warm     right after it (once what it read is on the SSD), drop_caches:
           within meta_timeout of the first pass
  remount  every layer unmounted and mounted again (the caches on disk
           kept), drop_caches: still within meta_timeout
  expired  swapcachefs only: its meta_timeout and a second after the
           last run, drop_caches: every cached answer is to be confirmed (no
           target; rclone keeps its directory cache 5 minutes, sshfs its
           attributes 20 seconds)
Workloads (in the repository's root):
  git status, grep -r -c, find, ls -lR, tar cf (--sort=name, of the work
  tree), git log -p, make -j2 defconfig (Kbuild compiling kconfig's C
  sources and reading every Kconfig file; made clean again after each).

Printed: medians (min-max) over the repetitions, taken in turns; the
ratios against issue 29's targets; packets on the link per workload; CPU
seconds and peak RSS of each system's processes.  Every workload's output
is compared with the local disk's.  The table goes to
build/bench-workloads.txt and the chart (a bar group per workload and
state) to build/bench-workloads.png.

Usage: sudo bench/workloads.py [--reps 3] [--slow-reps 1]
           [--links 100mbit:1,20mbit:10] [--systems local,sshfs,rclone,swapcachefs]
           [--workloads status,grep,...] [--states cold,warm,remount,expired]
It takes long: a cold grep -r of 4,700 files over sshfs alone behind the
20 Mbit/10 ms link is minutes by itself.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

from benchlib import age, drop_caches, publish, spread  # noqa: E402
from full import cpu_of, hwm_mib, processes_of  # noqa: E402
from metadata import sshfs_defaults  # noqa: E402

# Debian 12's sshfs (3.7.3-1.2~deb12u1, CVE-2026-47187) answers EPERM to
# readlink of a symlink whose target holds "..", as the kernel tree's
# scripts/dtc/include-prefixes/* do: ls -lR, git status and tar then
# differ from the local disk's.  Whoever serves a source tree from a
# trusted server turns that off, and so does this benchmark.
SSHFS_SYMLINKS = ",no_contain_symlinks"
from network import Rclone  # noqa: E402
from slowlink import SlowLink  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import scfs  # noqa: E402

# The slow link's relay is a thread of this process: a child that blocks
# on a mount before its exec (chdir into it) while the parent is held in
# vfork would wait for that thread forever.
subprocess._USE_VFORK = False

TARBALL = "/usr/src/linux-source-6.1.tar.xz"
TOP = "linux-source-6.1"
# (commit message, what it adds: directories below the tarball's top)
COMMITS = [
    ("Import the build system: Kconfig, scripts, arch/x86",
     ["scripts", "arch/x86"]),
    ("Add init, kernel and mm", ["init", "kernel", "mm"]),
    ("Add lib", ["lib"]),
]
STATES = ("cold", "warm", "remount", "expired")


# ---- the tree ----

def wanted(name):
    """Whether a member of the tarball belongs to the tree (its path
    below the top directory)."""
    parts = name.split("/")
    if len(parts) == 1:
        return True  # Makefile, Kconfig, COPYING, ...
    if parts[-1].startswith("Kconfig"):
        return True
    return any(name.startswith(d + "/") for _, dirs in COMMITS for d in dirs)


def git(repo, *args, out=subprocess.DEVNULL):
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@x",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="b@x",
               GIT_AUTHOR_DATE="2026-01-01T00:00:00", GIT_COMMITTER_DATE="2026-01-01T00:00:00")
    return subprocess.run(["git", "-C", repo, *args], check=True, stdout=out, env=env)


def make_repo(repo):
    """The benchmark's repository at repo; how many files it has."""
    os.makedirs(repo)
    with tarfile.open(TARBALL) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(TOP + "/") and (m.isfile() or m.issym())
                   and wanted(m.name[len(TOP) + 1:])]
        for m in members:
            m.name = m.name[len(TOP) + 1:]
        # Python 3.11.4 and later want to be told; Debian 12's 3.11.2 has
        # no filters.
        safe = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
        tar.extractall(repo, members=members, **safe)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "gc.auto", "0")  # its own gc at the end, not one in the background
    first = [m.name for m in members if "/" not in m.name or
             m.name.rsplit("/", 1)[-1].startswith("Kconfig")]
    git(repo, "add", "-f", *first)
    for message, dirs in COMMITS:
        git(repo, "add", "-f", *dirs)
        git(repo, "commit", "-q", "-m", message)
    edited = sorted(m.name for m in members if m.name.startswith("kernel/")
                    and m.name.endswith(".c"))[:40]
    for name in edited:
        with open(os.path.join(repo, name), "a") as f:
            f.write("/* edited by bench/workloads.py */\n")
    git(repo, "commit", "-q", "-am", "Edit forty files of kernel/")
    git(repo, "mv", "scripts/spelling.txt", "scripts/misspellings.txt")
    git(repo, "commit", "-q", "-m", "Rename scripts/spelling.txt")
    git(repo, "gc", "-q")
    age(repo, 3600)
    return sum(len(files) for _, _, files in os.walk(repo))


# ---- the workloads: argv (run in the repository), and how to compare ----

def sha(data):
    return hashlib.sha256(data).hexdigest()[:16]


def sorted_lines(data):
    return sha(b"\n".join(sorted(data.splitlines())))


def ls_normal(data):
    """ls -lR without what differs between filesystems for the same files
    (link counts: SFTP carries none; block totals; a directory's size) or
    between the systems' copies (a directory's time: each copy had its
    own builds made and cleaned)."""
    lines = []
    for line in data.splitlines():
        f = line.split()
        if line.startswith(b"total "):
            continue
        if len(f) >= 7 and f[0][:1] in b"-dl":
            del f[1]  # links
            if f[0][:1] == b"d":
                f[3:5] = [b"-", b"-"]  # size, time
        lines.append(b" ".join(f))
    return sha(b"\n".join(lines))


WORKLOADS = [
    ("status", "git status", ["git", "status", "--porcelain"], sha),
    ("grep", "grep -r", ["grep", "-r", "-c", "-I", "--exclude-dir=.git",
                         "static", "."], sorted_lines),
    ("find", "find", ["find", ".", "-path", "./.git", "-prune", "-o", "-print"],
     sorted_lines),
    ("ls", "ls -lR", ["ls", "-lR", "--time-style=+%s", "--ignore=.git", "."], ls_normal),
    # Times out: the copies' directories differ in theirs (see ls_normal).
    ("tar", "tar cf", ["tar", "--sort=name", "--mtime=@0", "--exclude=.git", "-cf", "-",
                       "."], sha),
    ("log", "git log -p", ["git", "log", "-p", "--no-color"], sha),
    ("make", "make -j2", ["make", "-j2", "-s", "defconfig"], None),
]


def run_workload(repo, wl):
    """Seconds the workload took in repo, and its output's digest."""
    key, _, argv, digest = wl
    start = time.perf_counter()
    p = subprocess.run(argv, cwd=repo, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    took = time.perf_counter() - start
    if key == "make":
        out = f"exit {p.returncode}"
        if p.returncode == 0:
            with open(os.path.join(repo, ".config"), "rb") as f:
                out = sha(f.read())
        # What the build made goes (mrproper would need all of Kbuild).
        subprocess.run(["git", "clean", "-q", "-f", "-d", "-x"], cwd=repo)
        return took, out
    if p.returncode not in (0, 1):  # grep -c says 1 for a file without a match
        return took, f"exit {p.returncode}"
    return took, digest(p.stdout)


# ---- the systems ----

class System:
    name = ""
    states = ("cold", "warm", "remount")

    def __init__(self, base):
        self.base = base
        self.repo = None  # where the workloads run while mounted

    def start(self, state):
        """Get into state for the next workload (mounted, caches as the
        state says)."""

    def stop(self):
        pass

    def settle(self):
        """Wait until what the last pass read is kept."""

    def pids(self):
        return []


class Local(System):
    name = "local"
    states = ("cold", "warm")

    def __init__(self, base, server_repo):
        super().__init__(base)
        self.repo = server_repo


class Sshfs(System):
    name = "sshfs"
    states = ("cold", "warm")  # it keeps nothing across a remount

    def __init__(self, base, link, server_repo):
        super().__init__(base)
        self.link, self.remote = link, server_repo
        self.mnt = os.path.join(base, "mnt")
        os.makedirs(self.mnt)
        self.repo = self.mnt
        self.mounted = False

    def start(self, state):
        if state == "cold":
            self.stop()
        if not self.mounted:
            sshfs_defaults(self.link, self.remote, self.mnt, SSHFS_SYMLINKS)
            self.mounted = True

    def stop(self):
        if self.mounted:
            scfs.sshfs_unmount(self.mnt)
            self.mounted = False

    def pids(self):
        return processes_of([self.mnt])


class RcloneFull(System):
    name = "rclone"

    def __init__(self, base, link, server_repo):
        super().__init__(base)
        self.mnt = os.path.join(base, "mnt")
        self.cache_dir = os.path.join(base, "cache")
        os.makedirs(self.mnt)
        self.r = Rclone(link, server_repo, self.mnt, self.cache_dir)
        self.repo = self.mnt
        self.mounted = False

    def start(self, state):
        if state in ("cold", "remount"):
            self.stop()
        if state == "cold":
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        if not self.mounted:
            self.r.mount()
            self.mounted = True

    def stop(self):
        if self.mounted:
            self.r.unmount()
            self.mounted = False

    def pids(self):
        return processes_of([self.mnt])


class Swapcachefs(System):
    name = "swapcachefs"
    states = STATES

    def __init__(self, base, link, server_repo):
        super().__init__(base)
        self.link, self.remote = link, server_repo
        self.backing = os.path.join(base, "sshfs")
        self.mnt = os.path.join(base, "mnt")
        self.cache = os.path.join(base, "cache.swc")
        os.makedirs(self.backing)
        os.makedirs(self.mnt)
        self.repo = self.mnt
        self.m = None
        self.peak_rss = 0.0

    def start(self, state):
        if state == "expired":
            # Past what the mount trusts its cached metadata for.
            timeout = os.getxattr(self.mnt, "user.swapcache.meta_timeout")
            time.sleep(int(timeout) + 1)
        if state in ("cold", "remount"):
            self.stop()
        if state == "cold" and os.path.exists(self.cache):
            os.unlink(self.cache)
        if not self.m:
            sshfs_defaults(self.link, self.remote, self.backing, SSHFS_SYMLINKS)
            self.m = scfs.Mount(self.backing, self.mnt,
                                options=(f"cache={self.cache}",))

    def stop(self):
        if self.m:
            self.peak_rss = max(self.peak_rss, hwm_mib(self.m.proc.pid))
            self.m.unmount()
            scfs.sshfs_unmount(self.backing)
            self.m = None

    def settle(self):
        # Until the scanner has copied what was read to the SSD.
        last = None
        for _ in range(120):
            now = os.getxattr(self.mnt, "user.swapcache.stats")
            written = [x for x in now.decode().splitlines() if x.startswith("write_count")]
            if written == last:
                return
            last = written
            time.sleep(1)

    def pids(self):
        return processes_of([self.mnt, self.backing])


# ---- running ----

def packets(ifname):
    total = 0
    for d in ("rx", "tx"):
        with open(f"/sys/class/net/{ifname}/statistics/{d}_packets") as f:
            total += int(f.read())
    return total


class Results:
    def __init__(self):
        self.seconds = {}   # (link, workload, state, system) -> [s]
        self.packets = {}   # (link, workload, state, system) -> [packets]
        self.cpu = {}       # (link, system) -> CPU seconds, all its runs
        self.rss = {}       # system -> peak RSS MiB
        self.outputs = {}   # (link, workload, state, system) -> {digest}

    def add(self, key, took, pkts, out):
        self.seconds.setdefault(key, []).append(took)
        self.packets.setdefault(key, []).append(pkts)
        self.outputs.setdefault(key, set()).add(out)


def measure(res, key, link, system, wl):
    drop_caches()
    pids = system.pids()
    cpu, pkts = cpu_of(pids), packets(link.host_if)
    took, out = run_workload(system.repo, wl)
    res.add(key, took, packets(link.host_if) - pkts, out)
    link_name, system_name = key[0], key[3]
    res.cpu[(link_name, system_name)] = (
        res.cpu.get((link_name, system_name), 0.0) + cpu_of(pids) - cpu)
    for pid in pids:
        res.rss[system_name] = max(res.rss.get(system_name, 0.0), hwm_mib(pid))


def one_rep(res, link_name, link, system, states, workloads):
    """Each workload through the states in order (see the docstring)."""
    for wl in workloads:
        first = True
        for state in states:
            if state not in system.states:
                continue
            if first and state != "cold":
                system.start("cold")  # an unmeasured first pass
                run_workload(system.repo, wl)
            if state != "cold":
                system.settle()
            system.start(state)
            measure(res, (link_name, wl[0], state, system.name), link, system, wl)
            first = False
    system.stop()


def run_link(res, args, base, pristine, rate, delay_ms, reps, systems, workloads):
    name = f"{rate}/{delay_ms:g}ms"
    lbase = os.path.join(base, name.replace("/", "-"))
    os.makedirs(lbase)
    link = SlowLink(lbase, rate, delay_ms)
    made = []
    try:
        for s in systems:
            server = os.path.join(lbase, "server-" + s)
            subprocess.run(["cp", "-a", pristine, server], check=True)
            sbase = os.path.join(lbase, s)
            os.makedirs(sbase)
            cls = {"local": Local, "sshfs": Sshfs, "rclone": RcloneFull,
                   "swapcachefs": Swapcachefs}[s]
            made.append(cls(sbase, server) if s == "local" else cls(sbase, link, server))
        for rep in range(reps):
            order = made[rep % len(made):] + made[:rep % len(made)]
            for system in order:
                print(f"{name} rep {rep + 1}/{reps}: {system.name}", file=sys.stderr)
                one_rep(res, name, link, system, args.states, workloads)
        for s in made:
            if isinstance(s, Swapcachefs):
                res.rss["swapcachefs daemon"] = max(res.rss.get("swapcachefs daemon", 0.0),
                                                    s.peak_rss)
        return name, link.describe(), reps
    finally:
        for s in made:
            try:
                s.stop()
            except Exception as e:  # keep tearing down
                print(f"{s.name}: {e}", file=sys.stderr)
        link.stop()


# ---- the report ----

TARGETS = [
    # (workloads, states, other system, at least this many times faster)
    (("grep", "status", "log"), ("warm", "remount"), "sshfs", 20),
    (("grep", "status", "log"), ("warm", "remount"), "rclone", 3),
    (("find", "ls", "tar"), ("warm",), "sshfs", 3),
    (("find", "ls", "tar"), ("warm",), "rclone", 5),
]


def median(res, key):
    v = res.seconds.get(key)
    return spread(v, 2)[0] if v else None


def tables(res, links, systems, workloads, states):
    lines = []
    for link, describe, reps in links:
        lines += ["", f"{describe}: seconds, medians (min-max) of {reps} reps taken "
                      f"in turns; packets on the link (medians)"]
        head = f"{'workload':11} {'state':8}" + "".join(f" {s:>22}" for s in systems)
        lines.append(head)
        for key, label, _, _ in workloads:
            for state in states:
                row, pk = f"{label:11} {state:8}", f"{'  packets':11} {'':8}"
                for s in systems:
                    v = res.seconds.get((link, key, state, s))
                    row += f" {spread(v, 2)[1] if v else '-':>22}"
                    p = res.packets.get((link, key, state, s))
                    pk += f" {spread(p, 0)[0] if p else '-':>22}"
                lines += [row, pk]
        lines += ["", "targets (swapcachefs, default options):"]
        for wls, sts, other, want in TARGETS:
            for key in wls:
                for state in sts:
                    ours = median(res, (link, key, state, "swapcachefs"))
                    theirs = median(res, (link, key, "warm" if other == "sshfs" else state,
                                          other))
                    if ours is None or theirs is None:
                        continue
                    r = theirs / ours
                    lines.append(f"  {key:7} {state:8} {other:7} {r:7.1f}x  "
                                 f"target >= {want}x  {'met' if r >= want else 'MISSED'}")
        for key, _, _, _ in workloads:
            ours = median(res, (link, key, "expired", "swapcachefs"))
            for other in ("sshfs", "rclone"):
                theirs = median(res, (link, key, "warm", other))
                if ours and theirs:
                    lines.append(f"  {key:7} expired  {other:7} {theirs / ours:7.1f}x  "
                                 "(no target: past meta_timeout)")
        for state in ("warm", "remount"):
            ours = median(res, (link, "make", state, "swapcachefs"))
            local = median(res, (link, "make", "warm", "local"))
            if ours and local:
                r = ours / local
                lines.append(f"  make    {state:8} local   {r:7.2f}x  target <= 1.3x  "
                             f"{'met' if r <= 1.3 else 'MISSED'}")
        for key, _, _, _ in workloads:
            ours = median(res, (link, key, "cold", "swapcachefs"))
            theirs = median(res, (link, key, "cold", "sshfs"))
            if ours and theirs:
                r = theirs / ours
                lines.append(f"  {key:7} cold     sshfs   {r:7.2f}x  target >= 0.95x  "
                             f"{'met' if r >= 0.95 else 'MISSED'}")
        lines += ["", "CPU seconds of each system's processes over all its runs:"]
        for s in systems:
            if (link, s) in res.cpu:
                lines.append(f"  {s:12} {res.cpu[(link, s)]:8.1f}")
    lines += ["", "peak RSS (MiB): " + ", ".join(
        f"{s} {v:.0f}" for s, v in sorted(res.rss.items()))]
    return lines


def check_outputs(res):
    """Every system's output of a workload equals the local disk's."""
    wrong = []
    for (link, key, state, system), outs in res.outputs.items():
        want = set()
        for (l2, k2, _, s2), o in res.outputs.items():
            if (l2, k2, s2) == (link, key, "local"):
                want |= o
        if len(want) != 1:
            wrong.append(f"{link} {key}: the local disk gave {sorted(want)}")
        elif outs != want:
            wrong.append(f"{link} {key} {state} {system}: {sorted(outs)} != {sorted(want)}")
    return sorted(set(wrong))


def chart(res, links, systems, workloads, states, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no python3-matplotlib: no chart", file=sys.stderr)
        return
    fig, axes = plt.subplots(len(links), 1, figsize=(16, 5 * len(links)), squeeze=False)
    for ax, (link, describe, _) in zip(axes[:, 0], links):
        groups = [(k, label, st) for k, label, _, _ in workloads for st in states]
        width = 0.8 / len(systems)
        for i, s in enumerate(systems):
            xs, ys = [], []
            for g, (k, _, st) in enumerate(groups):
                m = median(res, (link, k, st, s))
                if m is not None:
                    xs.append(g + i * width)
                    ys.append(max(m, 0.005))
            ax.bar(xs, ys, width, label=s)
        ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
        ax.set_xticklabels([f"{label}\n{st}" for _, label, st in groups], fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel("seconds (log), lower is better")
        ax.set_title(describe)
        ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"chart: {path}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--slow-reps", type=int, default=1,
                    help="repetitions behind links of 10 ms or more")
    ap.add_argument("--links", default="100mbit:1,20mbit:10")
    ap.add_argument("--systems", default="local,sshfs,rclone,swapcachefs")
    ap.add_argument("--workloads", default=",".join(w[0] for w in WORKLOADS))
    ap.add_argument("--states", default=",".join(STATES))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-workloads.txt"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/workloads.py: needs root")
    if not os.path.exists(TARBALL):
        sys.exit(f"bench/workloads.py: needs {TARBALL} (apt-get install linux-source-6.1)")
    missing = [p for p in ("git", "make", "gcc", "flex", "bison", "sshfs", "rclone")
               if not shutil.which(p)]
    if missing and not (missing == ["rclone"] and "rclone" not in args.systems):
        sys.exit("bench/workloads.py: needs " + ", ".join(missing))
    systems = args.systems.split(",")
    if "local" not in systems:
        systems.insert(0, "local")  # every output is checked against it
    workloads = [w for w in WORKLOADS if w[0] in args.workloads.split(",")]
    args.states = [s for s in STATES if s in args.states.split(",")]
    base = tempfile.mkdtemp(prefix="scfs-work-", dir="/var/tmp")
    res, links = Results(), []
    try:
        pristine = os.path.join(base, "pristine")
        n = make_repo(pristine)
        print(f"the tree: {n} files", file=sys.stderr)
        for spec in args.links.split(","):
            rate, delay = spec.split(":")
            reps = args.slow_reps if float(delay) >= 10 else args.reps
            links.append(run_link(res, args, base, pristine, rate, float(delay), reps,
                                  systems, workloads))
    finally:
        subprocess.run(["rm", "-rf", base])
    lines = [f"bench/workloads.py: a {n}-file git repository from linux-source-6.1"]
    lines += tables(res, links, systems, workloads, args.states)
    wrong = check_outputs(res)
    lines += ["", "outputs: " + ("every system's equals the local disk's" if not wrong
                                 else "DIFFER:")] + [f"  {w}" for w in wrong]
    publish(lines, args.out)
    chart(res, links, systems, workloads, args.states,
          os.path.splitext(args.out)[0] + ".png")
    # Another system's difference is its own (rclone shows modes of its
    # own, say); swapcachefs's or the local disk's fails the run.
    sys.exit(1 if any(" swapcachefs:" in w or "local disk" in w for w in wrong) else 0)


if __name__ == "__main__":
    main()
