# SPDX-License-Identifier: GPL-2.0-or-later
"""A tree of 100,000 files is walked and read without EMFILE, and the
daemon holds file descriptors only for what is open."""
import os
import subprocess

import scfs

FILES = int(os.environ.get("SCFS_SCALE_FILES", "100000"))
PER_DIR = 1000


def daemon_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_hundred_thousand_files(dirs):
    base, backing, mnt, _ = dirs
    for d in range(FILES // PER_DIR):
        dp = os.path.join(backing, f"d{d:03d}")
        os.mkdir(dp)
        for i in range(PER_DIR):
            with open(os.path.join(dp, f"f{i:04d}"), "w") as f:
                f.write(f"{d}/{i}\n")
    m = scfs.Mount(backing, mnt)
    try:
        idle = daemon_fds(m.pid())
        # find: readdir of every directory and a lookup of every entry.
        out = subprocess.run(["find", mnt, "-type", "f"], capture_output=True,
                             text=True, check=True).stdout.split()
        assert len(out) == FILES
        # stat and read every file; the kernel now knows 100,000 inodes.
        peak = idle
        for n, path in enumerate(out):
            rel = os.path.relpath(path, mnt)
            d, i = rel.split("/")
            with open(path) as f:
                assert f.read() == f"{int(d[1:])}/{int(i[1:])}\n"
            if n % 10000 == 0:
                peak = max(peak, daemon_fds(m.pid()))
        assert peak < idle + 64, f"daemon fds grew from {idle} to {peak}"
        # Many files open at once hold one fd each, and give them back.
        held = [open(p) for p in out[:5000]]
        assert daemon_fds(m.pid()) >= idle + 5000
        for f in held:
            f.close()
        scfs.wait_for(lambda: daemon_fds(m.pid()) < idle + 64, what="fds released")
    finally:
        m.unmount()
